package srt

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connections       prometheus.Counter
	connectionsActive prometheus.Gauge
	bytesReceived     prometheus.Counter
	errors            *prometheus.CounterVec
	refused           *prometheus.CounterVec

	// Link statistics per stream, while its SRT publisher is connected.
	rtt           *prometheus.GaugeVec
	lost          *prometheus.CounterVec
	retransmitted *prometheus.CounterVec
	dropped       *prometheus.CounterVec
}

// Error reasons (liveorigin_srt_errors_total): why a connection ended badly.
const (
	reasonAccept           = "accept"
	reasonReadTimeout      = "read_timeout"
	reasonNotTS            = "not_ts"
	reasonNoProgram        = "no_program"
	reasonNoMedia          = "no_media"
	reasonUnsupportedCodec = "unsupported_codec"
	reasonBadCodecConfig   = "bad_codec_config"
	reasonSession          = "session"
	reasonPanic            = "panic"
)

// Refusal reasons (liveorigin_srt_refused_total): why a caller was turned
// away during the handshake.
const (
	refuseBadStreamID       = "bad_streamid"
	refuseBadApp            = "bad_app"
	refuseBadName           = "bad_name"
	refuseReadMode          = "read_mode"
	refuseBadPassphrase     = "bad_passphrase"
	refuseAlreadyPublishing = "already_publishing"
	refuseShuttingDown      = "shutting_down"
	refuseRefused           = "refused"
	refuseOther             = "other"
)

// Label values are bounded, so that a hostile caller cannot create series;
// the stream label is bounded by the packager's stream limit.
var (
	errorReasons = []string{
		reasonAccept, reasonReadTimeout, reasonNotTS, reasonNoProgram, reasonNoMedia,
		reasonUnsupportedCodec, reasonBadCodecConfig, reasonSession, reasonPanic,
	}
	refuseReasons = []string{
		refuseBadStreamID, refuseBadApp, refuseBadName, refuseReadMode, refuseBadPassphrase,
		refuseAlreadyPublishing, refuseShuttingDown, refuseRefused, refuseOther,
	}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveorigin_srt_connections_total",
			Help: "SRT publishers accepted.",
		}),
		connectionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveorigin_srt_connections_active",
			Help: "SRT publishers connected now.",
		}),
		bytesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveorigin_srt_bytes_received_total",
			Help: "Payload bytes (MPEG-TS) received from SRT publishers.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_srt_errors_total",
			Help: "SRT connections ended by an error, by reason.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_srt_refused_total",
			Help: "SRT callers refused during the handshake, by reason.",
		}, []string{"reason"}),
		rtt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_srt_rtt_seconds",
			Help: "Round-trip time of the SRT link of a stream's publisher.",
		}, []string{"stream"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_srt_packets_lost_total",
			Help: "SRT packets the receiver found missing, per stream, during the current publish session.",
		}, []string{"stream"}),
		retransmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_srt_packets_retransmitted_total",
			Help: "Retransmitted SRT packets received, per stream, during the current publish session.",
		}, []string{"stream"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_srt_packets_dropped_total",
			Help: "SRT packets given up as too late to play, per stream, during the current publish session.",
		}, []string{"stream"}),
	}
	for _, r := range errorReasons {
		m.errors.WithLabelValues(r)
	}
	for _, r := range refuseReasons {
		m.refused.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.connections, m.connectionsActive, m.bytesReceived, m.errors, m.refused,
		m.rtt, m.lost, m.retransmitted, m.dropped,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("srt: register metrics: %w", err)
		}
	}
	return m, nil
}

// linkMetrics feeds one stream's link statistics. The transports report
// cumulative counters; the Prometheus counters get the increments, so they
// start at 0 with each publish session and are deleted when it ends (a
// counter that disappears and comes back is a reset to Prometheus).
type linkMetrics struct {
	stream                       string
	rtt                          prometheus.Gauge
	lost, retransmitted, dropped prometheus.Counter
	last                         linkStats
}

func (m *metrics) link(stream string) *linkMetrics {
	return &linkMetrics{
		stream:        stream,
		rtt:           m.rtt.WithLabelValues(stream),
		lost:          m.lost.WithLabelValues(stream),
		retransmitted: m.retransmitted.WithLabelValues(stream),
		dropped:       m.dropped.WithLabelValues(stream),
	}
}

func (l *linkMetrics) update(s linkStats) {
	l.rtt.Set(s.rtt.Seconds())
	l.lost.Add(delta(s.lost, l.last.lost))
	l.retransmitted.Add(delta(s.retransmitted, l.last.retransmitted))
	l.dropped.Add(delta(s.dropped, l.last.dropped))
	l.last = s
}

// delta is the increment of a cumulative counter; a counter that went back
// (a library that reset it) counts from 0.
func delta(cur, prev uint64) float64 {
	if cur < prev {
		return float64(cur)
	}
	return float64(cur - prev)
}

func (m *metrics) deleteLink(stream string) {
	m.rtt.DeleteLabelValues(stream)
	m.lost.DeleteLabelValues(stream)
	m.retransmitted.DeleteLabelValues(stream)
	m.dropped.DeleteLabelValues(stream)
}

// msDuration converts the libraries' float milliseconds.
func msDuration(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}
