package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// Publisher puts the webhooks in front of an ingest.Publisher (the
// packager's Registry): Publish asks the publish hooks first, and a
// session's Close sends unpublish.
type Publisher struct {
	d    *Dispatcher
	next ingest.Publisher
}

var _ ingest.Publisher = (*Publisher)(nil)

// NewPublisher wraps next.
func NewPublisher(next ingest.Publisher, d *Dispatcher) *Publisher {
	return &Publisher{d: d, next: next}
}

// Publish asks every publish hook, in configuration order, then claims the
// name from the wrapped Publisher. It runs on the publishing connection's
// goroutine and holds no lock while it waits, so a slow hook delays only
// this publisher. A refusal wraps ingest.ErrRefused; its text, which the
// publisher sees, names neither the hook nor its answer's body.
func (p *Publisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	if info.SessionID == "" {
		info.SessionID = ingest.NewSessionID()
	}
	tp := p.d.opts.TraceParent(ctx)
	asked, err := p.d.authorize(ctx, info, tp)
	if err != nil {
		return nil, err
	}
	info.Query = nil // the secret the hooks decided on goes no further
	sess, err := p.next.Publish(ctx, info)
	if err != nil {
		if asked {
			// The hooks allowed a publish that did not happen: the
			// unpublish tells them, so that every publish they allowed
			// has its unpublish.
			p.d.enqueue(Event{Event: EventUnpublish, Stream: info.Name, Protocol: info.Protocol, RemoteAddr: info.RemoteAddr,
				SessionID: info.SessionID, Time: p.d.now(), Error: err.Error()}, tp)
		}
		return nil, err
	}
	p.d.smu.Lock()
	p.d.sessions[info.Name] = sessionInfo{info: info, traceparent: tp, live: true}
	p.d.smu.Unlock()
	return &session{Session: sess, d: p.d, info: info, traceparent: tp}, nil
}

// session sends unpublish when its publisher goes.
type session struct {
	ingest.Session
	d           *Dispatcher
	info        ingest.PublishInfo
	traceparent string
	once        sync.Once
}

// The optional session capabilities (ingest/link.go) pass through the
// wrapper (Unwrap); ID and ReportLink answer directly.

// ID is the publish session's id (ingest.SessionID).
func (s *session) ID() string { return s.info.SessionID }

// Unwrap is the wrapped session.
func (s *session) Unwrap() ingest.Session { return s.Session }

// ReportLink hands the link statistics to the wrapped session.
func (s *session) ReportLink(st ingest.LinkStats) { ingest.ReportLink(s.Session, st) }

func (s *session) Close(err error) {
	s.Session.Close(err)
	s.once.Do(func() {
		s.d.sessionClosed(s.info.Name, s.info.SessionID)
		ev := Event{Event: EventUnpublish, Stream: s.info.Name, Protocol: s.info.Protocol, RemoteAddr: s.info.RemoteAddr,
			SessionID: s.info.SessionID, Time: s.d.now()}
		if err != nil {
			ev.Error = err.Error()
		}
		s.d.enqueue(ev, s.traceparent)
	})
}

// authorize asks the publish hooks. asked reports whether there was one.
func (d *Dispatcher) authorize(ctx context.Context, info ingest.PublishInfo, tp string) (asked bool, err error) {
	d.mu.RLock()
	var hooks []*Hook
	for _, h := range d.cur.hooks {
		if h.events[EventPublish] {
			hooks = append(hooks, h)
		}
	}
	d.mu.RUnlock()
	if len(hooks) == 0 {
		return false, nil
	}
	ev := Event{Event: EventPublish, Stream: info.Name, Protocol: info.Protocol, RemoteAddr: info.RemoteAddr,
		SessionID: info.SessionID, Time: d.now(), Query: flatten(info.Query)}
	body, err := marshal(ev)
	if err != nil {
		return true, fmt.Errorf("publish webhook: %w", err)
	}
	for _, h := range hooks {
		dl := delivery{id: newID(), event: ev, body: body, traceparent: tp, enqueued: time.Now()}
		if err := d.ask(ctx, h, &dl); err != nil {
			return true, err
		}
	}
	return true, nil
}

// ask makes one publish hook's single attempt and decides: 2xx allows,
// 401/403 refuses, anything else is the hook's on-error.
func (d *Dispatcher) ask(ctx context.Context, h *Hook, dl *delivery) error {
	code, err := d.attempt(ctx, h, dl)
	attrs := append(deliveryAttrs(h, *dl), slog.String("protocol", dl.event.Protocol), slog.String("remote", dl.event.RemoteAddr),
		slog.Duration("duration", time.Since(dl.enqueued)))
	if code != 0 {
		attrs = append(attrs, slog.Int("status", code))
	}
	switch {
	case err == nil && code >= 200 && code <= 299:
		d.metrics.requests.WithLabelValues(h.name, EventPublish, resultOK).Inc()
		d.log.LogAttrs(ctx, slog.LevelDebug, "publish allowed by webhook", withOutcome(attrs, resultOK)...)
		return nil
	case err == nil && (code == 401 || code == 403):
		d.metrics.requests.WithLabelValues(h.name, EventPublish, resultRefused).Inc()
		d.log.LogAttrs(ctx, slog.LevelInfo, "publish refused by webhook", withOutcome(attrs, resultRefused)...)
		return fmt.Errorf("%w: the publish webhook answered %d", ingest.ErrRefused, code)
	}
	if err == nil {
		err = &statusError{url: h.shownURL, code: code}
	}
	d.metrics.requests.WithLabelValues(h.name, EventPublish, resultFailed).Inc()
	if cerr := ctx.Err(); cerr != nil {
		// The publisher went away (or the server is closing): nothing to
		// decide.
		d.log.LogAttrs(context.Background(), slog.LevelInfo, "publish webhook abandoned: the publisher went away", withOutcome(attrs, resultFailed)...)
		return fmt.Errorf("publish webhook: %w", errors.Join(ingest.ErrClosed, cerr))
	}
	attrs = append(attrs, slog.String("error", err.Error()))
	if h.allowOnErr {
		d.log.LogAttrs(ctx, slog.LevelWarn, "publish webhook failed; allowed (on-error: allow)", withOutcome(attrs, resultFailed)...)
		return nil
	}
	d.log.LogAttrs(ctx, slog.LevelWarn, "publish webhook failed; refused (on-error: refuse)", withOutcome(attrs, resultFailed)...)
	return fmt.Errorf("%w: the publish webhook did not answer (its on-error is refuse); try again later", ingest.ErrRefused)
}

func withOutcome(attrs []slog.Attr, outcome string) []slog.Attr {
	return append(attrs[:len(attrs):len(attrs)], slog.String("outcome", outcome))
}
