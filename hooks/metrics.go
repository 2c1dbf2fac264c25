package hooks

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a delivery, in the `result` label and the log line.
const (
	resultOK      = "ok"      // a 2xx answer (for publish: allowed)
	resultRefused = "refused" // publish: 401 or 403, the publisher is refused
	resultFailed  = "failed"  // any other answer, a timeout or a connection error, after the last attempt
	resultDropped = "dropped" // log only: dropped deliveries have their own counter
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dropped  *prometheus.CounterVec
	retries  *prometheus.CounterVec
	length   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_webhook_requests_total",
			Help: "Webhook deliveries finished per hook and event: result ok (2xx), refused (publish answered 401/403) or failed (after the last attempt).",
		}, []string{"hook", "event", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "liveorigin_webhook_duration_seconds",
			Help:    "Time of one webhook HTTP attempt, from sending to the answer (or the timeout), per hook and event.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30},
		}, []string{"hook", "event"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_webhook_dropped_total",
			Help: "Webhook deliveries dropped per hook: the oldest when its queue was full, or unfinished when the hook was replaced or the server shut down.",
		}, []string{"hook"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_webhook_retries_total",
			Help: "Webhook attempts that failed and were retried, per hook.",
		}, []string{"hook"}),
		length: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_webhook_queue_length",
			Help: "Webhook deliveries waiting per hook (not counting the one in progress).",
		}, []string{"hook"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.dropped, m.retries, m.length} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// zero creates a hook's series at zero, so that rate() and alerts see them
// before the first delivery.
func (m *metrics) zero(h *Hook) {
	for _, e := range eventNames {
		if !h.events[e] {
			continue
		}
		m.requests.WithLabelValues(h.name, e, resultOK)
		m.requests.WithLabelValues(h.name, e, resultFailed)
		if e == EventPublish {
			m.requests.WithLabelValues(h.name, e, resultRefused)
		}
		m.duration.WithLabelValues(h.name, e)
	}
	m.dropped.WithLabelValues(h.name)
	m.retries.WithLabelValues(h.name)
	m.length.WithLabelValues(h.name)
}

// forget drops the series of a hook that is no longer configured.
func (m *metrics) forget(name string) {
	l := prometheus.Labels{"hook": name}
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.dropped.DeletePartialMatch(l)
	m.retries.DeletePartialMatch(l)
	m.length.DeletePartialMatch(l)
}
