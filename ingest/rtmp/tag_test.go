package rtmp

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// cat joins byte strings written as hex ("0a 0b") or raw text ("hvc1", in
// quotes in the call: `"'hvc1"`), to keep the tables readable.
func cat(parts ...string) []byte {
	var b []byte
	for _, p := range parts {
		if t, ok := strings.CutPrefix(p, "'"); ok {
			b = append(b, t...)
			continue
		}
		h, err := hex.DecodeString(strings.ReplaceAll(p, " ", ""))
		if err != nil {
			panic(err)
		}
		b = append(b, h...)
	}
	return b
}

type tagWant struct {
	packet packetKind
	codec  ingest.Codec
	key    bool
	cts    int32
	data   string // hex
}

var videoTagCases = []struct {
	name    string
	in      []byte
	want    tagWant
	wantErr error
}{
	{"avc sequence header", cat("17 00 000000", "01 64001f ff"), tagWant{packetConfig, ingest.H264, true, 0, "0164001fff"}, nil},
	{"avc key frame", cat("17 01 000042", "00000002 6588"), tagWant{packetFrame, ingest.H264, true, 0x42, "000000026588"}, nil},
	{"avc inter frame negative cts", cat("27 01 fffff6", "00000002 4188"), tagWant{packetFrame, ingest.H264, false, -10, "000000024188"}, nil},
	{"avc end of sequence", cat("17 02 000000"), tagWant{packet: packetIgnore, codec: ingest.H264, key: true}, nil},
	{"avc command frame", cat("57 00"), tagWant{packet: packetIgnore}, nil},
	{"legacy hevc codec id 12", cat("1c 00 000000 01"), tagWant{packetConfig, ingest.H265, true, 0, "01"}, nil},
	{"avc truncated header", cat("17 01 00"), tagWant{}, errBadTag},
	{"avc unknown packet type", cat("17 03 000000"), tagWant{}, errBadTag},
	{"empty", nil, tagWant{}, errBadTag},
	{"vp6 unsupported", cat("14 00"), tagWant{}, ingest.ErrUnsupportedCodec},
	{"reserved codec id", cat("10"), tagWant{}, ingest.ErrUnsupportedCodec},
	{"ex hvc1 sequence start", cat("90", "'hvc1", "01 0203"), tagWant{packetConfig, ingest.H265, true, 0, "010203"}, nil},
	{"ex hvc1 coded frames", cat("91", "'hvc1", "000021", "00000003 2601af"), tagWant{packetFrame, ingest.H265, true, 0x21, "000000032601af"}, nil},
	{"ex hvc1 coded frames x", cat("a3", "'hvc1", "00000003 0201af"), tagWant{packetFrame, ingest.H265, false, 0, "000000030201af"}, nil},
	{"ex avc1 coded frames", cat("a1", "'avc1", "ffffff", "00000001 41"), tagWant{packetFrame, ingest.H264, false, -1, "0000000141"}, nil},
	{"ex av01 sequence start", cat("90", "'av01", "81000c00"), tagWant{packetConfig, ingest.AV1, true, 0, "81000c00"}, nil},
	{"ex av01 coded frames have no cts", cat("91", "'av01", "1200 3202aabb"), tagWant{packetFrame, ingest.AV1, true, 0, "12003202aabb"}, nil},
	{"ex sequence end", cat("92", "'hvc1"), tagWant{packet: packetIgnore, codec: ingest.H265, key: true}, nil},
	{"ex metadata", cat("94", "'hvc1", "02000a", "'colorInfo"), tagWant{packet: packetIgnore, codec: ingest.H265, key: true}, nil},
	{"ex mpeg2ts sequence start", cat("95", "'av01", "00"), tagWant{packet: packetIgnore, codec: ingest.AV1, key: true}, nil},
	{"ex command frame", cat("d1 00"), tagWant{packet: packetIgnore}, nil},
	{"ex modex skipped", cat("97 02 0a0b0c 01", "'hvc1", "000001", "00000001 26"), tagWant{packetFrame, ingest.H265, true, 1, "0000000126"}, nil},
	{"ex modex 16-bit size", cat("a7 ff 0003 00000000 03", "'av01", "3000"), tagWant{packetFrame, ingest.AV1, false, 0, "3000"}, nil},
	{"ex modex truncated", cat("97 05 0a0b"), tagWant{}, errBadTag},
	{"ex command frame with truncated modex", cat("d7"), tagWant{}, errBadTag}, // found by FuzzParseTag
	{"ex multitrack one track", cat("96 01", "'hvc1", "00", "000002", "00000001 26"), tagWant{packetFrame, ingest.H265, true, 2, "0000000126"}, nil},
	{"ex multitrack many tracks picks track 0", cat("a6 13", "'av01", "01 000002 aaaa", "00 000003 300102"), tagWant{packetFrame, ingest.AV1, false, 0, "300102"}, nil},
	{"ex multitrack many codecs", cat("96 20", "'av01", "01 000001 81", "'hvc1", "00 000002 0102"), tagWant{packetConfig, ingest.H265, true, 0, "0102"}, nil},
	{"ex multitrack without track 0", cat("96 13", "'av01", "01 000001 30"), tagWant{packet: packetIgnore}, nil},
	{"ex multitrack size lies", cat("96 13", "'av01", "00 0000ff 30"), tagWant{}, errBadTag},
	{"ex multitrack nested", cat("96 06", "'av01"), tagWant{}, errBadTag},
	{"ex multitrack unknown type", cat("96 31", "'av01"), tagWant{}, errBadTag},
	{"ex vp09 unsupported", cat("90", "'vp09", "01"), tagWant{}, ingest.ErrUnsupportedCodec},
	{"ex truncated fourcc", cat("90", "'hv"), tagWant{}, errBadTag},
	{"ex hvc1 truncated cts", cat("91", "'hvc1", "00"), tagWant{}, errBadTag},
	{"ex unknown packet type", cat("98", "'hvc1"), tagWant{}, errBadTag},
}

var audioTagCases = []struct {
	name    string
	in      []byte
	want    tagWant
	wantErr error
}{
	{"aac sequence header", cat("af 00 1210"), tagWant{packetConfig, ingest.AAC, false, 0, "1210"}, nil},
	{"aac raw frame", cat("af 01 21 1b"), tagWant{packetFrame, ingest.AAC, false, 0, "211b"}, nil},
	{"aac mono 22k flags ignored", cat("a6 01 21"), tagWant{packetFrame, ingest.AAC, false, 0, "21"}, nil},
	{"aac unknown packet type", cat("af 02"), tagWant{}, errBadTag},
	{"aac truncated", cat("af"), tagWant{}, errBadTag},
	{"empty", nil, tagWant{}, errBadTag},
	{"mp3 unsupported", cat("2f ff fb"), tagWant{}, ingest.ErrUnsupportedCodec},
	{"speex unsupported", cat("b2 00"), tagWant{}, ingest.ErrUnsupportedCodec},
	{"ex opus sequence start", cat("90", "'Opus", "'OpusHead", "01 02"), tagWant{packetConfig, ingest.Opus, false, 0, "4f707573486561640102"}, nil},
	{"ex opus coded frames", cat("91", "'Opus", "fc ff"), tagWant{packetFrame, ingest.Opus, false, 0, "fcff"}, nil},
	{"ex mp4a sequence start", cat("90", "'mp4a", "1190"), tagWant{packetConfig, ingest.AAC, false, 0, "1190"}, nil},
	{"ex sequence end", cat("92", "'Opus"), tagWant{packet: packetIgnore, codec: ingest.Opus}, nil},
	{"ex multichannel config", cat("94", "'Opus", "01 02"), tagWant{packet: packetIgnore, codec: ingest.Opus}, nil},
	{"ex multitrack one track", cat("95 01", "'Opus", "00", "fcff"), tagWant{packetFrame, ingest.Opus, false, 0, "fcff"}, nil},
	{"ex modex", cat("97 00 00 01", "'mp4a", "21"), tagWant{packetFrame, ingest.AAC, false, 0, "21"}, nil},
	{"ex flac unsupported", cat("91", "'fLaC", "00"), tagWant{}, ingest.ErrUnsupportedCodec},
	{"ex truncated", cat("91", "'Op"), tagWant{}, errBadTag},
	{"ex unknown packet type", cat("93", "'Opus"), tagWant{}, errBadTag},
}

func checkTag(t *testing.T, got tagWant, gotErr error, want tagWant, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(gotErr, wantErr) {
			t.Fatalf("error %v, want %v", gotErr, wantErr)
		}
		return
	}
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseVideoTag(t *testing.T) {
	for _, tc := range videoTagCases {
		t.Run(tc.name, func(t *testing.T) {
			tag, err := parseVideoTag(tc.in)
			checkTag(t, tagWant{tag.packet, tag.codec, tag.key, tag.cts, hex.EncodeToString(tag.data)}, err, tc.want, tc.wantErr)
		})
	}
}

func TestParseAudioTag(t *testing.T) {
	for _, tc := range audioTagCases {
		t.Run(tc.name, func(t *testing.T) {
			tag, err := parseAudioTag(tc.in)
			checkTag(t, tagWant{tag.packet, tag.codec, false, 0, hex.EncodeToString(tag.data)}, err, tc.want, tc.wantErr)
		})
	}
}

// FuzzParseTag: no input may panic; errors are either malformed or
// unsupported; and what is returned lies inside the input.
func FuzzParseTag(f *testing.F) {
	for _, tc := range videoTagCases {
		f.Add(true, tc.in)
	}
	for _, tc := range audioTagCases {
		f.Add(false, tc.in)
	}
	f.Fuzz(func(t *testing.T, video bool, b []byte) {
		var (
			data   []byte
			packet packetKind
			err    error
		)
		if video {
			var tag videoTag
			tag, err = parseVideoTag(b)
			data, packet = tag.data, tag.packet
		} else {
			var tag audioTag
			tag, err = parseAudioTag(b)
			data, packet = tag.data, tag.packet
		}
		if err != nil {
			if !errors.Is(err, errBadTag) && !errors.Is(err, ingest.ErrUnsupportedCodec) {
				t.Fatalf("error %v is neither malformed nor unsupported", err)
			}
			return
		}
		if packet > packetFrame {
			t.Fatalf("packet kind %d", packet)
		}
		if len(data) > 0 && !within(b, data) {
			t.Fatalf("data is not a slice of the input")
		}
	})
}

// within reports whether inner is a sub-slice of outer's memory.
func within(outer, inner []byte) bool {
	if len(inner) == 0 {
		return true
	}
	for i := range outer {
		if &outer[i] == &inner[0] {
			return i+len(inner) <= len(outer)
		}
	}
	return false
}

func BenchmarkParseVideoTag(b *testing.B) {
	frame := make([]byte, 30000)
	for _, bc := range []struct {
		name string
		tag  []byte
	}{
		{"legacy_avc", cat("27 01 000042", "000074fb")},
		{"enhanced_hvc1", cat("91", "'hvc1", "000021", "000074fb")},
		{"enhanced_multitrack_av01", cat("a6 13", "'av01", "01 000002 aaaa", "00 0074fb")},
	} {
		tag := append(bc.tag, frame...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tag)))
			for b.Loop() {
				if _, err := parseVideoTag(tag); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
