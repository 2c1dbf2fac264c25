package origin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/observe"
	"github.com/liveorigin/liveorigin/playauth"
)

// Signed playback (docs/security.md). A token rides in the path,
// /live/NAME/t/TOKEN/..., and covers a path prefix: the playlists and the
// MPD name everything by relative URIs, so a player that opened a signed
// URL asks for every playlist, init segment, segment and part under the
// same token, and the documents are rendered once and shared by every
// viewer as before. Each request's token is checked statelessly (an HMAC,
// no lookup, no allocation) before the object is looked up.

// playAuthState is the playback authorisation in effect.
type playAuthState struct {
	policy *playauth.Policy // nil: no stream needs a token, no key is known
	// ipHeader names the request header that carries the client address
	// (set by a CDN or proxy in front); "": the connection's address.
	ipHeader string
}

// SetPlaybackAuth puts a playback authorisation policy in effect (start, a
// configuration reload); nil turns it off. ipHeader names the request
// header that carries the viewer's address for tokens bound to one
// (its last comma-separated element, observe.ForwardedFor); "" uses the
// connection's address.
func (s *Server) SetPlaybackAuth(p *playauth.Policy, ipHeader string) {
	s.playAuth.Store(&playAuthState{policy: p, ipHeader: ipHeader})
}

// tokenRefusals counts refused playback tokens by reason.
type tokenRefusals map[playauth.Reason]prometheus.Counter

func newTokenRefusals(reg prometheus.Registerer) (tokenRefusals, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liveorigin_playback_token_refusals_total",
		Help: "Playback requests refused (403) for their token, by reason: missing, malformed, bad_signature, expired, wrong_path, wrong_ip.",
	}, []string{"reason"})
	if err := reg.Register(vec); err != nil {
		return nil, err
	}
	m := make(tokenRefusals, len(playauth.Reasons))
	for _, r := range playauth.Reasons {
		m[r] = vec.WithLabelValues(string(r))
	}
	return m, nil
}

// protect checks the playback token of a request before h serves it.
// kind is the route's kind of object; "" for the objects of a rendition,
// whose kind comes from the object's name.
func (s *Server) protect(kind Kind, h func(w http.ResponseWriter, r *http.Request) Kind) func(w http.ResponseWriter, r *http.Request) Kind {
	return func(w http.ResponseWriter, r *http.Request) Kind {
		// A token in the query, on a stream that needs one (elsewhere a
		// "token" parameter may be a CDN's own, and is ignored as before).
		if chi.URLParam(r, "token") == "" && strings.Contains(r.URL.RawQuery, playauth.QueryParam+"=") &&
			s.playAuth.Load().policy.Protected(chi.URLParam(r, "name")) {
			return s.redirectQueryToken(w, r, kind)
		}
		reason := s.checkToken(r)
		if reason == "" {
			return h(w, r)
		}
		if kind == "" {
			kind, _, _ = objectKind(chi.URLParam(r, "object"))
		}
		s.refuseToken(w, r, kind, reason)
		return kind
	}
}

// redirectQueryToken answers a URL of a protected stream with the token
// in its query, /live/NAME/index.m3u8?token=TOKEN: a good token is redirected (302) to
// the same object under /live/NAME/t/TOKEN/, where the relative URIs of
// the documents carry it on; a bad one is refused as in the path.
func (s *Server) redirectQueryToken(w http.ResponseWriter, r *http.Request, kind Kind) Kind {
	if kind == "" {
		kind, _, _ = objectKind(chi.URLParam(r, "object"))
	}
	st := s.playAuth.Load()
	name := chi.URLParam(r, "name")
	q := r.URL.Query()
	token := q.Get(playauth.QueryParam)
	q.Del(playauth.QueryParam)
	head := playauth.StreamPrefix(name)
	tail, ok := strings.CutPrefix(r.URL.Path, head)
	reason := playauth.ReasonMalformed
	if ok {
		reason = st.policy.Check(token, playauth.Request{Head: head, Tail: tail, Client: clientAddr(r, st.ipHeader), Now: s.opts.Now()})
	}
	if reason != "" {
		s.refuseToken(w, r, kind, reason)
		return kind
	}
	loc := playauth.SignedPath(name, token, tail)
	if rest := q.Encode(); rest != "" {
		loc += "?" + rest
	}
	h := w.Header()
	// The name is the viewer's until a snapshot is found: validated, and no
	// render-cache entry for it (urlStream, as writeError does).
	cachePolicy(h, cacheInput{kind: kind, status: http.StatusFound, stream: urlStream(r)})
	h.Set("Location", loc)
	w.WriteHeader(http.StatusFound)
	return kind
}

// checkToken decides on the request's token; "" lets it through.
func (s *Server) checkToken(r *http.Request) playauth.Reason {
	st := s.playAuth.Load()
	name := chi.URLParam(r, "name")
	token := chi.URLParam(r, "token")
	if token == "" {
		if st.policy.Protected(name) {
			return playauth.ReasonMissing
		}
		return ""
	}
	head, tail, ok := cutToken(r.URL.Path, name, token)
	if !ok {
		return playauth.ReasonMalformed
	}
	return st.policy.Check(token, playauth.Request{Head: head, Tail: tail, Client: clientAddr(r, st.ipHeader), Now: s.opts.Now()})
}

// cutToken returns the request path without its token, in two pieces:
// "/live/NAME/t/TOKEN/REST" → "/live/NAME/", "REST". ok is false when the
// path is not spelt that way (an escaped character).
func cutToken(path, name, token string) (head, tail string, ok bool) {
	n := len(ingest.App) + len(name) + 3 // "/live/NAME/"
	if len(path) < n || path[0] != '/' || path[1:1+len(ingest.App)] != ingest.App || path[1+len(ingest.App)] != '/' ||
		path[2+len(ingest.App):n-1] != name || path[n-1] != '/' {
		return "", "", false
	}
	rest, ok1 := strings.CutPrefix(path[n:], playauth.PathSegment+"/")
	rest, ok2 := strings.CutPrefix(rest, token)
	rest, ok3 := strings.CutPrefix(rest, "/")
	if !ok1 || !ok2 || !ok3 {
		return "", "", false
	}
	return path[:n], rest, true
}

// logPath is path for a log line or a span: a playback token is
// replaced by "REDACTED" (it is a credential while it lives). A path
// without a token is returned as it is, without allocating.
func logPath(path string) string {
	const live = "/" + ingest.App + "/"
	rest, ok := strings.CutPrefix(path, live)
	if !ok {
		return path
	}
	name, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return path
	}
	rest, ok = strings.CutPrefix(rest, playauth.PathSegment+"/")
	if !ok {
		return path
	}
	_, rest, _ = strings.Cut(rest, "/")
	return live + name + "/" + playauth.PathSegment + "/REDACTED/" + rest
}

// clientAddr is the viewer's address: from header when one is named
// (observe.ForwardedFor; no address when it holds none: behind a CDN the
// peer is the CDN), the connection's peer otherwise.
func clientAddr(r *http.Request, header string) netip.Addr {
	if header != "" {
		a, _ := netip.ParseAddr(observe.ForwardedFor(r.Header.Get(header)))
		return a
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// refuseToken answers 403 for a refused token. The viewer's browser may
// keep the answer a moment (a player that retries at once is answered
// from its cache); shared caches must not store it: a CDN that checks
// tokens at its edge keys objects without the token, and a 403 stored
// under such a key would refuse every viewer (docs/security.md).
func (s *Server) refuseToken(w http.ResponseWriter, r *http.Request, kind Kind, reason playauth.Reason) {
	s.tokenRefusals[reason].Inc()
	// No token text in the log: it is a credential while it lives.
	s.log.Debug("playback token refused", "stream", urlStream(r), "kind", string(kind),
		"reason", string(reason), "request_id", requestID(w))
	h := w.Header()
	cachePolicy(h, cacheInput{kind: kind, status: http.StatusForbidden, tokenRefused: true, stream: urlStream(r)})
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("Forbidden: playback token " + string(reason) + "\n"))
	}
}

// tokenRoutes adds POST /api/v1/tokens (admin token required): it mints a
// playback token for a stream and returns its signed URL paths.
func (s *Server) tokenRoutes(mutating chi.Router) {
	mutating.Post("/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream   string `json:"stream"`
			TTL      string `json:"ttl"`
			ClientIP string `json:"client_ip"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error() + ` (want {"stream": "NAME", "ttl": "1h", "client_ip": "203.0.113.7"}; ttl and client_ip optional)`})
			return
		}
		p := s.playAuth.Load().policy
		ttl := min(time.Hour, p.MaxLifetime())
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ttl: " + err.Error() + " (use e.g. 30m, 2h)"})
				return
			}
			ttl = d
		}
		var client netip.Addr
		if req.ClientIP != "" {
			a, err := netip.ParseAddr(req.ClientIP)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "client_ip: " + err.Error()})
				return
			}
			client = a
		}
		tok, expires, err := p.Mint(req.Stream, ttl, client, s.opts.Now())
		switch {
		case errors.Is(err, playauth.ErrNoSigningKey):
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "playback tokens are not configured (set playback-token-key)"})
			return
		case err != nil:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.log.Info("playback token minted through the admin API", "stream", req.Stream, "expires", expires,
			"client_ip_bound", client.IsValid(), "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{
			"stream":  req.Stream,
			"token":   tok,
			"expires": expires.UTC().Format(time.RFC3339),
			"hls":     playauth.SignedPath(req.Stream, tok, "index.m3u8"),
			"dash":    playauth.SignedPath(req.Stream, tok, "manifest.mpd"),
		})
	})
}
