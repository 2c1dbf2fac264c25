package srt

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestTSSync(t *testing.T) {
	ts := readCapture(t, "h264_aac.ts")
	random := make([]byte, 512<<10)
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	// A real stream that loses one 1456-byte message in ten: the packets
	// around each loss are cut.
	var lossy []byte
	for i := 0; i+1456 <= len(ts); i += 1456 {
		if (i/1456)%10 != 5 {
			lossy = append(lossy, ts[i:i+1456]...)
		}
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		chunk int
		ok    bool
	}{
		{"ffmpeg messages", ts, 1316, true},
		{"srt-live-transmit messages", ts, 1456, true},
		{"joined mid-packet", ts[1000:], 1456, true},
		{"lost messages", lossy, 1456, true},
		{"tiny messages", ts, 7, true},
		{"random bytes", random, 1316, false},
		{"random in big messages", random, 1500, false},
		{"zeros", make([]byte, 128<<10), 1316, false},
		{"text", bytes.Repeat([]byte("hello, world\n"), 10<<10), 1316, false},
		{"TS then garbage", append(bytes.Repeat(ts, 2), random...), 1316, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s tsSync
			var err error
			for b := tc.data; len(b) > 0 && err == nil; {
				n := min(tc.chunk, len(b))
				err, b = s.feed(b[:n]), b[n:]
			}
			if (err == nil) != tc.ok {
				t.Errorf("feed: %v (good %d, bad %d); want ok %v", err, s.good, s.bad, tc.ok)
			}
		})
	}
}

func BenchmarkTSSync(b *testing.B) {
	ts := readCapture(b, "h264_aac.ts")
	b.ReportAllocs()
	b.SetBytes(int64(len(ts)))
	for b.Loop() {
		var s tsSync
		for p := ts; len(p) > 0; {
			n := min(1316, len(p))
			if err := s.feed(p[:n]); err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
}
