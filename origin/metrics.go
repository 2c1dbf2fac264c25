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
	// Requests that wait for the live edge (await), by kind:
	// media_playlist_blocking, part, segment (LL-DASH, growing).
	waitDuration *prometheus.HistogramVec
	waiting      *prometheus.GaugeVec
	waits        map[Kind]waitMetrics
}

// waitMetrics are one kind's series of the waiting requests, resolved once.
type waitMetrics struct {
	duration prometheus.Observer
	waiting  prometheus.Gauge
}

// waitKinds are the kinds of request that may wait for the live edge.
var waitKinds = []Kind{KindBlockingList, KindMediaList, KindPart, KindSegment}

func newMetrics(reg prometheus.Registerer, v *viewers, now func() time.Time) (*metrics, error) {
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
		waitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "liveorigin_http_blocking_wait_seconds",
			Help: "How long a playback request that had to wait for the live edge waited (a blocking playlist reload, " +
				"a playlist held for a fresh edge, a part held until it exists, a growing LL-DASH segment), by kind, whatever the outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 4, 6, 10, 20, 30},
		}, []string{"kind"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_http_blocked_requests",
			Help: "Playback requests waiting for the live edge now, by kind.",
		}, []string{"kind"}),
		waits: make(map[Kind]waitMetrics, len(waitKinds)),
	}
	for _, k := range waitKinds {
		m.waits[k] = waitMetrics{duration: m.waitDuration.WithLabelValues(string(k)), waiting: m.waiting.WithLabelValues(string(k))}
	}
	for _, c := range []prometheus.Collector{m.requests, m.bytes, m.duration, m.waitDuration, m.waiting,
		viewersCollector{v: v, now: now}} {
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
