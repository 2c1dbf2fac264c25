package origin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_http_requests_total",
			Help: "Playback HTTP requests by object kind and status code.",
		}, []string{"kind", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_http_response_bytes_total",
			Help: "Playback HTTP response body bytes by object kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "liveorigin_http_request_duration_seconds",
			Help:    "Time to answer a playback HTTP request, by object kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.bytes, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(kind Kind, status int, n int64, d time.Duration) {
	m.requests.WithLabelValues(string(kind), strconv.Itoa(status)).Inc()
	m.bytes.WithLabelValues(string(kind)).Add(float64(n))
	m.duration.WithLabelValues(string(kind)).Observe(d.Seconds())
}
