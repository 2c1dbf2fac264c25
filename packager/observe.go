package packager

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/ingest"
)

// Observability of the packaging path: the session's optional interfaces
// (ingest.SessionID, ingest.LinkReporter), the segment publish delay and
// the segment spans.

// tracerName is the instrumentation scope of the packager's spans.
const tracerName = "github.com/liveorigin/liveorigin/packager"

// ID is the publish-session id (ingest.SessionID).
func (s *session) ID() string { return s.id }

// ReportLink keeps the publisher's newest link statistics for StreamInfo
// (ingest.LinkReporter).
func (s *session) ReportLink(ls ingest.LinkStats) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.link = &ls
}

// traceFrom takes the parent of the session's segment spans from the
// Publish context: the publish span of observe.Publisher.
func (s *session) traceFrom(ctx context.Context) {
	if s.r.tracer == nil {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	s.st.mu.Lock()
	s.parent = sc
	s.st.mu.Unlock()
}

// unpublishedSegment is a segment made but not yet in a snapshot.
type unpublishedSegment struct {
	tr   *track
	seg  *Segment
	sess *session // the session that produced it
	// arrived is when the access unit that closed it arrived: for a
	// follower cut by the leader, the leader's key frame.
	arrived time.Time
}

// segmentMade remembers a closed segment until a snapshot shows it.
func (st *stream) segmentMade(tr *track, seg *Segment) {
	arrived := st.auAt
	if !tr.cutAt.IsZero() {
		arrived, tr.cutAt = tr.cutAt, time.Time{}
	}
	st.unpublished = append(st.unpublished, unpublishedSegment{tr: tr, seg: seg, sess: st.lastSess, arrived: arrived})
}

// segmentsPublished is called once a snapshot shows the segments made since
// the last one: it observes their publish delay and records their spans.
func (st *stream) segmentsPublished() {
	if len(st.unpublished) == 0 {
		return
	}
	now := st.r.opts.Now()
	for i, u := range st.unpublished {
		u.tr.mDelay.Observe(max(now.Sub(u.arrived), 0).Seconds())
		if st.r.tracer != nil && u.sess != nil {
			st.segmentSpan(u, now)
		}
		st.unpublished[i] = unpublishedSegment{}
	}
	st.unpublished = st.unpublished[:0]
}

// segmentSpan records a segment's span, a child of its session's publish
// span: from the access unit that closed it to its publication.
func (st *stream) segmentSpan(u unpublishedSegment, published time.Time) {
	ctx := context.Background()
	if u.sess.parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, u.sess.parent)
	}
	_, span := st.r.tracer.Start(ctx, "segment "+u.tr.name, trace.WithTimestamp(u.arrived), trace.WithAttributes(
		attribute.String("liveorigin.stream", st.name),
		attribute.String("liveorigin.session", u.sess.id),
		attribute.String("liveorigin.track", u.tr.name),
		attribute.Int64("liveorigin.segment.sequence", int64(u.seg.Seq)),
		attribute.Float64("liveorigin.segment.duration_seconds", u.seg.Length().Seconds()),
		attribute.Int("liveorigin.segment.bytes", len(u.seg.Data)),
		attribute.Int("liveorigin.segment.parts", len(u.seg.Parts)),
		attribute.Bool("liveorigin.segment.independent", u.seg.Independent),
	))
	span.End(trace.WithTimestamp(published))
}

// sessionLog returns the logger of lines about the stream: with the newest
// publish session (its id, protocol and remote address) once there was one.
func (st *stream) sessionLog() *slog.Logger {
	if s := st.lastSess; s != nil {
		return s.log
	}
	return st.log
}

// dropped counts an access unit that is not packaged.
func (tr *track) dropped(reason string) {
	c, ok := tr.mDropped[reason]
	if !ok {
		c = tr.st.r.metrics.dropped.WithLabelValues(tr.st.name, tr.kind.String(), reason)
		tr.mDropped[reason] = c
	}
	c.Inc()
}

// keyFrame measures the keyframe interval (GOP duration) of a video
// track at each key frame, in track ticks.
func (tr *track) keyFrame(dts uint64) {
	if tr.hasLastKey && dts > tr.lastKey {
		tr.gop = ticks(dts-tr.lastKey, tr.cfg.timescale)
	}
	tr.lastKey, tr.hasLastKey = dts, true
}
