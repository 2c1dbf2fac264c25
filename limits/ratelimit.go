package limits

import (
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/httprate"

	"github.com/liveorigin/liveorigin/observe"
)

// RateLimits configure the manifest request rate limit.
type RateLimits struct {
	// Requests is the most manifest requests one client may make per
	// Window; 0 turns the limit off.
	Requests int
	// Window is the sliding window of Requests; at least 1s.
	Window time.Duration
	// ClientHeader, when set, names the request header that carries the
	// client's address (set by a trusted CDN or proxy in front, e.g.
	// True-Client-IP, CF-Connecting-IP, or X-Forwarded-For, whose last
	// entry is used); requests without it are keyed by their connection's
	// address. Empty: the connection's address.
	ClientHeader string
}

// Rate is the manifest rate limit: a middleware whose limits a reload may
// change.
type Rate struct {
	hits *Hits
	cur  atomic.Pointer[rateState]
}

type rateState struct {
	limits RateLimits
	rl     *httprate.RateLimiter // nil: off
}

// NewRate builds the limit with l.
func NewRate(hits *Hits, l RateLimits) *Rate {
	r := &Rate{hits: hits}
	r.Set(l)
	return r
}

// Set puts l in effect (a reload). A changed limit starts with fresh
// counts.
func (r *Rate) Set(l RateLimits) {
	st := &rateState{limits: l}
	if l.Requests > 0 {
		l.Window = max(l.Window, time.Second)
		st.limits.Window = l.Window
		st.rl = httprate.NewRateLimiter(l.Requests, l.Window,
			// No X-RateLimit-* headers: a CDN would cache one viewer's
			// counts with the playlist.
			httprate.WithResponseHeaders(httprate.ResponseHeaders{RetryAfter: "Retry-After"}),
			httprate.WithLimitHandler(func(w http.ResponseWriter, req *http.Request) { r.refuse(w, req, l) }))
	}
	r.cur.Store(st)
}

// Limit is the middleware for the routes it guards (playlists and MPDs).
func (r *Rate) Limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		st := r.cur.Load()
		if st.rl != nil && st.rl.RespondOnLimit(w, req, clientKey(req, st.limits.ClientHeader)) {
			return
		}
		next.ServeHTTP(w, req)
	})
}

// refuse answers 429. httprate has set Retry-After (the window);
// Cache-Control keeps a CDN from serving the refusal to other viewers.
func (r *Rate) refuse(w http.ResponseWriter, req *http.Request, l RateLimits) {
	r.hits.Hit(ManifestRate, "manifest request refused: rate limit",
		slog.String("client", clientKey(req, l.ClientHeader)), slog.String("path", req.URL.Path),
		slog.Int("requests", l.Requests), slog.Duration("window", l.Window))
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte("too many requests (manifest-rate-limit)\n"))
}

// clientKey is the client's address: from header when it is set and
// present (observe.ForwardedFor), else the connection's.
func clientKey(req *http.Request, header string) string {
	if header != "" {
		if v := observe.ForwardedFor(req.Header.Get(header)); v != "" {
			return httprate.CanonicalizeIP(v)
		}
	}
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	return httprate.CanonicalizeIP(host)
}
