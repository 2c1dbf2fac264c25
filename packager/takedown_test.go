package packager

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestTakedown(t *testing.T) {
	var mu sync.Mutex
	var events []string
	e := newEnv(t, Options{OnStreamEvent: func(name string, ev StreamEvent) {
		mu.Lock()
		events = append(events, name+" "+ev.String())
		mu.Unlock()
	}})
	sess := e.publish("td", videoTrack(t, 90000), aacTrack(t, 90000))
	write(t, sess, avMedia(6, 0))
	before := e.timeline("td")
	if len(before.Tracks[0].Segments) == 0 {
		t.Fatal("no segments before the takedown")
	}

	at := e.clock.Now()
	held, err := e.r.Takedown("td", time.Hour)
	if err != nil || !held {
		t.Fatalf("Takedown: held %v, err %v", held, err)
	}
	// Waiters on the old snapshot wake, and the last snapshot says ended.
	select {
	case <-before.Changed():
	default:
		t.Error("a request waiting on the stream was not woken")
	}
	// The publisher's next frame fails: its connection is closed.
	if err := sess.WriteAU(avMedia(1, 6*90000)[0]); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("WriteAU after takedown: %v, want ErrClosed", err)
	}
	// Every URL of the stream is gone (410), and a publisher is refused.
	if _, err := e.r.Timeline("td"); !errors.Is(err, ErrGone) || !errors.Is(err, ErrTakenDown) {
		t.Errorf("Timeline after takedown: %v, want ErrTakenDown (410)", err)
	}
	if _, err := e.r.Publish(context.Background(), testInfo("td")); !errors.Is(err, ingest.ErrRefused) {
		t.Errorf("Publish after takedown: %v, want ErrRefused", err)
	}
	if got := e.metricValue("liveorigin_publish_sessions_total", "result", "refused_taken_down"); got != 1 {
		t.Errorf("refused_taken_down = %v, want 1", got)
	}
	if len(e.r.Streams()) != 0 {
		t.Errorf("taken-down stream still listed: %+v", e.r.Streams())
	}
	if d := e.r.TakenDown(); len(d) != 1 || !d["td"].Equal(at.Add(time.Hour)) {
		t.Errorf("TakenDown() = %v", d)
	}

	// When the refusal expires the name is free: unknown (404), publishable.
	e.clock.Advance(time.Hour + time.Second)
	e.r.tick()
	if _, err := e.r.Timeline("td"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Timeline after the refusal expired: %v, want ErrNotFound", err)
	}
	sess2 := e.publish("td", videoTrack(t, 90000), aacTrack(t, 90000))
	sess2.Close(nil)

	// A name that was not held is refused all the same.
	if held, err := e.r.Takedown("never", time.Minute); held || err != nil {
		t.Errorf("Takedown(never) = %v, %v", held, err)
	}
	if _, err := e.r.Publish(context.Background(), testInfo("never")); !errors.Is(err, ingest.ErrRefused) {
		t.Errorf("Publish(never) after takedown: %v, want ErrRefused", err)
	}
	if _, err := e.r.Takedown("../x", time.Minute); !errors.Is(err, ingest.ErrBadName) {
		t.Errorf("Takedown(../x): %v, want ErrBadName", err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{"td started", "td ended", "td started"}
	if len(events) != len(want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("events %v, want %v", events, want)
		}
	}
}

func TestKick(t *testing.T) {
	e := newEnv(t, Options{})
	if e.r.Kick("none") {
		t.Error("Kick of an unknown stream reported a publisher")
	}
	sess := e.publish("k", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 90, 30, 60, 0))
	if !e.r.Kick("k") {
		t.Fatal("Kick found no publisher")
	}
	if err := sess.WriteAU(synthVideo(0, 1, 30, 60, 90*3000)[0]); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("WriteAU after Kick: %v, want ErrClosed", err)
	}
	// The stream waits for a publisher to return, as after any disconnect.
	if tl := e.timeline("k"); tl.Ended {
		t.Error("kicked stream ended at once; it should wait for the reconnect grace")
	}
	sess2 := e.publish("k", videoTrack(t, 90000))
	sess2.Close(nil)
}
