package packager

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
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

// metrics are the package's Prometheus collectors. Stream label values are
// bounded by Options.MaxStreams and deleted when a stream is removed.
type metrics struct {
	frames           *prometheus.CounterVec
	bytes            *prometheus.CounterVec
	segments         *prometheus.CounterVec
	streamsActive    prometheus.Gauge
	publishersActive prometheus.Gauge
	sessions         *prometheus.CounterVec
	anomalies        *prometheus.CounterVec
	forcedCuts       *prometheus.CounterVec
	bytesHeld        *prometheus.GaugeVec
	segmentDuration  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_ingest_frames_total",
			Help: "Access units received from publishers.",
		}, []string{"stream", "kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_ingest_bytes_total",
			Help: "Access unit payload bytes received from publishers.",
		}, []string{"stream", "kind"}),
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
	}
	for _, c := range []prometheus.Collector{m.frames, m.bytes, m.segments, m.streamsActive, m.publishersActive,
		m.sessions, m.anomalies, m.forcedCuts, m.bytesHeld, m.segmentDuration} {
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

// deleteStream drops every series labelled with the stream's name.
func (m *metrics) deleteStream(name string) {
	l := prometheus.Labels{"stream": name}
	m.frames.DeletePartialMatch(l)
	m.bytes.DeletePartialMatch(l)
	m.segments.DeletePartialMatch(l)
	m.anomalies.DeletePartialMatch(l)
	m.forcedCuts.DeletePartialMatch(l)
	m.bytesHeld.DeletePartialMatch(l)
}
