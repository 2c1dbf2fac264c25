package packager

import (
	"context"
	"sort"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/ingest"
)

// pacedWrite feeds access units of one 90 kHz clock, advancing the fake
// clock to each one's DTS (measured from the first), as a live source does.
func (e *testEnv) pacedWrite(sess ingest.Session, aus []ingest.AccessUnit) {
	e.t.Helper()
	start := e.clock.Now()
	base := aus[0].DTS
	for _, au := range aus {
		at := start.Add(time.Duration(au.DTS-base) * time.Second / 90000)
		if d := at.Sub(e.clock.Now()); d > 0 {
			e.clock.Advance(d)
		}
		if err := sess.WriteAU(au); err != nil {
			e.t.Fatalf("WriteAU: %v", err)
		}
	}
}

func TestObserveMetrics(t *testing.T) {
	e := newEnv(t, Options{SegmentTarget: time.Second, ReconnectGrace: 10 * time.Second})
	sess := e.publish("obs", videoTrack(t, 90000), aacTrack(t, 90000))
	// Two frames before the first key frame: undecodable, dropped.
	lead := synthVideo(0, 2, 30, 1000, 0)
	for i := range lead {
		lead[i].Key = false
	}
	write(t, sess, lead)
	aus := interleave(synthVideo(0, 150, 30, 30, 6000), synthAAC(1, 235, 6000))
	e.pacedWrite(sess, aus)

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"liveorigin_ingest_frames_dropped_total", []string{"stream", "obs", "kind", "video", "reason", "no_keyframe"}, 2},
		{"liveorigin_publisher_connects_total", []string{"stream", "obs", "type", "first"}, 1},
		{"liveorigin_publisher_connects_total", []string{"stream", "obs", "type", "reconnect"}, 0},
		{"liveorigin_ingest_keyframe_interval_seconds", []string{"stream", "obs"}, 1},
		{"liveorigin_ingest_frames_per_second", []string{"stream", "obs"}, 30},
		{"liveorigin_ingest_session_start_time_seconds", []string{"stream", "obs"}, float64(epoch.Unix())},
		{"liveorigin_stream_start_time_seconds", []string{"stream", "obs"}, float64(epoch.Unix())},
	}
	for _, c := range checks {
		if got := e.metricValue(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Every segment's publish delay is observed; with parts on the segment
	// is published with the access unit that closes it: no delay.
	for _, kind := range []string{"video", "audio"} {
		segs := e.metricValue("liveorigin_packager_segments_total", "stream", "obs", "kind", kind)
		if segs < 3 || e.metricValue("liveorigin_packager_segment_publish_delay_seconds", "kind", kind) != segs {
			t.Errorf("%s: %v segments, %v publish delays observed", kind, segs,
				e.metricValue("liveorigin_packager_segment_publish_delay_seconds", "kind", kind))
		}
		if e.metricValue("liveorigin_packager_part_duration_seconds", "kind", kind) < 3*segs {
			t.Errorf("%s: %v parts observed for %v segments", kind, e.metricValue("liveorigin_packager_part_duration_seconds", "kind", kind), segs)
		}
	}

	// The API: GOP, the session id the adapters log, link statistics.
	ingest.ReportLink(sess, ingest.LinkStats{RTT: 25 * time.Millisecond, PacketsLost: 3, PacketsRetransmitted: 5, PacketsDropped: 1})
	info := e.r.Streams()[0]
	if info.Tracks[0].KeyframeInterval != 1 || info.Tracks[1].KeyframeInterval != 0 {
		t.Errorf("keyframe intervals %v, %v", info.Tracks[0].KeyframeInterval, info.Tracks[1].KeyframeInterval)
	}
	if id := ingest.SessionID(sess); id == "" || id != info.SessionID {
		t.Errorf("ingest.SessionID %q, StreamInfo.SessionID %q", id, info.SessionID)
	}
	if l := info.Link; l == nil || *l != (LinkInfo{RTT: 0.025, PacketsLost: 3, PacketsRetransmitted: 5, PacketsDropped: 1}) {
		t.Errorf("link %+v", l)
	}

	// The publisher leaves and comes back within the grace: a reconnect.
	sess.Close(nil)
	if e.metricValue("liveorigin_ingest_session_start_time_seconds", "stream", "obs") != 0 {
		t.Error("session start time still exported without a publisher")
	}
	if e.r.Streams()[0].Link != nil {
		t.Error("link statistics of a gone publisher")
	}
	e.clock.Advance(time.Second)
	sess = e.publish("obs", videoTrack(t, 90000), aacTrack(t, 90000))
	defer sess.Close(nil)
	if got := e.metricValue("liveorigin_publisher_connects_total", "stream", "obs", "type", "reconnect"); got != 1 {
		t.Errorf("reconnects %v", got)
	}
	if got := e.metricValue("liveorigin_ingest_session_start_time_seconds", "stream", "obs"); got != unixSeconds(e.clock.Now()) {
		t.Errorf("session start %v, want %v", got, unixSeconds(e.clock.Now()))
	}
}

// Without parts, a follower's segment waits for the first audio frame past
// the leader's cut: its publish delay counts from the leader's key frame.
func TestPublishDelayOfFollowers(t *testing.T) {
	e := newEnv(t, Options{SegmentTarget: time.Second, PartsOff: true})
	sess := e.publish("lag", videoTrack(t, 90000), aacTrack(t, 90000))
	// Audio arrives 300 ms after the video of the same instant (an
	// MPEG-TS muxer's interleaving).
	type arrival struct {
		at time.Duration
		au ingest.AccessUnit
	}
	var arrivals []arrival
	for _, au := range interleave(synthVideo(0, 90, 30, 30, 0), synthAAC(1, 141, 0)) {
		at := time.Duration(au.DTS) * time.Second / 90000
		if au.Track == 1 {
			at += 300 * time.Millisecond
		}
		arrivals = append(arrivals, arrival{at, au})
	}
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].at < arrivals[j].at })
	start := e.clock.Now()
	for _, a := range arrivals {
		if d := start.Add(a.at).Sub(e.clock.Now()); d > 0 {
			e.clock.Advance(d)
		}
		if err := sess.WriteAU(a.au); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "liveorigin_packager_segment_publish_delay_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			kind := m.GetLabel()[0].GetValue()
			sums[kind], counts[kind] = m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
		}
	}
	if counts["audio"] == 0 || counts["video"] == 0 {
		t.Fatalf("delays observed: %v", counts)
	}
	if avg := sums["audio"] / float64(counts["audio"]); avg < 0.25 || avg > 0.4 {
		t.Errorf("audio publish delay %.3f s on average, want about 0.3", avg)
	}
	if avg := sums["video"] / float64(counts["video"]); avg != 0 {
		t.Errorf("video publish delay %.3f s on average, want 0 (the fake clock does not move while it packages)", avg)
	}
	sess.Close(nil)
}

// Segment spans are children of the publish span in the Publish context.
func TestSegmentSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	e := newEnv(t, Options{SegmentTarget: time.Second, TracerProvider: tp})

	ctx, parent := tp.Tracer("test").Start(context.Background(), "publish traced")
	sess, err := e.r.Publish(ctx, testInfo("traced"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{videoTrack(t, 90000), aacTrack(t, 90000)}); err != nil {
		t.Fatal(err)
	}
	e.pacedWrite(sess, interleave(synthVideo(0, 90, 30, 30, 0), synthAAC(1, 141, 0)))
	sess.Close(nil)
	parent.End()

	var segs int
	for _, s := range rec.Ended() {
		if s.Name() == "publish traced" {
			continue
		}
		segs++
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %q is not a child of the publish span", s.Name())
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if attrs["liveorigin.stream"] != "traced" || attrs["liveorigin.session"] != ingest.SessionID(sess) ||
			(s.Name() != "segment v0" && s.Name() != "segment a0") || attrs["liveorigin.track"] != s.Name()[len("segment "):] {
			t.Errorf("span %q attributes %v", s.Name(), attrs)
		}
		if s.EndTime().Before(s.StartTime()) {
			t.Errorf("span %q ends before it starts", s.Name())
		}
	}
	want := int(e.metricValue("liveorigin_packager_segments_total", "stream", "traced", "kind", "video") +
		e.metricValue("liveorigin_packager_segments_total", "stream", "traced", "kind", "audio"))
	if segs != want || segs < 4 {
		t.Errorf("%d segment spans for %d segments", segs, want)
	}

	// Without a span in the context the segments are traced as roots.
	rec2 := tracetest.NewSpanRecorder()
	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec2))
	defer func() { _ = tp2.Shutdown(context.Background()) }()
	e2 := newEnv(t, Options{SegmentTarget: time.Second, TracerProvider: tp2})
	sess2 := e2.publish("root", videoTrack(t, 90000))
	e2.pacedWrite(sess2, synthVideo(0, 60, 30, 30, 0))
	sess2.Close(nil)
	if len(rec2.Ended()) == 0 {
		t.Fatal("no segment span")
	}
	for _, s := range rec2.Ended() {
		if s.Parent().IsValid() || s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("span %q: parent %v kind %v", s.Name(), s.Parent(), s.SpanKind())
		}
	}
}
