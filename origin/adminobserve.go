package origin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/observe"
	"github.com/liveorigin/liveorigin/packager"
)

// The admin API's observability routes (docs/api.md): the server's state
// and the log level; and the stream objects with their viewer estimates.

// StreamDoc is a stream object of the JSON API: the packager's description
// and the origin's viewer estimate.
type StreamDoc struct {
	packager.StreamInfo
	ViewersEstimate ViewersEstimate `json:"viewers_estimate"`
}

// streamDocs describes every stream held, sorted by name.
func (s *Server) streamDocs() []StreamDoc {
	infos := s.opts.Streams.Streams()
	now := s.opts.Now()
	docs := make([]StreamDoc, len(infos))
	for i, info := range infos {
		docs[i] = StreamDoc{StreamInfo: info, ViewersEstimate: s.viewers.estimate(info.Name, now)}
	}
	return docs
}

// ViewersTotal sums the viewer estimates of every stream (the server
// object's counts).
func (s *Server) ViewersTotal() ViewersEstimate {
	var t ViewersEstimate
	for _, e := range s.viewers.all(s.opts.Now()) {
		t.Sessions += e.Sessions
		t.RequestRate += e.RequestRate
	}
	return t
}

// logLevelNames are the levels the API (and log-level) accept.
var logLevelNames = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// levelName is the lower-case name of a level ("debug"); others as slog
// prints them ("INFO+2").
func levelName(l slog.Level) string {
	for name, v := range logLevelNames {
		if v == l {
			return name
		}
	}
	return l.String()
}

func (s *Server) observeRoutes(api, mutating chi.Router, o AdminOptions) {
	api.Get("/server", func(w http.ResponseWriter, _ *http.Request) {
		if o.Server == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "server state is not available"})
			return
		}
		writeJSON(w, http.StatusOK, o.Server())
	})
	api.Get("/log-level", func(w http.ResponseWriter, _ *http.Request) {
		if o.LogLevel == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "the log level is not available"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"level": levelName(o.LogLevel())})
	})
	mutating.Put("/log-level", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Level string `json:"level"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error() + ` (want {"level": "debug"})`})
			return
		}
		lvl, ok := logLevelNames[strings.ToLower(req.Level)]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "level: want one of debug, info, warn, error"})
			return
		}
		if o.LogLevel == nil || o.SetLogLevel == nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "the log level is not available"})
			return
		}
		old := o.LogLevel()
		if err := o.SetLogLevel(lvl); err != nil {
			writeJSON(w, http.StatusNotImplemented, map[string]string{"error": err.Error()})
			return
		}
		// At warn (error when the new level is error), so that the change
		// shows in the log it changes.
		s.log.Log(r.Context(), max(lvl, slog.LevelWarn), "log level changed through the admin API",
			"from", levelName(old), "to", levelName(lvl), "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]string{"level": levelName(lvl)})
	})
}

// traceAPI takes the W3C trace context of an API request, so that what it
// causes (a takedown's or a manual purge's CDN calls) carries its
// traceparent; with tracing on, the request gets a server span too.
func (s *Server) traceAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := observe.Extract(r.Context(), r.Header)
		if s.tracer == nil {
			if ctx != r.Context() {
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(w, r)
			return
		}
		ctx, span := s.tracer.Start(ctx, r.Method+" /api/v1", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if pattern := chi.RouteContext(r.Context()).RoutePattern(); pattern != "" {
			span.SetName(r.Method + " " + pattern)
		}
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}
