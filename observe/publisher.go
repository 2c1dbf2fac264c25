package observe

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/ingest"
)

// tracerName is the instrumentation scope of the publish spans.
const tracerName = "github.com/liveorigin/liveorigin/observe"

// Publisher is the outermost ingest.Publisher, between the protocol
// adapters and the rest (the webhooks, the packager's Registry). It names
// each publish session before anything else sees it
// (PublishInfo.SessionID, so that the adapters' logs, the webhooks, the
// packager and the spans agree), and with a tracer runs the session in a
// "publish NAME" span, from Publish to Close: the wrapped Publisher gets
// the span in its context, so the webhooks send its traceparent and the
// packager makes the session's segment spans its children.
type Publisher struct {
	next   ingest.Publisher
	tracer trace.Tracer // nil: no tracing
}

var _ ingest.Publisher = (*Publisher)(nil)

// NewPublisher wraps next; tp nil turns tracing off.
func NewPublisher(next ingest.Publisher, tp trace.TracerProvider) *Publisher {
	p := &Publisher{next: next}
	if tp != nil {
		p.tracer = tp.Tracer(tracerName)
	}
	return p
}

// Publish implements ingest.Publisher.
func (p *Publisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	if info.SessionID == "" {
		info.SessionID = ingest.NewSessionID()
	}
	if p.tracer == nil {
		sess, err := p.next.Publish(ctx, info)
		if err != nil {
			return nil, err
		}
		return &session{Session: sess, id: info.SessionID}, nil
	}
	ctx, span := p.tracer.Start(ctx, "publish "+info.Name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(publishAttributes(info)...))
	sess, err := p.next.Publish(ctx, info)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish refused")
		span.End()
		return nil, err
	}
	return &session{Session: sess, id: info.SessionID, span: span}, nil
}

// publishAttributes describe a publish session (never its query: a secret).
func publishAttributes(info ingest.PublishInfo) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attribute.String("liveorigin.stream", info.Name),
		attribute.String("liveorigin.session", info.SessionID),
		attribute.String("liveorigin.protocol", info.Protocol),
	}
	if host, port, err := net.SplitHostPort(info.RemoteAddr); err == nil {
		a = append(a, attribute.String("network.peer.address", host))
		if n, err := strconv.Atoi(port); err == nil {
			a = append(a, attribute.Int("network.peer.port", n))
		}
	} else if info.RemoteAddr != "" {
		a = append(a, attribute.String("network.peer.address", info.RemoteAddr))
	}
	return a
}

// session is a publish session seen through the Publisher: it ends the
// span when the adapter closes it, and passes the optional capabilities on
// (ingest.SessionID, ingest.ReportLink).
type session struct {
	ingest.Session
	id   string
	span trace.Span // nil without tracing
	once sync.Once
}

func (s *session) ID() string             { return s.id }
func (s *session) Unwrap() ingest.Session { return s.Session }

func (s *session) ReportLink(st ingest.LinkStats) { ingest.ReportLink(s.Session, st) }

// Start records the declared tracks on the span.
func (s *session) Start(tracks []ingest.Track) error {
	err := s.Session.Start(tracks)
	if s.span != nil {
		names := make([]string, len(tracks))
		for i, t := range tracks {
			names[i] = string(t.Codec)
		}
		attrs := []attribute.KeyValue{attribute.String("liveorigin.codecs", strings.Join(names, ","))}
		if err != nil {
			attrs = append(attrs, attribute.String("error", err.Error()))
		}
		s.span.AddEvent("tracks declared", trace.WithAttributes(attrs...))
	}
	return err
}

// Close closes the wrapped session and ends the span: an error status
// when the session ended by an error other than shutdown.
func (s *session) Close(err error) {
	s.Session.Close(err)
	s.once.Do(func() {
		if s.span == nil {
			return
		}
		if err != nil {
			s.span.RecordError(err)
			if !errors.Is(err, ingest.ErrClosed) {
				s.span.SetStatus(codes.Error, "publish session ended by an error")
			}
		}
		s.span.End()
	})
}
