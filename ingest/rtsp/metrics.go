package rtsp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sessions       *prometheus.CounterVec
	sessionsActive *prometheus.GaugeVec
	bytesReceived  prometheus.Counter
	packetsLost    prometheus.Counter
	errors         *prometheus.CounterVec
	refused        *prometheus.CounterVec
	pullState      *prometheus.GaugeVec
	pullRetries    *prometheus.CounterVec
}

// Session modes (the mode label).
const (
	modeRecord = "record"
	modePull   = "pull"
)

// Label values, bounded so that a hostile peer cannot create series. The
// pull metrics are labelled by the configured stream names only.
var (
	errorReasons = []string{
		reasonAccept, reasonReadTimeout, reasonProtocol, reasonPanic, reasonSession,
		reasonBadMedia, reasonBadSequence, reasonBadTimestamp, reasonBadParameterSets, reasonNoMedia,
	}
	refuseReasons = []string{
		refuseBadApp, refuseBadName, refuseAlreadyPublishing, refuseShuttingDown, refuseRefused,
		refuseNoSupportedTrack, refuseBadSDP, refuseRead, refuseOther,
	}
	pullStates = []string{stateConnecting, stateConnected, stateRetrying}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_rtsp_sessions_total",
			Help: "RTSP publish sessions started, by mode (record: an ANNOUNCE/RECORD push; pull: a camera pull).",
		}, []string{"mode"}),
		sessionsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_rtsp_sessions_active",
			Help: "RTSP publish sessions open now, by mode.",
		}, []string{"mode"}),
		bytesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveorigin_rtsp_bytes_received_total",
			Help: "Bytes received by RTSP ingest: RTSP connections, interleaved and UDP RTP/RTCP, pulls.",
		}),
		packetsLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveorigin_rtsp_rtp_packets_lost_total",
			Help: "RTP packets missing from the sequence numbers received.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_rtsp_errors_total",
			Help: "RTSP sessions ended by an error, and failed accepts, by reason.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_rtsp_refused_total",
			Help: "RTSP requests refused (publish or read), by reason.",
		}, []string{"reason"}),
		pullState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_rtsp_pull_state",
			Help: "State of each RTSP pull source: 1 for its current state, 0 for the others.",
		}, []string{"name", "state"}),
		pullRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_rtsp_pull_retries_total",
			Help: "RTSP pull connections that failed or ended and are retried, by source name.",
		}, []string{"name"}),
	}
	for _, mode := range []string{modeRecord, modePull} {
		m.sessions.WithLabelValues(mode)
		m.sessionsActive.WithLabelValues(mode)
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
		m.sessions, m.sessionsActive, m.bytesReceived, m.packetsLost, m.errors, m.refused, m.pullState, m.pullRetries,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rtsp: register metrics: %w", err)
		}
	}
	return m, nil
}

// setPullState sets the state gauge of one pull source.
func (m *metrics) setPullState(name, state string) {
	for _, s := range pullStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.pullState.WithLabelValues(name, s).Set(v)
	}
}
