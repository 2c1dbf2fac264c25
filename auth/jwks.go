package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/internal/redact"
)

// Limits of the JWKS fetcher.
const (
	// MaxJWKSSize is the largest JWKS document read.
	MaxJWKSSize = 1 << 20
	// DefaultJWKSRefresh is how often the JWKS is fetched again.
	DefaultJWKSRefresh = 5 * time.Minute
	// jwksRetryMax caps the wait between failed fetches.
	jwksRetryMax = time.Minute
)

// JWKSOptions configure a JWKS.
type JWKSOptions struct {
	// URL of the JWK Set (http or https).
	URL string
	// Refresh is how often the set is fetched again. Default:
	// DefaultJWKSRefresh.
	Refresh time.Duration
	// MinGap is the least time between two fetches asked for by tokens
	// with an unknown kid (a key rotation). Default: 10 s.
	MinGap time.Duration
	// Client fetches the set. Default: a client with a 10 s timeout.
	Client *http.Client
	// Logger gets a line per failed fetch. Default: discard.
	Logger *slog.Logger
	// Metrics count the fetches (NewJWKSMetrics). Default: not counted.
	Metrics *JWKSMetrics
	// OnFetch, when set, is called after each fetch with its error (for
	// tests).
	OnFetch func(error)
}

// JWKSMetrics are the fetcher's counters: one per process, shared by the
// JWKS a reload replaces.
type JWKSMetrics struct {
	fetches *prometheus.CounterVec
}

// NewJWKSMetrics makes liveorigin_publish_jwks_fetches_total and registers
// it on reg (when not nil).
func NewJWKSMetrics(reg prometheus.Registerer) *JWKSMetrics {
	m := &JWKSMetrics{fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liveorigin_publish_jwks_fetches_total",
		Help: "Fetches of the publish JWT key set (publish-jwt-jwks-url), by result (ok, error).",
	}, []string{"result"})}
	for _, r := range []string{"ok", "error"} {
		m.fetches.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.fetches)
	}
	return m
}

// jwk is one usable key of the set.
type jwk struct {
	kid, alg string
	key      jwt.VerificationKey
}

// JWKS keeps the keys of a JWK Set URL: it fetches the set in the
// background, at start and every Refresh, and keeps the last good set when
// a fetch fails. Reading the keys never waits for the network.
type JWKS struct {
	opts   JWKSOptions
	keys   atomic.Pointer[[]jwk]
	nudge  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// NewJWKS starts fetching opts.URL; Close stops it.
func NewJWKS(opts JWKSOptions) *JWKS {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultJWKSRefresh
	}
	if opts.MinGap <= 0 {
		opts.MinGap = 10 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &JWKS{opts: opts, nudge: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go j.run(ctx)
	return j
}

// Close stops the fetcher and waits for it.
func (j *JWKS) Close() {
	j.cancel()
	<-j.done
}

// URL is the set's URL.
func (j *JWKS) URL() string { return j.opts.URL }

// Refresh asks for a fetch soon (at most one per MinGap); it does not
// wait.
func (j *JWKS) Refresh() {
	select {
	case j.nudge <- struct{}{}:
	default:
	}
}

// keysFor are the keys that may verify a token of alg with kid (any kid
// when empty).
func (j *JWKS) keysFor(alg, kid string) []jwt.VerificationKey {
	set := j.keys.Load()
	if set == nil {
		return nil
	}
	var out []jwt.VerificationKey
	for _, k := range *set {
		if k.alg == alg && (kid == "" || k.kid == kid) {
			out = append(out, k.key)
		}
	}
	return out
}

func (j *JWKS) run(ctx context.Context) {
	defer close(j.done)
	retry := time.Second
	for {
		err := j.fetch(ctx)
		last := time.Now()
		if ctx.Err() != nil {
			return
		}
		wait := j.opts.Refresh
		if err != nil {
			j.opts.Logger.Warn("publish JWKS fetch failed; the last good key set stays in use",
				"url", redact.URL(j.opts.URL), "error", err.Error(), "retry_in", retry.String())
			wait, retry = min(retry, j.opts.Refresh), min(retry*2, jwksRetryMax)
		} else {
			retry = time.Second
		}
		if j.opts.Metrics != nil {
			result := "ok"
			if err != nil {
				result = "error"
			}
			j.opts.Metrics.fetches.WithLabelValues(result).Inc()
		}
		if j.opts.OnFetch != nil {
			j.opts.OnFetch(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-j.nudge:
			t.Stop()
			if gap := j.opts.MinGap - time.Since(last); gap > 0 {
				if sleep(ctx, gap) != nil {
					return
				}
			}
		}
	}
}

// fetch gets the set and puts it in use.
func (j *JWKS) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.opts.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := j.opts.Client.Do(req)
	if err != nil {
		return redactErr(err, j.opts.URL)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxJWKSSize+1))
	if err != nil {
		return redactErr(err, j.opts.URL)
	}
	if len(body) > MaxJWKSSize {
		return fmt.Errorf("the key set is larger than %d bytes", MaxJWKSSize)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return err
	}
	j.keys.Store(&keys)
	return nil
}

// redactErr keeps a URL's secrets (user info, query) out of an error from
// net/http, which names the URL.
func redactErr(err error, rawURL string) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s %s: %v", uerr.Op, redact.URL(rawURL), uerr.Err)
	}
	return err
}

// parseJWKS reads the usable keys of a JWK Set (RFC 7517 5): RSA keys of
// at least MinRSABits for RS256 and P-256 EC keys for ES256, not marked
// for encryption, whose alg (when given) is that one. Other keys (oct,
// OKP, other curves) are skipped; a set with no usable key is an error.
func parseJWKS(data []byte) ([]jwk, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK set: %v", err)
	}
	var keys []jwk
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.Public() // a private key in the set: use its public half
		if pub.Key == nil {
			continue
		}
		alg, err := checkPublicKey(pub.Key)
		if err != nil || (k.Algorithm != "" && k.Algorithm != alg) {
			continue
		}
		keys = append(keys, jwk{kid: k.KeyID, alg: alg, key: pub.Key})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable key among %d (want RSA of at least %d bits for RS256, or EC P-256 for ES256)", len(doc.Keys), MinRSABits)
	}
	return keys, nil
}
