package auth

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

// Options configure a Publisher.
type Options struct {
	// Logger gets one line per refusal (never the key). Default: discard.
	Logger *slog.Logger
	// Registerer gets liveorigin_publish_auth_failures_total. Default:
	// none.
	Registerer prometheus.Registerer
	// Now is the clock of the slow-down. Default: time.Now.
	Now func() time.Time
	// Wait waits d or until ctx ends (the slow-down). Default: a timer.
	Wait func(ctx context.Context, d time.Duration) error
}

// Publisher checks stream keys in front of an ingest.Publisher.
type Publisher struct {
	next     ingest.Publisher
	set      atomic.Pointer[KeySet]
	log      *slog.Logger
	now      func() time.Time
	wait     func(context.Context, time.Duration) error
	limit    *limiter
	failures *prometheus.CounterVec
}

var _ ingest.Publisher = (*Publisher)(nil)

// NewPublisher wraps next with the policy set (from NewKeySet).
func NewPublisher(next ingest.Publisher, set *KeySet, opts Options) *Publisher {
	p := &Publisher{next: next, log: opts.Logger, now: opts.Now, wait: opts.Wait, limit: newLimiter(maxTracked)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.wait == nil {
		p.wait = sleep
	}
	p.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liveorigin_publish_auth_failures_total",
		Help: "Publishers refused by publish auth, by protocol and reason (no_key, wrong_key, unknown_stream, bad_token, expired_token, wrong_stream, no_signing_key).",
	}, []string{"protocol", "reason"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(p.failures)
	}
	p.set.Store(set)
	return p
}

// SetKeys puts set in use for the publishers that start from now on (a
// reload); running publishers are not checked again.
func (p *Publisher) SetKeys(set *KeySet) { p.set.Store(set) }

// Publish checks the publisher's key or token, then claims the name from
// the wrapped Publisher. A publisher that sent nothing to a protocol that
// can ask (RTSP) is asked for credentials (an *ingest.ChallengeError),
// which is no failure. An address with repeated failures waits first
// (within ctx). A refusal wraps ingest.ErrRefused; its text does not say
// why.
func (p *Publisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	set := p.set.Load()
	mode := set.ModeOf(info.Name)
	if mode == ModeOpen {
		return p.next.Publish(ctx, info)
	}
	sent := presented{creds: info.Credentials}
	if vs, ok := info.Query["key"]; ok && len(vs) > 0 {
		sent.key, sent.has = vs[0], true
	}
	if !sent.has && sent.creds == nil && info.CanChallenge {
		p.log.LogAttrs(ctx, slog.LevelDebug, "publish auth: asking for credentials",
			slog.String("stream", info.Name), slog.String("protocol", info.Protocol), slog.String("remote", info.RemoteAddr))
		return nil, &ingest.ChallengeError{Digest: mode == ModeKeys}
	}
	addr := ingest.RemoteHost(info.RemoteAddr)
	if d := p.limit.delay(addr, p.now()); d > 0 {
		if err := p.wait(ctx, d); err != nil {
			return nil, fmt.Errorf("publish auth: %w", ingest.ErrClosed)
		}
	}
	if reason := set.check(mode, info.Name, sent, p.now()); reason != "" {
		if reason != ReasonNoSigningKey {
			// No key (a JWKS not fetched yet): no signature was checked,
			// so there was nothing to guess; an encoder retrying through
			// a JWKS outage is not slowed down for it.
			p.limit.fail(addr, p.now())
		}
		p.failures.WithLabelValues(info.Protocol, reason).Inc()
		what, hint := "stream key", "NAME?key=SECRET"
		if mode == ModeJWT {
			what, hint = "publish token", "NAME?key=TOKEN"
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "publish refused: "+what,
			slog.String("stream", info.Name), slog.String("protocol", info.Protocol),
			slog.String("remote", info.RemoteAddr), slog.String("reason", reason))
		return nil, fmt.Errorf("%w: wrong or missing %s (publish as %s)", ingest.ErrRefused, what, hint)
	}
	p.limit.succeed(addr)
	return p.next.Publish(ctx, info)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
