package hooks

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A failed delivery is retried with growing waits; every attempt has the
// same delivery id and its own valid signature.
func TestRetriesThenDelivered(t *testing.T) {
	var n atomic.Int32
	rc := newReceiver(t, func(*http.Request, Event) int {
		if n.Add(1) <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	f := newFixture(t, []Config{hookConfig("audit", rc, EventStreamEnd)}, Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	f.d.StreamEnded("demo")
	var ids []string
	for i := 0; i < 4; i++ {
		h := recv(t, rc.hits, "an attempt")
		verifyAsDocumented(t, h, testSecret)
		ids = append(ids, h.Header.Get(HeaderDelivery))
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := f.d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("delivery ids %v: want one id across attempts", ids)
		}
	}
	waits := f.wait.recorded()
	if len(waits) != 3 || waits[0] < 50*time.Millisecond || waits[0] > 150*time.Millisecond || waits[2] < waits[0] {
		t.Errorf("waits %v: want 3, from 100ms ±50%%, growing", waits)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_requests_total", map[string]string{"hook": "audit", "event": "stream_end", "result": "ok"}); v != 1 {
		t.Errorf("ok = %v", v)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_retries_total", map[string]string{"hook": "audit"}); v != 3 {
		t.Errorf("retries = %v", v)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_duration_seconds", map[string]string{"hook": "audit", "event": "stream_end"}); v != 4 {
		t.Errorf("duration count = %v, want one per attempt", v)
	}
}

// A 4xx (other than 408 and 429) is not retried; the attempts stop at
// max-attempts; a timeout is retried.
func TestGivingUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   func(*http.Request, Event) int
		attempts int
	}{
		{"400 is permanent", status(http.StatusBadRequest), 1},
		{"429 is retried", status(http.StatusTooManyRequests), 3},
		{"500 until max-attempts", status(http.StatusInternalServerError), 3},
		{"timeouts until max-attempts", hang, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.answer)
			c := hookConfig("audit", rc, EventUnpublish)
			c.MaxAttempts, c.Timeout = 3, 50*time.Millisecond
			f := newFixture(t, []Config{c}, Options{})
			f.d.enqueue(Event{Event: EventUnpublish, Stream: "demo", Time: time.Now()}, "")
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			if err := f.d.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(rc.requests()); n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
			if v := metricValue(t, f.reg, "liveorigin_webhook_requests_total", map[string]string{"hook": "audit", "event": "unpublish", "result": "failed"}); v != 1 {
				t.Errorf("failed = %v", v)
			}
			if !strings.Contains(f.logs.String(), `"msg":"webhook failed"`) {
				t.Errorf("no log line for the failure:\n%s", f.logs)
			}
		})
	}
}

// When a hook's queue is full the oldest delivery goes, counted; a dead
// hook delays no other; at the close deadline what is left is dropped.
func TestDropOldestAndDeadHook(t *testing.T) {
	dead := newReceiver(t, hang)
	good := newReceiver(t, status(http.StatusNoContent))
	dc := hookConfig("dead", dead, EventUnpublish)
	dc.QueueSize, dc.Timeout = 2, time.Minute
	f := newFixture(t, []Config{dc, hookConfig("good", good, EventUnpublish)}, Options{})
	f.d.enqueue(Event{Event: EventUnpublish, Stream: "s1"}, "")
	recv(t, dead.arrived, "the first delivery to the dead hook")
	for _, s := range []string{"s2", "s3", "s4", "s5"} {
		f.d.enqueue(Event{Event: EventUnpublish, Stream: s}, "")
	}
	for _, want := range []string{"s1", "s2", "s3", "s4", "s5"} {
		if h := recv(t, good.hits, "the good hook"); h.Event.Stream != want {
			t.Fatalf("good hook got %q, want %q", h.Event.Stream, want)
		}
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_dropped_total", map[string]string{"hook": "dead"}); v != 2 {
		t.Errorf("dead dropped = %v, want 2 (s2 and s3)", v)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_queue_length", map[string]string{"hook": "dead"}); v != 2 {
		t.Errorf("dead queue length = %v, want 2", v)
	}
	// The good hook finishes its last delivery within the deadline, the
	// dead one never does.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := f.d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 webhook deliveries") {
		t.Fatalf("Close = %v, want 3 dropped (one in flight, two queued)", err)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_dropped_total", map[string]string{"hook": "dead"}); v != 5 {
		t.Errorf("dead dropped = %v, want 5", v)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_dropped_total", map[string]string{"hook": "good"}); v != 0 {
		t.Errorf("good dropped = %v", v)
	}
	// After Close, events are dropped and counted.
	f.d.enqueue(Event{Event: EventUnpublish, Stream: "late"}, "")
	if v := metricValue(t, f.reg, "liveorigin_webhook_dropped_total", map[string]string{"hook": "good"}); v != 1 {
		t.Errorf("good dropped after close = %v, want 1", v)
	}
}

// Swap sends new events to the new hooks while the old ones finish their
// queue; the series of a hook that is gone are dropped.
func TestSwap(t *testing.T) {
	release := make(chan struct{})
	old := newReceiver(t, func(r *http.Request, _ Event) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusNoContent
	})
	nu := newReceiver(t, status(http.StatusNoContent))
	oc := hookConfig("old", old, EventPublish, EventUnpublish)
	oc.Timeout = time.Minute
	f := newFixture(t, []Config{oc}, Options{})
	f.d.enqueue(Event{Event: EventUnpublish, Stream: "before"}, "")
	recv(t, old.arrived, "the old hook's delivery")

	hs, errs := Build([]Config{hookConfig("new", nu, EventPublish, EventUnpublish)}, testEnv.getenv, testEnv.readFile)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := f.d.Swap(hs); err != nil {
		t.Fatal(err)
	}
	if got := f.d.Hooks(); len(got) != 1 || got[0] != "new" {
		t.Errorf("Hooks() = %v", got)
	}
	f.d.enqueue(Event{Event: EventUnpublish, Stream: "after"}, "")
	if h := recv(t, nu.hits, "the new hook"); h.Event.Stream != "after" {
		t.Errorf("new hook got %q", h.Event.Stream)
	}
	if _, err := NewPublisher(&fakePublisher{}, f.d).Publish(context.Background(), publishInfo("demo")); err != nil {
		t.Fatal(err)
	}
	if h := recv(t, nu.hits, "the new publish hook"); h.Event.Event != "publish" {
		t.Errorf("new hook got %+v", h.Event)
	}
	close(release)
	if h := recv(t, old.hits, "the old hook finishing"); h.Event.Stream != "before" {
		t.Errorf("old hook got %q", h.Event.Stream)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := f.d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if hasSeries(t, f.reg, "liveorigin_webhook_requests_total", "old") {
		t.Error("the old hook's series are still exported")
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_requests_total", map[string]string{"hook": "new", "event": "unpublish", "result": "ok"}); v != 1 {
		t.Errorf("new ok = %v", v)
	}
}

// A replaced hook that cannot finish within RetireTimeout drops the rest.
func TestSwapRetireDeadline(t *testing.T) {
	dead := newReceiver(t, hang)
	dc := hookConfig("dead", dead, EventUnpublish)
	dc.Timeout = time.Minute
	f := newFixture(t, []Config{dc}, Options{RetireTimeout: 50 * time.Millisecond})
	f.d.enqueue(Event{Event: EventUnpublish, Stream: "s1"}, "")
	recv(t, dead.arrived, "the dead hook's delivery")
	if err := f.d.Swap(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_ = f.d.Close(ctx) // waits for the retired set
	if !strings.Contains(f.logs.String(), `"error":"close deadline"`) {
		t.Errorf("no drop logged at the retire deadline:\n%s", f.logs)
	}
}
