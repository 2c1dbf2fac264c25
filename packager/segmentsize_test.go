package packager

import (
	"errors"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// A segment that grows beyond MaxSegmentBytes ends the session with
// ErrSegmentTooLarge; what it holds so far is kept, and a publisher within
// the limit is unaffected.
func TestMaxSegmentBytes(t *testing.T) {
	for _, partsOff := range []bool{false, true} {
		name := "parts"
		if partsOff {
			name = "no parts"
		}
		t.Run(name, func(t *testing.T) {
			// 5000-byte frames at 30 fps, a key frame every 2 s: a 2 s
			// segment holds 300 kB.
			e := newEnv(t, Options{MaxSegmentBytes: 200_000, PartsOff: partsOff})
			// The small stream runs for 20 s: 600 kB in all, far beyond
			// the limit, but 60 kB per segment (the limit is a segment's,
			// not the stream's: a regression once counted every byte
			// moved into a part for ever).
			small := e.publish("small", videoTrack(t, 90000))
			aus := synthVideo(0, 600, 30, 60, 0)
			for i := range aus {
				aus[i].Data = aus[i].Data[:1000] // 60 kB segments
			}
			write(t, small, aus)

			big := e.publish("big", videoTrack(t, 90000))
			var err error
			n := 0
			for _, au := range synthVideo(0, 120, 30, 60, 0) {
				if err = big.WriteAU(au); err != nil {
					break
				}
				n++
			}
			if !errors.Is(err, ErrSegmentTooLarge) {
				t.Fatalf("WriteAU after %d frames: %v, want ErrSegmentTooLarge", n, err)
			}
			// 40 frames of 5000 bytes are the first beyond 200 kB.
			if n != 40 {
				t.Errorf("refused at frame %d, want 40 (the first beyond 200 kB)", n)
			}
			big.Close(err)
			// The stream waits for its publisher (reconnect grace) and
			// keeps what it had; the other stream goes on.
			if tl := e.timeline("big"); tl == nil {
				t.Fatal("no timeline")
			}
			if err := small.WriteAU(ingest.AccessUnit{DTS: 600 * 3000, PTS: 600*3000 + 6000, Key: true, Data: make([]byte, 1000)}); err != nil {
				t.Errorf("the stream within the limit: %v", err)
			}
			small.Close(nil)
		})
	}
}
