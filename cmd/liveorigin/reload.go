package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/auth"
	"github.com/liveorigin/liveorigin/hooks"
	"github.com/liveorigin/liveorigin/origin"
	"github.com/liveorigin/liveorigin/origin/purge"
)

// Configuration reload (SIGHUP, POST /api/v1/reload): the file, the
// environment and the flags are read again as at start. A configuration
// with any problem is refused whole, one error per problem, and nothing
// changes. Otherwise what can change without dropping a publisher or a
// viewer changes (the options marked live in options(), the purge
// backends, the webhooks) and every other changed option is reported as
// needing a restart and keeps its running value. Every reload also reads
// the TLS certificate files again (tls.go). docs/reload.md is the user's
// reference.

// reloadState is what a reload needs besides the app's components.
type reloadState struct {
	mu sync.Mutex // one reload at a time
	// load reads the configuration again; nil: reload is not available
	// (the app was not started by run).
	load func() (Config, []error)
	// level is the logger's level; nil: it cannot change.
	level *slog.LevelVar
	// Where secrets come from (purge tokens, webhook keys).
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	// purgeSum and hooksSum fingerprint what built the purge backends and
	// the webhooks: their config lists and every secret they read. A
	// reload rebuilds them when the fingerprint changes, so a token
	// rotated in its file is picked up.
	purgeSum, hooksSum [sha256.Size]byte
	// authSum fingerprints the publish auth options and the key files
	// they read: a key rotated in its file is picked up.
	authSum [sha256.Size]byte
}

// enableReload makes reloads possible: load reads the configuration again
// (run: the same flags and environment), level is the logger's level.
func (a *app) enableReload(load func() (Config, []error), level *slog.LevelVar) {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	a.reload.load, a.reload.level = load, level
}

// builtConfig is what a configuration needs built before it can be used.
type builtConfig struct {
	backends           []purge.Backend
	hooks              []*hooks.Hook
	auth               auth.Config
	purgeSum, hooksSum [sha256.Size]byte
	authSum            [sha256.Size]byte
}

// build checks what loadConfig leaves to the components (the packager's
// knobs, the purge backends, the webhooks) and builds the backends and the
// hooks. Each problem is one error.
func (rs *reloadState) build(cfg Config) (builtConfig, []error) {
	var (
		b    builtConfig
		errs []error
	)
	errs = append(errs, packagerOptions(cfg).Validate()...)
	pr := &secretReads{getenv: rs.getenv, readFile: rs.readFile}
	backends, perrs := purge.New(cfg.Purge, pr.env, pr.file)
	for _, err := range perrs {
		errs = append(errs, fmt.Errorf("purge: %w", err))
	}
	hr := &secretReads{getenv: rs.getenv, readFile: rs.readFile}
	hs, herrs := hooks.Build(cfg.Webhooks, hr.env, hr.file)
	errs = append(errs, herrs...)
	ar := &secretReads{getenv: rs.getenv, readFile: rs.readFile}
	ac, aerrs := cfg.authConfig(ar.file)
	errs = append(errs, aerrs...)
	if len(errs) > 0 {
		return b, errs
	}
	b.backends, b.hooks, b.auth = backends, hs, ac
	b.purgeSum, b.hooksSum = pr.sum(cfg.Purge), hr.sum(cfg.Webhooks)
	b.authSum = ar.sum(authOptions(cfg))
	return b, nil
}

// secretReads records what a builder read from the environment and files,
// for a fingerprint (only its hash is kept).
type secretReads struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	reads    []string
}

func (s *secretReads) env(k string) string {
	v := s.getenv(k)
	s.reads = append(s.reads, "env "+k+"="+v)
	return v
}

func (s *secretReads) file(name string) ([]byte, error) {
	b, err := s.readFile(name)
	s.reads = append(s.reads, fmt.Sprintf("file %s=%q %v", name, b, err))
	return b, err
}

func (s *secretReads) sum(list any) [sha256.Size]byte {
	js, _ := json.Marshal(list)
	reads := append([]string(nil), s.reads...)
	sort.Strings(reads)
	h := sha256.New()
	h.Write(js)
	for _, r := range reads {
		h.Write([]byte{0})
		h.Write([]byte(r))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// errReloadUnavailable: the app was not started by run (tests).
var errReloadUnavailable = errors.New("reload is not available in this process")

// reloadConfig reads the configuration again and applies it (SIGHUP, the
// admin API). It logs what it did; a refused configuration is one error
// per problem (errors.Join).
func (a *app) reloadConfig() (origin.ReloadResult, error) {
	rs := &a.reload
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.load == nil {
		return origin.ReloadResult{}, errReloadUnavailable
	}
	// The certificates first, whatever becomes of the configuration: a
	// renewal must not wait for an unrelated mistake to be fixed.
	certErrs := a.certs.reload()
	next, errs := rs.load()
	var built builtConfig
	if len(errs) == 0 {
		built, errs = rs.build(next)
	}
	if len(errs) > 0 {
		for _, err := range errs {
			a.log.Error("configuration reload refused; the running configuration stays", "problem", err.Error())
		}
		return origin.ReloadResult{}, errors.Join(errs...)
	}

	cur := *a.live.Load()
	diff := diffConfig(&cur, &next)
	res := origin.ReloadResult{NeedsRestart: diff.restart, CertificateErrors: certErrs}
	applied := cur // the running configuration with what this reload changes

	// What is built first, so that a failure changes nothing.
	var newQueue *purge.Queue
	if built.purgeSum != rs.purgeSum {
		q, err := purge.NewQueue(built.backends, purge.Options{Logger: a.log, Registerer: replacingRegisterer{a.reg}})
		if err != nil {
			a.log.Error("configuration reload failed; the running configuration stays", "error", err.Error())
			return origin.ReloadResult{}, fmt.Errorf("purge: %w", err)
		}
		newQueue = q
	}
	if newQueue != nil {
		a.purges.swap(newQueue, next.ShutdownTimeout)
		rs.purgeSum = built.purgeSum
		applied.Purge = next.Purge
		res.Applied = append(res.Applied, "purge")
	}
	if built.hooksSum != rs.hooksSum {
		if err := a.hooks.Swap(built.hooks); err != nil {
			a.log.Error("webhooks not replaced", "error", err.Error())
		} else {
			rs.hooksSum = built.hooksSum
			applied.Webhooks = next.Webhooks
			res.Applied = append(res.Applied, "webhooks")
		}
	}
	for _, o := range diff.live {
		if o.name == "log-level" && rs.level == nil {
			res.NeedsRestart = append(res.NeedsRestart, o.name)
			continue
		}
		copyOption(o, &applied, &next)
		res.Applied = append(res.Applied, o.name)
	}
	a.live.Store(&applied)
	// Put the live options in effect (those read from a.live at each use,
	// takedown-refuse and shutdown-timeout, already are).
	// Options that make one policy together are put in effect once, after
	// the loop, however many of them changed.
	var playbackChanged, limitsChanged, rateChanged bool
	for _, name := range res.Applied {
		switch name {
		case "log-level":
			var l slog.Level
			_ = l.UnmarshalText([]byte(applied.LogLevel)) // validated by loadConfig
			rs.level.Set(l)
		case "admin-token":
			a.setAdminToken(applied.AdminToken)
		case "origin-secret":
			a.origin.SetOriginSecrets(applied.originSecrets())
		case "cors-origin":
			a.origin.SetCORSOrigin(applied.CORSOrigin)
		case "srt-passphrase", "srt-stream-passphrase":
			// Validated by loadConfig; callers that connect from now on
			// use the new passphrases, connected ones go on.
			if err := a.srt.SetPassphrases(applied.SRTPassphrase, applied.SRTStreamPassphrases); err != nil {
				a.log.Error("SRT passphrases not replaced", "error", err.Error())
			}
		case "rtsp-pull":
			// Unchanged cameras go on; removed ones stop, changed ones
			// reconnect, new ones start.
			if err := a.rtsp.SetPulls(applied.rtspPulls()); err != nil {
				a.log.Error("RTSP pull sources not replaced", "error", err.Error())
			}
		case "playback-token-key", "playback-token-signing-key", "playback-token-streams",
			"playback-token-max-lifetime", "playback-token-client-ip-header":
			playbackChanged = true
		case "max-publishers-per-address", "max-ingest-bitrate", "ingest-bitrate-window":
			limitsChanged = true
		case "manifest-rate-limit", "manifest-rate-window", "client-ip-header":
			rateChanged = true
		case "max-http-connections":
			if a.httpConns != nil {
				a.httpConns.SetMax(applied.MaxHTTPConnections)
			}
		}
	}
	if playbackChanged {
		// Validated by loadConfig; requests from now on are checked
		// against the new policy.
		if p, errs := applied.playbackPolicy(); len(errs) > 0 {
			a.log.Error("playback token policy not replaced", "error", errors.Join(errs...).Error())
		} else {
			a.origin.SetPlaybackAuth(p, applied.PlaybackTokenClientIPHeader)
		}
	}
	if limitsChanged {
		a.limits.SetLimits(applied.publisherLimits())
	}
	if rateChanged {
		a.rate.Set(applied.rateLimits())
	}
	if built.authSum != rs.authSum {
		// The publishers that start from now on are checked against the
		// new set, the running ones go on.
		keys, done, errs := a.jwks.keySet(built.auth, applied.PublishJWTJWKSRefresh)
		if len(errs) == 0 {
			a.auth.SetKeys(keys)
			rs.authSum = built.authSum
			if !slices.ContainsFunc(res.Applied, isAuthOption) {
				res.Applied = append(res.Applied, "publish-jwt-keys")
			}
		} else {
			a.log.Error("publish auth not replaced", "error", errors.Join(errs...).Error())
		}
		done()
	}
	sort.Strings(res.NeedsRestart)
	a.log.Info("configuration reloaded", "applied", res.Applied, "needs_restart", res.NeedsRestart)
	if len(res.NeedsRestart) > 0 {
		a.log.Warn("changed options need a restart; they keep their running values until then", "options", res.NeedsRestart)
	}
	return res, nil
}

// purgeSwitch is the purge queue in use. A reload replaces it; the old one
// finishes its queue in the background until a deadline.
type purgeSwitch struct {
	log *slog.Logger

	// mu guards q: Enqueue holds it for reading while it hands a request
	// over, so a replaced queue has every request it will get before it
	// starts to close.
	mu     sync.RWMutex
	q      *purge.Queue
	closed bool           // Close was called: a reload racing the shutdown changes nothing
	wg     sync.WaitGroup // the replaced queues closing
}

func (p *purgeSwitch) Enqueue(r purge.Request) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.q.Enqueue(r)
}

func (p *purgeSwitch) Backends() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.q.Backends()
}

// swap puts q in use and closes the old queue in the background, within
// deadline.
func (p *purgeSwitch) swap(q *purge.Queue, deadline time.Duration) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = q.Close(ctx)
		return
	}
	old := p.q
	p.q = q
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := old.Close(ctx); err != nil {
			p.log.Warn("replaced CDN purge backends did not finish in time", "err", err)
		}
	}()
}

// Close closes the queue in use within ctx and waits for the replaced ones
// (each has its own deadline).
func (p *purgeSwitch) Close(ctx context.Context) error {
	p.mu.Lock()
	q := p.q
	p.closed = true
	p.mu.Unlock()
	err := q.Close(ctx)
	p.wg.Wait()
	return err
}

// replacingRegisterer registers a new component's collectors in place of
// those of the one it replaces (a purge queue built by a reload): the
// series restart from zero, which Prometheus reads as a counter reset.
type replacingRegisterer struct{ reg prometheus.Registerer }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.reg.Unregister(are.ExistingCollector)
		return r.reg.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r replacingRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// Reload support: what a reload may change, compared option by option
// through the options table (no hand-written list of fields).

// optionValue is o's value in c.
func optionValue(o option, c *Config) any {
	return reflect.ValueOf(o.field(c)).Elem().Interface()
}

// copyOption sets o in dst to its value in src.
func copyOption(o option, dst, src *Config) {
	reflect.ValueOf(o.field(dst)).Elem().Set(reflect.ValueOf(o.field(src)).Elem())
}

// configDiff is what differs between the running configuration and a new
// one.
type configDiff struct {
	live    []option // options that a reload applies
	restart []string // options that need a restart to change
	purge   bool     // the purge: list changed
	hooks   bool     // the webhooks: list changed
}

func diffConfig(old, next *Config) configDiff {
	var d configDiff
	for _, o := range options() {
		if reflect.DeepEqual(optionValue(o, old), optionValue(o, next)) {
			continue
		}
		if o.live {
			d.live = append(d.live, o)
		} else {
			d.restart = append(d.restart, o.name)
		}
	}
	d.purge = !reflect.DeepEqual(old.Purge, next.Purge)
	d.hooks = !reflect.DeepEqual(old.Webhooks, next.Webhooks)
	return d
}
