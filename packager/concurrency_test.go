package packager

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestConcurrentUse runs publishers, readers, the timers and Close at once;
// run with -race. Every goroutine must end once the Registry is closed.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Options{ReconnectGrace: time.Second})
	v, a := videoTrack(t, 90000), aacTrack(t, 90000)
	media := avMedia(6, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var wg sync.WaitGroup
	rounds := make(chan struct{}, 64) // a publisher finished a round
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "s" + strconv.Itoa(p%2) // two publishers compete for each name
			for round := 0; ; round++ {
				sess, err := e.r.Publish(ctx, testInfo(name))
				if errors.Is(err, ingest.ErrClosed) {
					return
				}
				if err != nil {
					continue // the other publisher has it
				}
				if err := sess.Start([]ingest.Track{v, a}); err != nil {
					sess.Close(err)
					return
				}
				for _, au := range media {
					au.DTS += int64(round) * 6 * 90000
					au.PTS += int64(round) * 6 * 90000
					if err := sess.WriteAU(au); err != nil {
						break
					}
				}
				sess.Close(nil)
				select {
				case rounds <- struct{}{}:
				default:
				}
			}
		}()
	}
	for rd := 0; rd < 2; rd++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				default:
				}
				e.r.Streams()
				tl, err := e.r.Timeline("s" + strconv.Itoa(rd))
				if err != nil {
					continue
				}
				for _, tt := range tl.Tracks {
					for _, s := range tt.Segments {
						_ = len(s.Data)
					}
				}
				select {
				case <-tl.Changed():
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			default:
			}
			e.clock.Advance(100 * time.Millisecond)
			e.r.tick()
		}
	}()

	// Let them run for a few publish rounds, then shut down under load.
	deadline := time.After(30 * time.Second)
	for n := 0; n < 4; n++ {
		select {
		case <-rounds:
		case <-deadline:
			t.Fatal("no progress")
		}
	}
	e.r.Close()
	cancel()
	wg.Wait()
	for _, info := range e.r.Streams() {
		if !info.Ended || info.Live {
			t.Errorf("%s after Close: ended %v live %v", info.Name, info.Ended, info.Live)
		}
	}
}
