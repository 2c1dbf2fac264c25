package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

// Options configure a Dispatcher.
type Options struct {
	// MinBackoff and MaxBackoff bound the wait between the attempts of an
	// unpublish or stream_end delivery, which doubles from MinBackoff with
	// ±50% jitter; default 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// RetireTimeout bounds how long the hooks that Swap replaced may go on
	// delivering what they had queued; default 10s. What is left then is
	// dropped and counted.
	RetireTimeout time.Duration
	// TraceParent returns the W3C traceparent of the context a publish
	// arrives with, or ""; it is sent with the publish and with the
	// session's later events. Default: none.
	TraceParent func(context.Context) string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the webhook metrics; default none.
	Registerer prometheus.Registerer
	// Now is the clock of event times and signature timestamps; default
	// time.Now.
	Now func() time.Time
	// After is the timer of the waits between attempts; default
	// time.After. Tests inject their own to fire it at will.
	After func(time.Duration) <-chan time.Time
}

// Dispatcher sends the webhooks of one daemon. Its hooks can be replaced
// at runtime (Swap) without losing what is queued; its metrics live as
// long as it does.
type Dispatcher struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	// mu guards cur and closed. enqueue holds it for reading while it
	// pushes, so that a set that Swap retires has every delivery it will
	// get before it starts to close. It is never held during HTTP.
	mu       sync.RWMutex
	cur      *set
	closed   bool
	retiring []*set         // replaced sets still delivering, until RetireTimeout
	wg       sync.WaitGroup // the retire goroutines

	// sessions holds each stream's last accepted publish session: the
	// stream_end event describes it. An entry goes when both its session
	// has closed and its stream has ended, whichever comes last.
	smu      sync.Mutex
	sessions map[string]sessionInfo
}

type sessionInfo struct {
	info        ingest.PublishInfo // without Query
	traceparent string
	live        bool // the session has not closed yet
	ended       bool // the stream ended while the session was live (a takedown)
}

// New starts a Dispatcher with the given hooks (from Build; none is
// valid and sends nothing).
func New(hooks []*Hook, o Options) (*Dispatcher, error) {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MinBackoff > o.MaxBackoff {
		return nil, fmt.Errorf("hooks: MinBackoff %s is above MaxBackoff %s", o.MinBackoff, o.MaxBackoff)
	}
	if o.RetireTimeout <= 0 {
		o.RetireTimeout = 10 * time.Second
	}
	if o.TraceParent == nil {
		o.TraceParent = func(context.Context) string { return "" }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if err := checkHooks(hooks); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{opts: o, log: o.Logger, metrics: m, sessions: map[string]sessionInfo{}}
	d.cur = d.newSet(hooks)
	for _, h := range hooks {
		d.log.Info("webhook configured", "hook", h.String())
	}
	return d, nil
}

func checkHooks(hooks []*Hook) error {
	seen := map[string]bool{}
	for i, h := range hooks {
		if h == nil || h.client == nil {
			return fmt.Errorf("hooks: hook %d was not made by Build", i)
		}
		if seen[h.name] {
			return fmt.Errorf("hooks: hook name %q used twice", h.name)
		}
		seen[h.name] = true
	}
	return nil
}

// Hooks lists the names of the hooks in use.
func (d *Dispatcher) Hooks() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	names := make([]string, len(d.cur.hooks))
	for i, h := range d.cur.hooks {
		names[i] = h.name
	}
	return names
}

// Swap replaces the hooks (a configuration reload). Events from now on go
// to the new hooks; the old ones deliver what they had queued for at most
// RetireTimeout, in the background. After Close it does nothing.
func (d *Dispatcher) Swap(hooks []*Hook) error {
	if err := checkHooks(hooks); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	old := d.cur
	d.cur = d.newSet(hooks)
	d.retiring = append(d.retiring, old)
	d.wg.Add(1)
	d.mu.Unlock()
	for _, h := range hooks {
		d.log.Info("webhook configured", "hook", h.String())
	}
	go d.retire(old)
	return nil
}

// retire closes a replaced set within RetireTimeout, then forgets the
// metric series of hooks that are gone.
func (d *Dispatcher) retire(old *set) {
	defer d.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.RetireTimeout)
	defer cancel()
	old.close(ctx)
	d.mu.Lock()
	for i, s := range d.retiring {
		if s == old {
			d.retiring = append(d.retiring[:i], d.retiring[i+1:]...)
			break
		}
	}
	current := map[string]bool{}
	for _, h := range d.cur.hooks {
		current[h.name] = true
	}
	for _, s := range d.retiring {
		for _, h := range s.hooks {
			current[h.name] = true
		}
	}
	for _, h := range old.hooks {
		if !current[h.name] {
			d.metrics.forget(h.name)
		}
	}
	d.mu.Unlock()
}

// Close stops taking events and lets every hook deliver what is queued
// until ctx ends; then attempts in progress are cancelled and what is left
// is counted as dropped. It returns an error when deliveries were dropped.
// Publish hooks still answer after Close (the adapters may be closing).
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	cur := d.cur
	retiring := append([]*set(nil), d.retiring...)
	d.mu.Unlock()
	lost := cur.close(ctx)
	for _, s := range retiring {
		select {
		case <-s.done:
		case <-ctx.Done():
			s.abort()
			<-s.done
		}
		lost += s.lost.Load()
	}
	d.wg.Wait()
	if lost > 0 {
		return fmt.Errorf("hooks: %d webhook deliveries not finished before the deadline: %w", lost, context.Cause(ctx))
	}
	return nil
}

// enqueue hands an unpublish or stream_end event to the current hooks.
func (d *Dispatcher) enqueue(ev Event, traceparent string) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.cur.enqueue(ev, traceparent) // after Close, its workers count the drop
}

// StreamEnded sends stream_end for a stream (the packager's
// OnStreamEvent). It never blocks: the packager calls it with a lock held.
func (d *Dispatcher) StreamEnded(name string) {
	d.smu.Lock()
	si, ok := d.sessions[name]
	if ok && si.live {
		si.ended = true
		d.sessions[name] = si
	} else {
		delete(d.sessions, name)
	}
	d.smu.Unlock()
	ev := Event{Event: EventStreamEnd, Stream: name, Time: d.now()}
	if ok {
		ev.Protocol, ev.RemoteAddr, ev.SessionID = si.info.Protocol, si.info.RemoteAddr, si.info.SessionID
	}
	d.enqueue(ev, si.traceparent)
}

// sessionClosed notes that a stream's session has closed.
func (d *Dispatcher) sessionClosed(name, id string) {
	d.smu.Lock()
	defer d.smu.Unlock()
	si, ok := d.sessions[name]
	if !ok || si.info.SessionID != id {
		return // a newer session has the name
	}
	if si.ended {
		delete(d.sessions, name)
		return
	}
	si.live = false
	d.sessions[name] = si
}

func (d *Dispatcher) now() time.Time { return d.opts.Now().UTC() }

func marshal(ev Event) ([]byte, error) {
	return json.Marshal(ev)
}
