package ingest

import "testing"

func TestOpusPacketSamples(t *testing.T) {
	for _, tc := range opusCases {
		got, err := OpusPacketSamples(tc.packet)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %d, %v; want %d (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// opusCases cover every frame duration family and packet code (RFC 6716
// 3.1-3.2). They also seed FuzzOpusPacketSamples.
var opusCases = []struct {
	name    string
	packet  []byte
	want    int
	wantErr bool
}{
	{"empty", nil, 0, true},
	{"SILK NB 10ms", []byte{0 << 3}, 480, false},
	{"SILK WB 60ms", []byte{11 << 3}, 2880, false},
	{"hybrid FB 20ms", []byte{15 << 3}, 960, false},
	{"CELT NB 2.5ms", []byte{16 << 3}, 120, false},
	{"CELT FB 20ms", []byte{31 << 3}, 960, false},
	{"two frames, equal", []byte{31<<3 | 1}, 1920, false},
	{"two frames, different", []byte{19<<3 | 2}, 1920, false},
	{"code 3, 6 x 20ms", []byte{31<<3 | 3, 6}, 5760, false},
	{"code 3, 7 x 20ms too long", []byte{31<<3 | 3, 7}, 0, true},
	{"code 3, 48 x 2.5ms", []byte{16<<3 | 3, 0x80 | 48}, 5760, false},
	{"code 3 without count", []byte{31<<3 | 3}, 0, true},
	{"code 3 with 0 frames", []byte{31<<3 | 3, 0}, 0, true},
	{"code 3, 3 x 60ms too long", []byte{3<<3 | 3, 3}, 0, true},
	{"code 3, 2 x 60ms", []byte{3<<3 | 3, 2}, 5760, false},
}

// FuzzOpusPacketSamples: the TOC parser reads network input; it must never
// panic, and a duration it accepts lies within RFC 6716's 2.5 to 120 ms.
func FuzzOpusPacketSamples(f *testing.F) {
	for _, tc := range opusCases {
		f.Add(tc.packet)
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		d, err := OpusPacketSamples(packet)
		if err == nil && (d < 120 || d > opusMaxPacketSamples) {
			t.Fatalf("%x: %d samples", packet, d)
		}
	})
}
