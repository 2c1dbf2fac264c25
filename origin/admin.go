package origin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminOptions configure the admin handler.
type AdminOptions struct {
	// Gatherer serves /metrics. Required.
	Gatherer prometheus.Gatherer
	// Ready reports whether the server takes traffic (/readyz); nil means
	// always ready.
	Ready func() bool
	// PullSources lists the configured pull sources (RTSP cameras) with
	// their state, for /api/v1/streams and /api/v1/sources; nil when there
	// are none.
	PullSources func() any
	// Token, when set, guards /api/v1: every request must carry
	// "Authorization: Bearer TOKEN". Without it the read-only API is open
	// (the admin listener is on loopback by default) and the endpoints that
	// change something answer 403.
	Token string
	// Takedown takes a stream down (DELETE /api/v1/streams/NAME): the
	// daemon disconnects the publisher, refuses it, drops the stream and
	// purges the CDN. held tells whether the stream was held.
	// ctx carries the API request's trace context (for the purge's
	// traceparent).
	Takedown func(ctx context.Context, name string) (held bool, err error)
	// Kick disconnects a stream's publisher (POST
	// /api/v1/streams/NAME/kick); it reports whether there was one.
	Kick func(name string) bool
	// Purge queues a CDN purge (POST /api/v1/purge): of the given URL paths
	// of a stream, or of the whole stream when paths is empty. It returns
	// the backends the purge goes to. ctx as for Takedown.
	Purge func(ctx context.Context, stream string, paths []string) ([]string, error)
	// Server describes the daemon for GET /api/v1/server (version,
	// uptime, configuration summary without secrets, counts, listeners,
	// Go runtime); nil: 501.
	Server func() any
	// LogLevel reports the process log level (GET /api/v1/log-level) and
	// SetLogLevel changes it (PUT, with the admin token); nil, or an error
	// from SetLogLevel (a level that cannot change): 501.
	LogLevel    func() slog.Level
	SetLogLevel func(slog.Level) error
	// Reload re-reads the configuration (POST /api/v1/reload), as SIGHUP
	// does. An error refuses the new configuration (the old one stays);
	// one that wraps several (errors.Join) is one problem each.
	Reload func() (ReloadResult, error)
}

// ReloadResult is what a configuration reload did.
type ReloadResult struct {
	// Applied lists what changed and took effect (option names, "purge",
	// "webhooks").
	Applied []string `json:"applied"`
	// NeedsRestart lists the options whose new values take effect only
	// after a restart; until then they keep their old values.
	NeedsRestart []string `json:"needs_restart"`
	// CertificateErrors lists the TLS pairs that did not load again (the
	// listener keeps the pair in use); omitted when none failed.
	CertificateErrors []string `json:"certificate_errors,omitempty"`
}

// AdminHandler serves the admin listener: /metrics, /healthz, /readyz,
// /debug/pprof and the JSON API under /api/v1 (see docs/api.md).
func (s *Server) AdminHandler(o AdminOptions) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.GetHead)
	r.Handle("/metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil && !o.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	r.Mount("/debug", middleware.Profiler())
	api := chi.NewRouter()
	api.Use(s.traceAPI, bearer(o.Token))
	api.Get("/streams", func(w http.ResponseWriter, _ *http.Request) {
		doc := map[string]any{"streams": s.streamDocs()}
		if o.PullSources != nil {
			doc["pull_sources"] = o.PullSources()
		}
		writeJSON(w, http.StatusOK, doc)
	})
	api.Get("/sources", func(w http.ResponseWriter, _ *http.Request) {
		var sources any = []any{}
		if o.PullSources != nil {
			sources = o.PullSources()
		}
		writeJSON(w, http.StatusOK, map[string]any{"pull_sources": sources})
	})
	api.Get("/streams/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		for _, st := range s.streamDocs() {
			if st.Name == name {
				writeJSON(w, http.StatusOK, st)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no stream named " + name})
	})
	mutating := api.With(requireToken(o.Token))
	mutating.Delete("/streams/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		if o.Takedown == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "takedown is not available"})
			return
		}
		held, err := o.Takedown(r.Context(), name)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.log.Info("stream taken down through the admin API", "stream", name, "held", held, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"stream": name, "taken_down": true, "was_held": held})
	})
	mutating.Post("/streams/{name}/kick", func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		if o.Kick == nil || !o.Kick(name) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no publisher on stream " + name})
			return
		}
		s.log.Info("publisher kicked through the admin API", "stream", name, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"stream": name, "kicked": true})
	})
	mutating.Post("/purge", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream string   `json:"stream"`
			Paths  []string `json:"paths"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error() + ` (want {"stream": "NAME"} or {"stream": "NAME", "paths": ["/live/NAME/v0.m3u8"]})`})
			return
		}
		if o.Purge == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "purge is not available"})
			return
		}
		backends, err := o.Purge(r.Context(), req.Stream, req.Paths)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"stream": req.Stream, "paths": req.Paths, "backends": backends})
	})
	mutating.Post("/reload", func(w http.ResponseWriter, r *http.Request) {
		if o.Reload == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "reload is not available"})
			return
		}
		res, err := o.Reload()
		if err != nil {
			var problems []string
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					problems = append(problems, e.Error())
				}
			} else {
				problems = []string{err.Error()}
			}
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"reloaded": false,
				"error": "configuration refused; the running one stays", "errors": problems})
			return
		}
		s.log.Info("configuration reloaded through the admin API", "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "applied": nonNil(res.Applied), "needs_restart": nonNil(res.NeedsRestart)})
	})
	s.observeRoutes(api, mutating, o)
	s.tokenRoutes(mutating)
	api.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	api.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	})
	r.Mount("/api/v1", api)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return r
}

// bearer checks "Authorization: Bearer TOKEN" when a token is configured
// (constant-time), and answers 401 otherwise.
func bearer(token string) func(http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="liveorigin admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token (admin-token)"})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requireToken refuses changes when no admin token is configured.
func requireToken(token string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token != "" {
			return next // bearer has checked it
		}
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "set admin-token to enable the endpoints that change something"})
		})
	}
}

// nonNil makes an empty list [] in JSON, not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// slogPrinter adapts promhttp's error log to slog.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("metrics", "err", v) }
