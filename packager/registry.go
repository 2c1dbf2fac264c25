package packager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/ingest"
)

// ErrTooManyStreams: Publish would exceed Options.MaxStreams.
var ErrTooManyStreams = errors.New("too many streams")

// ErrSegmentTooLarge: a session's segment in progress grew beyond
// Options.MaxSegmentBytes. WriteAU returns it and the publisher is cut off
// (the segment so far is kept): it bounds the memory one segment holds.
var ErrSegmentTooLarge = errors.New("segment too large")

// tickInterval is how often the Registry applies its timers (reconnect grace,
// removal of ended streams): their precision.
const tickInterval = 250 * time.Millisecond

// Registry holds the streams by name and implements ingest.Publisher.
//
// Lock order: a stream's mutex may be held while taking the Registry's, never
// the other way round; the Registry's lock only guards the map, so lookups
// (Timeline) never wait for ingest work.
type Registry struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	tracer  trace.Tracer // nil: tracing off

	mu        sync.RWMutex
	streams   map[string]*stream
	takedowns map[string]time.Time // refused names (Takedown) and until when
	closed    bool

	done      chan struct{}  // closed by Close: stops the ticker
	wg        sync.WaitGroup // the ticker and the sessions' context watchers
	closeOnce sync.Once
}

var _ ingest.Publisher = (*Registry)(nil)

// NewRegistry validates the options and starts the Registry's timer
// goroutine. Close stops it.
func NewRegistry(o Options) (*Registry, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("packager: invalid options: %w", errors.Join(errs...))
	}
	o = o.withDefaults()
	r := &Registry{
		opts:    o,
		log:     o.Logger,
		streams: make(map[string]*stream),
		done:    make(chan struct{}),
	}
	m, err := newMetrics(o.Registerer, r)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	if o.TracerProvider != nil {
		r.tracer = o.TracerProvider.Tracer(tracerName)
	}
	if !o.manualTick {
		r.wg.Add(1)
		go r.run()
	}
	return r, nil
}

func (r *Registry) run() {
	defer r.wg.Done()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			r.tick()
		}
	}
}

// tick applies the timers at Options.Now().
func (r *Registry) tick() {
	now := r.opts.Now()
	r.mu.Lock()
	list := make([]*stream, 0, len(r.streams))
	for _, st := range r.streams {
		list = append(list, st)
	}
	for name := range r.takedowns {
		r.takenDownLocked(name, now) // forgets expired refusals
	}
	r.mu.Unlock()
	for _, st := range list {
		st.mu.Lock()
		remove := st.expireLocked(now)
		st.mu.Unlock()
		if remove {
			r.forget(st)
		}
	}
}

// forget takes a removed stream out of the map (if it is still there) and
// drops its metric series.
func (r *Registry) forget(st *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams[st.name] == st {
		delete(r.streams, st.name)
		r.metrics.deleteStream(st.name)
	}
}

// Publish claims a stream name for a publisher (ingest.Publisher). A name
// whose publisher left less than ReconnectGrace ago is continued (a new
// period); an ended stream that is still readable is replaced by a fresh one.
func (r *Registry) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	if err := ingest.ValidateName(info.Name); err != nil {
		r.metrics.sessions.WithLabelValues(resultRefusedName).Inc()
		return nil, fmt.Errorf("packager: publish: %w", err)
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			r.metrics.sessions.WithLabelValues(resultRefusedClosed).Inc()
			return nil, fmt.Errorf("packager: publish %s: %w", info.Name, ingest.ErrClosed)
		}
		if r.takenDownLocked(info.Name, r.opts.Now()) {
			r.mu.Unlock()
			r.metrics.sessions.WithLabelValues(resultRefusedTakenDown).Inc()
			return nil, fmt.Errorf("packager: publish %s: %w: %w", info.Name, ingest.ErrRefused, ErrTakenDown)
		}
		st := r.streams[info.Name]
		if st == nil {
			if len(r.streams) >= r.opts.MaxStreams {
				r.mu.Unlock()
				r.metrics.sessions.WithLabelValues(resultRefusedLimit).Inc()
				return nil, fmt.Errorf("packager: publish %s: %w: %d streams held (max-streams)", info.Name, ErrTooManyStreams, r.opts.MaxStreams)
			}
			now := r.opts.Now()
			st = newStream(r, info.Name, now)
			sess := newSession(r, st, info, now)
			st.attachLocked(sess, connectFirst) // not yet shared: no lock needed
			r.streams[info.Name] = st
			r.wg.Add(1) // the watcher; added under r.mu so Close waits for it
			r.mu.Unlock()
			return r.accepted(ctx, sess), nil
		}
		r.wg.Add(1)
		r.mu.Unlock()

		sess, err, retry := r.attach(st, info)
		if err != nil || retry {
			r.wg.Done()
		}
		if retry {
			r.forget(st)
			continue
		}
		if err != nil {
			return nil, err
		}
		return r.accepted(ctx, sess), nil
	}
}

// attach gives an existing stream a new session. retry means the stream was
// removed meanwhile and Publish must look again.
func (r *Registry) attach(st *stream, info ingest.PublishInfo) (sess *session, err error, retry bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.removed:
		return nil, nil, true
	case st.closing:
		r.metrics.sessions.WithLabelValues(resultRefusedClosed).Inc()
		return nil, fmt.Errorf("packager: publish %s: %w", info.Name, ingest.ErrClosed), false
	case st.sess != nil:
		r.metrics.sessions.WithLabelValues(resultRefusedDuplicate).Inc()
		return nil, fmt.Errorf("%w: %s is published by %s from %s (session %s)", ingest.ErrAlreadyPublishing,
			info.Name, st.sess.info.Protocol, st.sess.info.RemoteAddr, st.sess.id), false
	}
	now := r.opts.Now()
	typ := connectReconnect
	if st.ended {
		st.resetLocked(now)
		typ = connectFirst
	}
	sess = newSession(r, st, info, now)
	st.attachLocked(sess, typ)
	return sess, nil, false
}

// attachLocked makes sess the stream's publisher; typ is connectFirst or
// connectReconnect.
func (st *stream) attachLocked(sess *session, typ string) {
	st.sess, st.lastSess = sess, sess
	st.graceUntil = time.Time{}
	st.r.metrics.publishersActive.Inc()
	st.r.metrics.connects.WithLabelValues(st.name, typ).Inc()
	sess.log.Info("publisher connected", "type", typ)
}

func (r *Registry) accepted(ctx context.Context, sess *session) ingest.Session {
	r.metrics.sessions.WithLabelValues(resultAccepted).Inc()
	sess.traceFrom(ctx)
	sess.watch(ctx)
	return sess
}

// Timeline returns the newest snapshot of a stream: an atomic load, never a
// lock the ingest path holds. A stream without segments yet has an empty
// timeline; an unknown (or removed) stream is ErrNotFound. Snapshots of a
// removed stream stay valid but never change again.
func (r *Registry) Timeline(name string) (*Timeline, error) {
	r.mu.RLock()
	st := r.streams[name]
	_, down := r.takedowns[name]
	r.mu.RUnlock()
	if st == nil {
		if down {
			r.mu.Lock()
			down = r.takenDownLocked(name, r.opts.Now())
			r.mu.Unlock()
			if down {
				return nil, fmt.Errorf("stream %s: %w", name, ErrTakenDown)
			}
		}
		return nil, fmt.Errorf("stream %s: %w", name, ErrNotFound)
	}
	return st.current.Load(), nil
}

// Streams describes every stream held, sorted by name (the JSON API).
func (r *Registry) Streams() []StreamInfo {
	list := r.list()
	out := make([]StreamInfo, 0, len(list))
	now := r.opts.Now()
	for _, st := range list {
		st.mu.Lock()
		if !st.removed {
			out = append(out, st.infoLocked(now))
		}
		st.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// list returns the streams held, in no order.
func (r *Registry) list() []*stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := make([]*stream, 0, len(r.streams))
	for _, st := range r.streams {
		list = append(list, st)
	}
	return list
}

// Close shuts the Registry down: new publishers are refused with
// ingest.ErrClosed, every session ends, each stream's pending samples become
// a final segment and every stream is marked Ended (its playlists get
// EXT-X-ENDLIST) and stays readable. It stops the timers and waits for the
// goroutines it started. Close is idempotent.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		list := make([]*stream, 0, len(r.streams))
		for _, st := range r.streams {
			list = append(list, st)
		}
		r.mu.Unlock()
		close(r.done)
		for _, st := range list {
			st.mu.Lock()
			st.closing = true
			if st.sess != nil {
				st.sess.closeLocked(ingest.ErrClosed)
			}
			st.endLocked(r.opts.Now(), "server shutting down")
			st.mu.Unlock()
		}
	})
	r.wg.Wait()
}
