package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/internal/tlscert"
)

// defaultCertCheck is how often the certificate files are looked at for a
// change (a few stat calls).
const defaultCertCheck = 2 * time.Second

// listenerCerts are the certificates of the TLS listeners; nil: that
// listener has no TLS.
type listenerCerts struct {
	http, admin, rtmps *certOf
}

// certOf is one listener's reloading certificate.
type certOf struct{ *tlscert.Reloader }

// serverConfig is the listener's TLS configuration; nil without TLS.
func (c *certOf) serverConfig() *tls.Config {
	if c == nil {
		return nil
	}
	return c.ServerConfig()
}

// newListenerCerts loads the pair of each TLS listener: a pair that does
// not load fails the start, naming the option.
func newListenerCerts(cfg Config, log *slog.Logger, reg prometheus.Registerer) (listenerCerts, error) {
	var lc listenerCerts
	m, err := tlscert.NewMetrics(reg)
	if err != nil {
		return lc, err
	}
	rtmpsCert, rtmpsKey := cfg.rtmpsPair()
	if cfg.RTMPSAddr == "" {
		rtmpsCert, rtmpsKey = "", ""
	}
	for _, l := range []struct {
		name, option, cert, key string
		to                      **certOf
	}{
		{"http", "http-tls-cert", cfg.HTTPTLSCert, cfg.HTTPTLSKey, &lc.http},
		{"admin", "admin-tls-cert", cfg.AdminTLSCert, cfg.AdminTLSKey, &lc.admin},
		{"rtmps", "rtmps-tls-cert", rtmpsCert, rtmpsKey, &lc.rtmps},
	} {
		if l.cert == "" {
			continue
		}
		r, err := tlscert.New(tlscert.Options{Listener: l.name, CertFile: l.cert, KeyFile: l.key, Logger: log, Metrics: m})
		if err != nil {
			return lc, fmt.Errorf("%s: %w", l.option, err)
		}
		*l.to = &certOf{r}
	}
	return lc, nil
}

func (lc listenerCerts) all() []*tlscert.Reloader {
	var out []*tlscert.Reloader
	for _, c := range []*certOf{lc.http, lc.admin, lc.rtmps} {
		if c != nil {
			out = append(out, c.Reloader)
		}
	}
	return out
}

// watch loads changed certificate files until ctx ends.
func (lc listenerCerts) watch(ctx context.Context, every time.Duration) {
	tlscert.Watch(ctx, every, lc.all()...)
}

// reload reads every certificate again (SIGHUP, POST /api/v1/reload); a
// pair that does not load is logged and counted, the one in use stays, and
// its error is returned.
func (lc listenerCerts) reload() []string {
	var errs []string
	for _, r := range lc.all() {
		if err := r.Reload(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

// serveHTTP serves srv on ln, with TLS when srv has a TLS configuration
// (HTTP/2 is offered then).
func serveHTTP(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// addrString is a's string, or "" for none.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
