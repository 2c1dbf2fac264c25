package purge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a purge, in the `result` label and the log line.
const (
	resultOK      = "ok"
	resultFailed  = "failed"
	resultDropped = "dropped" // log only: dropped purges have their own counter
)

type metrics struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	length   *prometheus.GaugeVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_purge_requests_total",
			Help: "Purge requests finished per backend: result ok, or failed after the last attempt or a permanent error.",
		}, []string{"backend", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_purge_retries_total",
			Help: "Purge attempts that failed and were retried, per backend.",
		}, []string{"backend"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_purge_dropped_total",
			Help: "Purge requests dropped per backend: the oldest when the queue was full, or unfinished at shutdown.",
		}, []string{"backend"}),
		length: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_purge_queue_length",
			Help: "Purge requests waiting per backend (not counting the one in progress).",
		}, []string{"backend"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "liveorigin_purge_duration_seconds",
			Help:    "Time from enqueue to the end of a finished purge request (retries included), per backend.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"backend"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.retries, m.dropped, m.length, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// zero creates a backend's series at zero, so that rate() and alerts see
// them before the first purge.
func (m *metrics) zero(backend string) {
	m.requests.WithLabelValues(backend, resultOK)
	m.requests.WithLabelValues(backend, resultFailed)
	m.retries.WithLabelValues(backend)
	m.dropped.WithLabelValues(backend)
	m.length.WithLabelValues(backend)
	m.duration.WithLabelValues(backend)
}
