package tlscert

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the liveorigin_tls_* series, shared by the reloaders of a
// process (one label value per listener).
type Metrics struct {
	expiry       *prometheus.GaugeVec
	reloads      *prometheus.CounterVec
	reloadErrors *prometheus.CounterVec
}

// NewMetrics registers the liveorigin_tls_* metrics on reg (nil: kept but
// not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "liveorigin_tls_certificate_expiry_timestamp_seconds",
			Help: "Unix time the certificate a TLS listener serves expires (its NotAfter).",
		}, []string{"listener"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_tls_certificate_reloads_total",
			Help: "Certificate and key pairs a TLS listener put in use after its start (a replaced pair, from its files or on a reload).",
		}, []string{"listener"}),
		reloadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveorigin_tls_certificate_reload_errors_total",
			Help: "Replaced certificate and key pairs that did not load; the listener kept the pair in use.",
		}, []string{"listener"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.expiry, m.reloads, m.reloadErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
