package srt

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// slowPublisher holds the publish of one stream (a slow publish webhook)
// until released, and passes the others on.
type slowPublisher struct {
	*fakePublisher
	slow    string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *slowPublisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	if info.Name == p.slow {
		p.once.Do(func() { close(p.entered) })
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	return p.fakePublisher.Publish(ctx, info)
}

// A publish that takes long (a slow publish webhook) does not hold up other
// callers: each handshake claims its stream on its own goroutine.
func TestSlowPublishDoesNotBlockOthers(t *testing.T) {
	fp := newFakePublisher()
	sp := &slowPublisher{fakePublisher: fp, slow: "slow", entered: make(chan struct{}), release: make(chan struct{})}
	ts := startServer(t, Options{Publisher: sp})
	ts.pub = fp

	slowDone := make(chan error, 1)
	go func() {
		c, err := dial(ts.addr, "publish:live/slow", "", 0)
		if err == nil {
			// libsrt completes the caller's handshake before the stream
			// is claimed; stay connected until the claim is released, or
			// the listener sees a broken connection and never claims it.
			<-sp.release
			c.Close()
		}
		slowDone <- err
	}()
	select {
	case <-sp.entered:
	case <-time.After(waitTimeout):
		t.Fatal("the slow publish never started")
	}
	// While "slow" is still being claimed, another stream publishes.
	publishCapture(t, ts, "publish:live/fast", "", "h264_aac.ts")
	close(sp.release)
	// The slow caller may have given up its handshake meanwhile (callers
	// wait about 3 s); either way it ends, and nothing is left behind.
	if err := <-slowDone; err != nil {
		t.Logf("the slow caller: %v", err)
	}
}
