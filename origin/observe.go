package origin

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/observe"
	"github.com/liveorigin/liveorigin/packager"
)

// tracerName is the instrumentation scope of the playback spans.
const tracerName = "github.com/liveorigin/liveorigin/origin"

// observeRequests is the outermost playback middleware. Every request gets
// an id (a sane incoming X-Request-Id, else a fresh one), sent back in the
// response; once answered it is counted by kind and status (requests that
// reached a route's handler: instrument sets the kind; the origin-secret
// refusal counts itself), fed to the viewer estimates, logged at debug
// level (the access log) and, with tracing on, recorded as a server span.
// An aborted response (a growing segment that could not complete) is
// counted and logged, then the connection is closed without ending the
// body.
//
// With tracing and debug logging off this costs the one allocation of the
// statusWriter and no more.
func (s *Server) observeRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, kind: KindOther}
		id := headerValue(r.Header, observe.RequestIDHeader)
		if !observe.SaneRequestID(id) {
			observe.NewRequestID(&sw.idBuf)
			// The bytes live in sw, are never written again, and sw lives
			// as long as the string: no copy.
			id = unsafe.String(&sw.idBuf[0], len(sw.idBuf))
		}
		sw.requestID[0] = id
		w.Header()[observe.RequestIDHeader] = sw.requestID[:]
		var span trace.Span
		if s.tracer != nil {
			span = s.startSpan(r, id)
		}

		next.ServeHTTP(sw, r)

		d := time.Since(start)
		if sw.instrumented {
			s.metrics.observe(sw.kind, sw.status, sw.bytes, d)
			if sw.status < http.StatusBadRequest {
				s.recordViewer(r, sw)
			}
		}
		if span != nil {
			endSpan(span, r, sw)
		}
		if ctx := r.Context(); s.log.Enabled(ctx, slog.LevelDebug) {
			s.accessLog(ctx, r, sw, d, span)
		}
		if sw.aborted {
			panic(http.ErrAbortHandler)
		}
	})
}

// headerValue is h.Get(key) for a key already in canonical form: no
// canonicalisation on the hot path.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// recordViewer feeds the viewer estimates with an answered request of a
// stream.
func (s *Server) recordViewer(r *http.Request, sw *statusWriter) {
	if sw.stream == "" {
		return
	}
	sid := playbackSessionID(r)
	if sid == "" && sw.reload == 0 {
		return
	}
	s.viewers.record(sw.stream, sid, sw.reload, s.opts.Now())
}

// noteReload marks an answered playlist or MPD request as the poll of a
// viewer who comes back every reload (the viewers' request_rate): only
// for the stream's first rendition, which every viewer polls.
func noteReload(w http.ResponseWriter, tl *packager.Timeline, rendition string, reload time.Duration) {
	sw, ok := w.(*statusWriter)
	if !ok || len(tl.Tracks) == 0 || (rendition != "" && tl.Tracks[0].Name != rendition) {
		return
	}
	sw.reload = reload
}

// requestID returns the id of a request answered through w, for log lines.
func requestID(w http.ResponseWriter) string {
	if sw, ok := w.(*statusWriter); ok {
		return sw.requestID[0]
	}
	return ""
}

// startSpan starts a playback request's server span, a child of the
// incoming traceparent's span when there is one. The handlers need no
// context of it (they call nothing), so the request is not copied.
func (s *Server) startSpan(r *http.Request, id string) trace.Span {
	ctx := observe.Extract(r.Context(), r.Header)
	_, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", logPath(r.URL.Path)),
		attribute.String("liveorigin.request_id", id),
	))
	return span
}

// endSpan names the span by the kind of object (a bounded set) and ends it.
func endSpan(span trace.Span, r *http.Request, sw *statusWriter) {
	span.SetName(r.Method + " " + string(sw.kind))
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", sw.status),
		attribute.Int64("http.response.body.size", sw.bytes),
		attribute.String("liveorigin.kind", string(sw.kind)),
	}
	if sw.stream != "" {
		attrs = append(attrs, attribute.String("liveorigin.stream", sw.stream))
	}
	span.SetAttributes(attrs...)
	switch {
	case sw.aborted:
		span.SetStatus(codes.Error, "response aborted")
	case sw.status >= http.StatusInternalServerError:
		span.SetStatus(codes.Error, strconv.Itoa(sw.status))
	}
	span.End()
}

// accessLog writes the request's access log line (debug level). The query
// is redacted: only the LL-HLS directives keep their values.
func (s *Server) accessLog(ctx context.Context, r *http.Request, sw *statusWriter, d time.Duration, span trace.Span) {
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("request_id", sw.requestID[0]),
		slog.String("method", r.Method),
		slog.String("path", logPath(r.URL.Path)))
	if r.URL.RawQuery != "" {
		attrs = append(attrs, slog.String("query", observe.RedactQuery(r.URL.RawQuery)))
	}
	attrs = append(attrs,
		slog.Int("status", sw.status),
		slog.Int64("bytes", sw.bytes),
		slog.Duration("duration", d),
		slog.String("kind", string(sw.kind)),
		slog.String("remote", r.RemoteAddr))
	if sw.stream != "" {
		attrs = append(attrs, slog.String("stream", sw.stream))
	}
	if span != nil {
		if sc := span.SpanContext(); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
	}
	if sw.aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "http request", attrs...)
}
