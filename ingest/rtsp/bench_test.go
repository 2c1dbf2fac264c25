package rtsp

import (
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// nullSession accepts everything, for benchmarks.
type nullSession struct{}

func (nullSession) Start([]ingest.Track) error      { return nil }
func (nullSession) WriteAU(ingest.AccessUnit) error { return nil }
func (nullSession) Close(error)                     {}

// BenchmarkRTPToAccessUnits measures the RTP-to-access-unit path on real
// captures: depacketizing, timestamps, DTS derivation, sample framing.
// Reported per capture replay; MB/s is RTP bytes in.
func BenchmarkRTPToAccessUnits(b *testing.B) {
	for _, file := range []string{"h264_aac.rtpcap", "h265_aac.rtpcap", "h264_opus.rtpcap"} {
		b.Run(file, func(b *testing.B) {
			c := readCapture(b, file)
			size := 0
			for _, p := range c.packets {
				size += len(p.data)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				r, err := newReplayer(c, nullSession{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				r.feedAll(c)
			}
		})
	}
}
