package rtmp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connections       prometheus.Counter
	connectionsActive prometheus.Gauge
	bytesReceived     prometheus.Counter
	errors            *prometheus.CounterVec
	publishRefused    *prometheus.CounterVec
}

// Label values, bounded so that a hostile publisher cannot create series.
var (
	errorReasons = []string{
		reasonAccept, reasonHandshake, reasonReadTimeout, reasonProtocol, reasonPanic,
		reasonOversizeTag, reasonBadTag, reasonBadSequenceHeader, reasonUnsupportedCodec,
		reasonSession,
	}
	refuseReasons = []string{refuseBadApp, refuseBadName, refuseAlreadyPublishing, refuseShuttingDown, refuseRefused, refuseOther}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveorigin_rtmp_connections_total",
			Help: "RTMP connections accepted.",
		}),
		connectionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveorigin_rtmp_connections_active",
			Help: "RTMP connections open now.",
		}),
		bytesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveorigin_rtmp_bytes_received_total",
			Help: "Bytes read from RTMP connections.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_rtmp_errors_total",
			Help: "RTMP connections ended by an error, by reason.",
		}, []string{"reason"}),
		publishRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_rtmp_publish_refused_total",
			Help: "RTMP publish requests refused, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range errorReasons {
		m.errors.WithLabelValues(r)
	}
	for _, r := range refuseReasons {
		m.publishRefused.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.connectionsActive, m.bytesReceived, m.errors, m.publishRefused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rtmp: register metrics: %w", err)
		}
	}
	return m, nil
}
