// Package observe holds what liveorigin's observability needs beyond
// Prometheus and slog, in one place: the OpenTelemetry tracer provider (off
// unless an OTLP endpoint is configured), the publish-session span
// (Publisher), W3C trace-context helpers for the outbound calls (CDN purges,
// webhooks), and request ids and query redaction for the HTTP access log.
//
// Tracing is off by default and then costs nothing: NewTracerProvider
// returns nil, and every component takes a nil trace.TracerProvider as
// "do not trace" (no span is started, no context is derived).
//
//	tp, err := observe.NewTracerProvider(observe.TracingOptions{Endpoint: "http://collector:4318"})
//	if err != nil { ... }
//	if tp != nil { defer tp.Shutdown(ctx) } // flushes the spans still batched
//	pub := observe.NewPublisher(registry, tp) // the adapters publish through it
//
// The span tree of a publish session (docs/tracing.md):
//
//	publish NAME            observe.Publisher: Publish to Close (webhooks get its traceparent)
//	└── segment v0          packager: from the access unit that closed the segment to its publication
//
// and of a playback request: one server span per request (origin), a child
// of the caller's span when the request carries a traceparent header.
package observe
