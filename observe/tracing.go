package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TracingOptions configure NewTracerProvider.
type TracingOptions struct {
	// Endpoint is the OTLP/HTTP collector, as OTEL_EXPORTER_OTLP_ENDPOINT:
	// a base URL such as http://collector:4318, to which /v1/traces is
	// appended (unless the path already ends with it); https:// for TLS.
	// Empty: the standard environment variables decide
	// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT); when
	// none is set, tracing is off.
	Endpoint string
	// Getenv reads the environment; default none (tracing only from
	// Endpoint). The exporter itself reads the other OTEL_EXPORTER_OTLP_*
	// variables (headers, timeout, compression) and the SDK
	// OTEL_TRACES_SAMPLER and OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME.
	Getenv func(string) string
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string
	// Logger receives the SDK's errors (a collector that cannot be
	// reached); default slog.Default(). The OpenTelemetry error handler is
	// process-wide: it is set only when tracing is on.
	Logger *slog.Logger
}

// Enabled reports whether the options turn tracing on.
func (o TracingOptions) Enabled() bool {
	return o.Endpoint != "" || o.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || o.getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

func (o TracingOptions) getenv(k string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(k)
}

// TracesURL is the URL the spans are sent to, for a configured endpoint
// (Endpoint rules); an error names what is wrong with it.
func TracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http:// or https:// URL (e.g. http://collector:4318)", endpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("the URL must not carry credentials, a query or a fragment (set headers with OTEL_EXPORTER_OTLP_HEADERS)")
	}
	if !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// Tracing is the tracer provider with its OTLP/HTTP exporter. Shutdown
// flushes the spans still batched and closes the exporter's connections.
type Tracing struct {
	*sdktrace.TracerProvider
	transport *http.Transport
}

// Shutdown flushes and stops the provider, then closes the idle
// connections to the collector.
func (t *Tracing) Shutdown(ctx context.Context) error {
	err := t.TracerProvider.Shutdown(ctx)
	t.transport.CloseIdleConnections()
	return err
}

// NewTracerProvider makes the tracer provider with its OTLP/HTTP exporter
// (protobuf, batched), or returns nil when tracing is off.
func NewTracerProvider(o TracingOptions) (*Tracing, error) {
	if !o.Enabled() {
		return nil, nil
	}
	// The exporter's own client shares one process-wide transport whose
	// connections outlive Shutdown; this one is ours to close. https
	// collectors are verified with the system roots.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	opts := []otlptracehttp.Option{otlptracehttp.WithHTTPClient(&http.Client{Transport: transport, Timeout: 10 * time.Second})}
	if o.Endpoint != "" {
		u, err := TracesURL(o.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("otel-endpoint: %w", err)
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	}
	// New does not connect: a collector that is down only costs dropped
	// spans (logged through the error handler).
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otel: OTLP exporter: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: span export failed", "err", err)
	}))
	res, err := resource.Merge(
		resource.NewSchemaless(attribute.String("service.name", "liveorigin"), attribute.String("service.version", o.ServiceVersion)),
		resource.Environment(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME win
	)
	if err != nil {
		res = resource.NewSchemaless(attribute.String("service.name", "liveorigin"))
	}
	return &Tracing{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), transport: transport}, nil
}

// traceContext is the W3C Trace Context propagator (traceparent and
// tracestate headers).
var traceContext = propagation.TraceContext{}

// Extract returns ctx with the remote span context of an incoming request's
// traceparent header, when it has a valid one.
func Extract(ctx context.Context, h http.Header) context.Context {
	return traceContext.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject sets the traceparent (and tracestate) headers of an outbound
// request from ctx's span; nothing when ctx has none.
func Inject(ctx context.Context, h http.Header) {
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
}

// TraceParent is the W3C traceparent of ctx's span ("00-TRACEID-SPANID-FLAGS"),
// or "" when ctx carries no valid span context: what purge.Request.TraceParent
// and the webhooks' TraceParent option take.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}
