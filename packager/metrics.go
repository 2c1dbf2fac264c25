package packager

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

// Publish results, the values of liveorigin_publish_sessions_total{result}.
const (
	resultAccepted         = "accepted"
	resultRefusedDuplicate = "refused_duplicate"
	resultRefusedName      = "refused_name"
	resultRefusedLimit     = "refused_limit"
	resultRefusedClosed    = "refused_closed"
	resultRefusedTakenDown = "refused_taken_down"
)

// Timestamp anomaly types, the values of
// liveorigin_packager_timestamp_anomalies_total{type}.
const (
	anomalyNonMonotonic = "nonmonotonic" // DTS not increasing: clamped to the previous DTS + 1 tick
	anomalyJump         = "jump"         // a gap or jump beyond tolerance: resynchronised
	anomalyMalformed    = "malformed"    // an access unit that cannot be packaged: dropped
)

// Reasons a frame is dropped, the values of
// liveorigin_ingest_frames_dropped_total{reason}.
const (
	dropMalformed  = "malformed"   // empty, or an Opus packet without a valid TOC
	dropNoKeyframe = "no_keyframe" // video before the first key frame of a period: undecodable
	dropTooEarly   = "too_early"   // audio from before the period's start (ahead of the first video key frame, or a returning publisher)
)

// Publisher connection types, the values of
// liveorigin_publisher_connects_total{type}.
const (
	connectFirst     = "first"     // the publisher starts the stream
	connectReconnect = "reconnect" // a publisher continues the stream within the reconnect grace
)

// metrics are the package's Prometheus collectors. Stream label values are
// bounded by Options.MaxStreams and deleted when a stream is removed.
type metrics struct {
	frames           *prometheus.CounterVec
	bytes            *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	connects         *prometheus.CounterVec
	segments         *prometheus.CounterVec
	streamsActive    prometheus.Gauge
	publishersActive prometheus.Gauge
	sessions         *prometheus.CounterVec
	anomalies        *prometheus.CounterVec
	forcedCuts       *prometheus.CounterVec
	bytesHeld        *prometheus.GaugeVec
	segmentDuration  *prometheus.HistogramVec
	partDuration     *prometheus.HistogramVec
	publishDelay     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, r *Registry) (*metrics, error) {
	m := &metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_ingest_frames_total",
			Help: "Access units received from publishers.",
		}, []string{"stream", "kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_ingest_bytes_total",
			Help: "Access unit payload bytes received from publishers.",
		}, []string{"stream", "kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_ingest_frames_dropped_total",
			Help: "Access units received but not packaged, by reason (malformed, no_keyframe, too_early).",
		}, []string{"stream", "kind", "reason"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_publisher_connects_total",
			Help: "Publishers accepted for a stream: first (starts the stream) or reconnect (continues it within the reconnect grace).",
		}, []string{"stream", "type"}),
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_packager_segments_total",
			Help: "CMAF media segments produced.",
		}, []string{"stream", "kind"}),
		streamsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveorigin_streams_active",
			Help: "Streams that have not ended (published or waiting for their publisher to return).",
		}),
		publishersActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveorigin_publishers_active",
			Help: "Publish sessions currently connected.",
		}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_publish_sessions_total",
			Help: "Publish attempts by result.",
		}, []string{"result"}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_packager_timestamp_anomalies_total",
			Help: "Access units whose timestamps had to be corrected (nonmonotonic, jump) or that were dropped (malformed).",
		}, []string{"stream", "kind", "type"}),
		forcedCuts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_packager_forced_cuts_total",
			Help: "Segments cut without a key frame because the encoder's keyframe interval exceeds the target duration.",
		}, []string{"stream"}),
		bytesHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_packager_bytes_held",
			Help: "Bytes of init and media segments held in memory for the stream's window.",
		}, []string{"stream"}),
		segmentDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "liveorigin_packager_segment_duration_seconds",
			Help:    "Duration of produced media segments.",
			Buckets: []float64{0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 8, 10, 15, 20},
		}, []string{"kind"}),
		partDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "liveorigin_packager_part_duration_seconds",
			Help:    "Duration of produced LL-HLS parts (CMAF chunks).",
			Buckets: []float64{0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.75, 1, 1.5, 2},
		}, []string{"kind"}),
		publishDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "liveorigin_packager_segment_publish_delay_seconds",
			Help: "From the arrival of the access unit that closed a segment (for a follower track, the leader's " +
				"key frame that cut it) to the segment's appearing in the playlist.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.frames, m.bytes, m.dropped, m.connects, m.segments, m.streamsActive,
		m.publishersActive, m.sessions, m.anomalies, m.forcedCuts, m.bytesHeld, m.segmentDuration, m.partDuration,
		m.publishDelay, streamCollector{r}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("packager metrics: %w", err)
		}
	}
	// Expose every result from the start so that rate() works from zero.
	for _, r := range []string{resultAccepted, resultRefusedDuplicate, resultRefusedName, resultRefusedLimit, resultRefusedClosed, resultRefusedTakenDown} {
		m.sessions.WithLabelValues(r)
	}
	return m, nil
}

// initStream creates a new stream's event counters at zero, so that the
// first event is an increase a rate() or increase() sees (a series that
// appears at 1 has no increase in Prometheus 2).
func (m *metrics) initStream(name string) {
	m.connects.WithLabelValues(name, "first")
	m.connects.WithLabelValues(name, "reconnect")
	m.forcedCuts.WithLabelValues(name)
}

// initTrack does the same for a track's counters of anomalies and drops.
func (m *metrics) initTrack(name, kind string) {
	for _, typ := range []string{anomalyNonMonotonic, anomalyJump, anomalyMalformed} {
		m.anomalies.WithLabelValues(name, kind, typ)
	}
	for _, reason := range []string{dropMalformed, dropNoKeyframe, dropTooEarly} {
		m.dropped.WithLabelValues(name, kind, reason)
	}
}

// deleteStream drops every series labelled with the stream's name.
func (m *metrics) deleteStream(name string) {
	l := prometheus.Labels{"stream": name}
	m.frames.DeletePartialMatch(l)
	m.bytes.DeletePartialMatch(l)
	m.dropped.DeletePartialMatch(l)
	m.connects.DeletePartialMatch(l)
	m.segments.DeletePartialMatch(l)
	m.anomalies.DeletePartialMatch(l)
	m.forcedCuts.DeletePartialMatch(l)
	m.bytesHeld.DeletePartialMatch(l)
}

// streamCollector reports, at scrape time, the per-stream gauges that the
// packager measures anyway (the same figures as the JSON API): no series
// to keep up to date on the ingest path, none left behind by a removed
// stream.
type streamCollector struct{ r *Registry }

var (
	descFrameRate = prometheus.NewDesc("liveorigin_ingest_frames_per_second",
		"Video frame rate of the stream's leader track, measured on its timestamps over the window.", []string{"stream"}, nil)
	descKeyframeInterval = prometheus.NewDesc("liveorigin_ingest_keyframe_interval_seconds",
		"Time between the last two key frames of the stream's leader video track (the encoder's GOP duration).", []string{"stream"}, nil)
	descSessionStart = prometheus.NewDesc("liveorigin_ingest_session_start_time_seconds",
		"Unix time the stream's current publisher connected; absent while no publisher is connected.", []string{"stream"}, nil)
	descStreamStart = prometheus.NewDesc("liveorigin_stream_start_time_seconds",
		"Unix time the stream started (a publisher returning within the reconnect grace keeps it).", []string{"stream"}, nil)
)

func (c streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFrameRate
	ch <- descKeyframeInterval
	ch <- descSessionStart
	ch <- descStreamStart
}

func (c streamCollector) Collect(ch chan<- prometheus.Metric) {
	if c.r == nil {
		return
	}
	for _, st := range c.r.list() {
		st.mu.Lock()
		if st.removed {
			st.mu.Unlock()
			continue
		}
		var (
			started       = st.created
			sessStart     time.Time
			fps, gop      float64
			hasFPS, gopOK bool
		)
		if st.sess != nil {
			sessStart = st.sess.started
		}
		if len(st.tracks) > 0 && st.tracks[0].kind == ingest.Video {
			lead := st.tracks[0]
			_, _, _, f := lead.windowRates()
			fps, hasFPS = roundRate(f), f > 0
			gop, gopOK = lead.gop.Seconds(), lead.gop > 0
		}
		st.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descStreamStart, prometheus.GaugeValue, unixSeconds(started), st.name)
		if !sessStart.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSessionStart, prometheus.GaugeValue, unixSeconds(sessStart), st.name)
		}
		if hasFPS {
			ch <- prometheus.MustNewConstMetric(descFrameRate, prometheus.GaugeValue, fps, st.name)
		}
		if gopOK {
			ch <- prometheus.MustNewConstMetric(descKeyframeInterval, prometheus.GaugeValue, gop, st.name)
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
