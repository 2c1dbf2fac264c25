package origin

import (
	"encoding/json"
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
	r.Get("/api/v1/streams", func(w http.ResponseWriter, _ *http.Request) {
		doc := map[string]any{"streams": s.opts.Streams.Streams()}
		if o.PullSources != nil {
			doc["pull_sources"] = o.PullSources()
		}
		writeJSON(w, http.StatusOK, doc)
	})
	r.Get("/api/v1/sources", func(w http.ResponseWriter, _ *http.Request) {
		var sources any = []any{}
		if o.PullSources != nil {
			sources = o.PullSources()
		}
		writeJSON(w, http.StatusOK, map[string]any{"pull_sources": sources})
	})
	r.Get("/api/v1/streams/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		for _, st := range s.opts.Streams.Streams() {
			if st.Name == name {
				writeJSON(w, http.StatusOK, st)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no stream named " + name})
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return r
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
