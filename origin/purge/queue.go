package purge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Queue.
type Options struct {
	// Size bounds each backend's queue; default 1024. When it is full the
	// oldest request is dropped and counted.
	Size int
	// MaxAttempts per request and backend; default 5.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from MinBackoff with ±50% jitter; default 250ms and 30s. A
	// Retry-After from the CDN lengthens the wait, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt; default 10s.
	AttemptTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the purge metrics; default none.
	Registerer prometheus.Registerer
	// After is the timer of the waits between attempts; default
	// time.After. Tests inject their own to fire it at will.
	After func(time.Duration) <-chan time.Time
}

// Queue fans each Request out to every backend. Each backend has its own
// bounded queue and worker goroutine, so a slow or dead CDN never delays
// another, and Enqueue never blocks.
type Queue struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	workers []*worker

	abort     context.CancelFunc // ends attempts and waits: Close's deadline passed
	ctx       context.Context
	closeOnce sync.Once
	lost      atomic.Int64 // requests dropped at shutdown
}

// worker owns one backend's queue.
type worker struct {
	q       *Queue
	backend Backend
	name    string

	mu      sync.Mutex
	pending []item // oldest first, at most opts.Size
	closed  bool

	wake   chan struct{} // capacity 1: "pending changed or closed"
	exited chan struct{}
}

type item struct {
	r        Request
	enqueued time.Time
}

// NewQueue validates o and starts one worker per backend. With no backends
// the queue is valid and does nothing.
func NewQueue(backends []Backend, o Options) (*Queue, error) {
	if o.Size <= 0 {
		o.Size = 1024
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MinBackoff > o.MaxBackoff {
		return nil, fmt.Errorf("purge: MinBackoff %s is above MaxBackoff %s", o.MinBackoff, o.MaxBackoff)
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.After == nil {
		o.After = time.After
	}
	seen := map[string]bool{}
	for i, b := range backends {
		if b == nil {
			return nil, fmt.Errorf("purge: backend %d is nil", i)
		}
		n := b.Name()
		if n == "" || seen[n] {
			return nil, fmt.Errorf("purge: backend %d: name %q is empty or used twice", i, n)
		}
		seen[n] = true
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	q := &Queue{opts: o, log: o.Logger, metrics: m}
	q.ctx, q.abort = context.WithCancel(context.Background())
	for _, b := range backends {
		w := &worker{q: q, backend: b, name: b.Name(), wake: make(chan struct{}, 1), exited: make(chan struct{})}
		m.zero(w.name)
		q.workers = append(q.workers, w)
	}
	for _, w := range q.workers {
		go w.run()
	}
	return q, nil
}

// Backends lists the backend names (for the admin API).
func (q *Queue) Backends() []string {
	names := make([]string, len(q.workers))
	for i, w := range q.workers {
		names[i] = w.name
	}
	return names
}

// Enqueue hands r to every backend's queue and returns at once. An invalid
// request is logged and ignored (the admin API calls Request.Validate
// first); after Close every request is dropped.
func (q *Queue) Enqueue(r Request) {
	if len(q.workers) == 0 {
		return
	}
	if err := r.Validate(); err != nil {
		q.log.Warn("purge request ignored", "stream", r.Stream, "scope", r.Scope.String(), "reason", r.Reason, "error", err.Error())
		return
	}
	r.Paths = slices.Clone(r.Paths) // the caller may reuse its slice
	r.id = newID()
	it := item{r: r, enqueued: time.Now()}
	for _, w := range q.workers {
		w.push(it)
	}
}

// Close stops taking requests and lets each backend finish what is queued
// until ctx ends; then attempts in progress are cancelled and what is left
// is counted as dropped. It returns an error when requests were dropped.
func (q *Queue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() {
		for _, w := range q.workers {
			w.mu.Lock()
			w.closed = true
			w.mu.Unlock()
			w.signal()
		}
	})
	for _, w := range q.workers {
		select {
		case <-w.exited:
		case <-ctx.Done():
			q.abort()
			<-w.exited
		}
	}
	q.abort()
	for _, w := range q.workers {
		if c, ok := w.backend.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
	if n := q.lost.Load(); n > 0 {
		return fmt.Errorf("purge: %d requests not finished before the shutdown deadline: %w", n, context.Cause(ctx))
	}
	return nil
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// push appends it, dropping the oldest request when the queue is full: the
// newest purge describes the newest state, and a CDN that is that far
// behind is down.
func (w *worker) push(it item) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.drop(it, "queue closed")
		return
	}
	var old *item
	if len(w.pending) >= w.q.opts.Size {
		o := w.pending[0]
		old = &o
		w.pending[0] = item{}
		w.pending = w.pending[1:]
	}
	w.pending = append(w.pending, it)
	w.q.metrics.length.WithLabelValues(w.name).Set(float64(len(w.pending)))
	w.mu.Unlock()
	if old != nil {
		w.drop(*old, "queue full")
	}
	w.signal()
}

// next takes the oldest request; false when the worker should stop.
func (w *worker) next() (item, bool) {
	for {
		w.mu.Lock()
		if w.q.ctx.Err() == nil && len(w.pending) > 0 {
			it := w.pending[0]
			w.pending[0] = item{}
			w.pending = w.pending[1:]
			w.q.metrics.length.WithLabelValues(w.name).Set(float64(len(w.pending)))
			w.mu.Unlock()
			return it, true
		}
		closed := w.closed
		w.mu.Unlock()
		if closed || w.q.ctx.Err() != nil {
			return item{}, false
		}
		select {
		case <-w.wake:
		case <-w.q.ctx.Done():
		}
	}
}

func (w *worker) run() {
	defer close(w.exited)
	for {
		it, ok := w.next()
		if !ok {
			break
		}
		w.process(it)
	}
	// Aborted: what is still queued will not be sent.
	w.mu.Lock()
	rest := w.pending
	w.pending = nil
	w.closed = true
	w.q.metrics.length.WithLabelValues(w.name).Set(0)
	w.mu.Unlock()
	for _, it := range rest {
		w.q.lost.Add(1)
		w.drop(it, "shutdown deadline")
	}
}

// process makes up to MaxAttempts attempts, waiting with exponential
// backoff and jitter between them.
func (w *worker) process(it item) {
	o := w.q.opts
	ctx := w.q.ctx
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     o.MinBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         o.MaxBackoff,
	}
	bo.Reset()
	var (
		err      error
		attempts int
	)
	for {
		attempts++
		actx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
		err = w.attempt(actx, it.r)
		cancel()
		if err == nil || ctx.Err() != nil || IsPermanent(err) || attempts >= o.MaxAttempts {
			break
		}
		wait := min(max(bo.NextBackOff(), retryAfter(err)), o.MaxBackoff)
		w.q.metrics.retries.WithLabelValues(w.name).Inc()
		w.q.log.Debug("purge attempt failed, retrying", "backend", w.name, "stream", it.r.Stream,
			"attempt", attempts, "wait", wait, "error", err.Error())
		select {
		case <-o.After(wait):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case err == nil:
		w.finish(it, resultOK, attempts, nil)
	case ctx.Err() != nil:
		w.q.lost.Add(1)
		w.drop(it, "shutdown deadline")
	default:
		w.finish(it, resultFailed, attempts, err)
	}
}

// attempt calls the backend, turning a panic into a permanent error: one
// broken backend must not take the daemon down.
func (w *worker) attempt(ctx context.Context, r Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("backend panicked: %v", p))
		}
	}()
	err = w.backend.Purge(ctx, r)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && w.q.ctx.Err() == nil {
		err = fmt.Errorf("attempt timed out after %s: %w", w.q.opts.AttemptTimeout, err)
	}
	return err
}

// finish counts and logs a purge that ended: one line per request and
// backend.
func (w *worker) finish(it item, result string, attempts int, err error) {
	d := time.Since(it.enqueued)
	w.q.metrics.requests.WithLabelValues(w.name, result).Inc()
	w.q.metrics.duration.WithLabelValues(w.name).Observe(d.Seconds())
	attrs := w.attrs(it, result)
	attrs = append(attrs, slog.Int("attempts", attempts), slog.Duration("duration", d))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		w.q.log.LogAttrs(context.Background(), slog.LevelWarn, "purge failed", attrs...)
		return
	}
	w.q.log.LogAttrs(context.Background(), slog.LevelInfo, "purge done", attrs...)
}

// drop counts and logs a request that will not be sent.
func (w *worker) drop(it item, why string) {
	w.q.metrics.dropped.WithLabelValues(w.name).Inc()
	attrs := append(w.attrs(it, resultDropped), slog.Duration("duration", time.Since(it.enqueued)), slog.String("error", why))
	w.q.log.LogAttrs(context.Background(), slog.LevelWarn, "purge dropped", attrs...)
}

func (w *worker) attrs(it item, outcome string) []slog.Attr {
	a := []slog.Attr{
		slog.String("backend", w.name),
		slog.String("stream", it.r.Stream),
		slog.String("scope", it.r.Scope.String()),
		slog.String("reason", it.r.Reason),
		slog.String("outcome", outcome),
	}
	if it.r.Scope == ScopePaths {
		a = append(a, slog.Int("paths", len(it.r.Paths)))
	}
	if validTraceParent(it.r.TraceParent) {
		a = append(a, slog.String("traceparent", it.r.TraceParent))
	}
	return a
}
