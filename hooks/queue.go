package hooks

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// set is one configuration's hooks: what Swap installs. Each hook with an
// unpublish or stream_end subscription has its own bounded queue and
// worker, so a slow or dead receiver delays no other hook, and enqueueing
// never blocks.
type set struct {
	d       *Dispatcher
	hooks   []*Hook
	workers []*worker

	ctx   context.Context // ends attempts and waits: the close deadline passed
	abort context.CancelFunc
	lost  atomic.Int64 // deliveries dropped at the close deadline
	done  chan struct{}
}

// worker owns one hook's queue.
type worker struct {
	s *set
	h *Hook

	mu      sync.Mutex
	pending []delivery // oldest first, at most h.queueSize
	closed  bool

	wake   chan struct{} // capacity 1: "pending changed or closed"
	exited chan struct{}
}

func (d *Dispatcher) newSet(hooks []*Hook) *set {
	s := &set{d: d, hooks: hooks, done: make(chan struct{})}
	s.ctx, s.abort = context.WithCancel(context.Background())
	for _, h := range hooks {
		d.metrics.zero(h)
		if h.events[EventUnpublish] || h.events[EventStreamEnd] {
			s.workers = append(s.workers, &worker{s: s, h: h, wake: make(chan struct{}, 1), exited: make(chan struct{})})
		}
	}
	for _, w := range s.workers {
		go w.run()
	}
	return s
}

// enqueue hands ev to every hook subscribed to it and returns at once.
func (s *set) enqueue(ev Event, traceparent string) {
	var body []byte
	now := time.Now()
	for _, w := range s.workers {
		if !w.h.events[ev.Event] {
			continue
		}
		if body == nil {
			var err error
			if body, err = marshal(ev); err != nil {
				s.d.log.Error("webhook event not sent", "event", ev.Event, "stream", ev.Stream, "error", err.Error())
				return
			}
		}
		w.push(delivery{id: newID(), event: ev, body: body, traceparent: traceparent, enqueued: now})
	}
}

// close stops taking deliveries and lets each worker finish its queue until
// ctx ends; then attempts in progress are cancelled and what is left is
// dropped. It returns how many deliveries were dropped that way.
func (s *set) close(ctx context.Context) int64 {
	for _, w := range s.workers {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.signal()
	}
	for _, w := range s.workers {
		select {
		case <-w.exited:
		case <-ctx.Done():
			s.abort()
			<-w.exited
		}
	}
	s.abort()
	for _, h := range s.hooks {
		h.client.CloseIdleConnections()
	}
	close(s.done)
	return s.lost.Load()
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// push appends dl, dropping the oldest delivery when the queue is full: a
// receiver that far behind is down, and the newest events describe the
// newest state.
func (w *worker) push(dl delivery) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.drop(dl, "hook closed")
		return
	}
	var old *delivery
	if len(w.pending) >= w.h.queueSize {
		o := w.pending[0]
		old = &o
		w.pending[0] = delivery{}
		w.pending = w.pending[1:]
	}
	w.pending = append(w.pending, dl)
	w.s.d.metrics.length.WithLabelValues(w.h.name).Set(float64(len(w.pending)))
	w.mu.Unlock()
	if old != nil {
		w.drop(*old, "queue full")
	}
	w.signal()
}

// next takes the oldest delivery; false when the worker should stop.
func (w *worker) next() (delivery, bool) {
	for {
		w.mu.Lock()
		if w.s.ctx.Err() == nil && len(w.pending) > 0 {
			dl := w.pending[0]
			w.pending[0] = delivery{}
			w.pending = w.pending[1:]
			w.s.d.metrics.length.WithLabelValues(w.h.name).Set(float64(len(w.pending)))
			w.mu.Unlock()
			return dl, true
		}
		closed := w.closed
		w.mu.Unlock()
		if closed || w.s.ctx.Err() != nil {
			return delivery{}, false
		}
		select {
		case <-w.wake:
		case <-w.s.ctx.Done():
		}
	}
}

func (w *worker) run() {
	defer close(w.exited)
	for {
		dl, ok := w.next()
		if !ok {
			break
		}
		w.process(dl)
	}
	// Aborted: what is still queued will not be sent.
	w.mu.Lock()
	rest := w.pending
	w.pending = nil
	w.closed = true
	w.s.d.metrics.length.WithLabelValues(w.h.name).Set(0)
	w.mu.Unlock()
	for _, dl := range rest {
		w.s.lost.Add(1)
		w.drop(dl, "close deadline")
	}
}

// process makes up to MaxAttempts attempts, waiting with exponential
// backoff and jitter between them.
func (w *worker) process(dl delivery) {
	d, h, ctx := w.s.d, w.h, w.s.ctx
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     d.opts.MinBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         d.opts.MaxBackoff,
	}
	bo.Reset()
	var (
		err      error
		code     int
		attempts int
	)
	for {
		attempts++
		code, err = d.attempt(ctx, h, &dl)
		if err == nil && (code < 200 || code > 299) {
			err = &statusError{url: h.shownURL, code: code}
		}
		var se *statusError
		if err == nil || ctx.Err() != nil || (errors.As(err, &se) && se.permanent()) || attempts >= h.maxAttempts {
			break
		}
		wait := min(bo.NextBackOff(), d.opts.MaxBackoff)
		d.metrics.retries.WithLabelValues(h.name).Inc()
		d.log.Debug("webhook attempt failed, retrying", "hook", h.name, "event", dl.event.Event, "stream", dl.event.Stream,
			"delivery", dl.id, "attempt", attempts, "wait", wait, "error", err.Error())
		select {
		case <-d.opts.After(wait):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case err == nil:
		w.finish(dl, resultOK, code, attempts, nil)
	case ctx.Err() != nil:
		w.s.lost.Add(1)
		w.drop(dl, "close deadline")
	default:
		w.finish(dl, resultFailed, code, attempts, err)
	}
}

// finish counts and logs a delivery that ended: one line per delivery.
func (w *worker) finish(dl delivery, result string, code, attempts int, err error) {
	d := w.s.d
	d.metrics.requests.WithLabelValues(w.h.name, dl.event.Event, result).Inc()
	attrs := append(deliveryAttrs(w.h, dl), slog.String("outcome", result))
	attrs = append(attrs, slog.Int("attempts", attempts), slog.Duration("duration", time.Since(dl.enqueued)))
	if code != 0 {
		attrs = append(attrs, slog.Int("status", code))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		d.log.LogAttrs(context.Background(), slog.LevelWarn, "webhook failed", attrs...)
		return
	}
	d.log.LogAttrs(context.Background(), slog.LevelDebug, "webhook delivered", attrs...)
}

// drop counts and logs a delivery that will not be sent.
func (w *worker) drop(dl delivery, why string) {
	d := w.s.d
	d.metrics.dropped.WithLabelValues(w.h.name).Inc()
	attrs := append(deliveryAttrs(w.h, dl), slog.String("outcome", resultDropped), slog.String("error", why))
	d.log.LogAttrs(context.Background(), slog.LevelWarn, "webhook dropped", attrs...)
}

// deliveryAttrs describe a delivery in a log line: never the body's query,
// the URL or the secret.
func deliveryAttrs(h *Hook, dl delivery) []slog.Attr {
	a := []slog.Attr{
		slog.String("hook", h.name),
		slog.String("event", dl.event.Event),
		slog.String("stream", dl.event.Stream),
		slog.String("delivery", dl.id),
	}
	if dl.event.SessionID != "" {
		a = append(a, slog.String("session", dl.event.SessionID))
	}
	if validTraceParent(dl.traceparent) {
		a = append(a, slog.String("traceparent", dl.traceparent))
	}
	return a
}
