package tlscert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Reloader.
type Options struct {
	// Listener names the listener in logs and in the metrics' listener
	// label (http, admin, rtmps). Required.
	Listener string
	// CertFile is the PEM certificate, the leaf first and then the
	// intermediates; KeyFile its PEM private key. Required.
	CertFile, KeyFile string
	// Logger receives the load and error lines. Default: discard.
	Logger *slog.Logger
	// Metrics counts loads and errors; nil: not counted.
	Metrics *Metrics
}

// Reloader serves the certificate of one listener and loads a replaced
// pair of files.
type Reloader struct {
	o   Options
	log *slog.Logger

	cert atomic.Pointer[tls.Certificate] // the pair in use

	// mu serialises loads (Watch and Reload) and guards seen and pending.
	// A handshake never takes it.
	mu      sync.Mutex
	seen    fileState  // of the files last loaded (or tried)
	pending *fileState // a change seen at the last check, not loaded yet
}

// New loads the pair: an error says which file is wrong, and the listener
// must not start.
func New(o Options) (*Reloader, error) {
	if o.Listener == "" || o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tlscert: Options.Listener, CertFile and KeyFile are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{o: o, log: o.Logger.With("listener", o.Listener)}
	r.seen = r.stat()
	cert, err := r.load()
	if err != nil {
		return nil, err
	}
	r.use(cert, false)
	return r, nil
}

// ServerConfig is a TLS server configuration that serves the reloaded
// certificate: TLS 1.2 or later, Go's default (modern) cipher suites.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}

// GetCertificate returns the pair in use (tls.Config.GetCertificate).
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Leaf is the certificate in use.
func (r *Reloader) Leaf() *x509.Certificate { return r.cert.Load().Leaf }

// Reload reads the files again now (SIGHUP, a configuration reload),
// changed or not; a pair identical to the one in use changes nothing. A
// pair that does not load leaves the one in use: the error is logged,
// counted and returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, r.pending = r.stat(), nil
	return r.reload()
}

// check loads the files when they changed and have stayed the same since
// the last check.
func (r *Reloader) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.stat()
	switch {
	case cur.equal(r.seen):
		r.pending = nil
	case r.pending != nil && cur.equal(*r.pending):
		r.seen, r.pending = cur, nil
		_ = r.reload()
	default:
		r.pending = &cur // still being written, maybe: wait one interval
	}
}

// reload loads the files and puts the pair in use; r.mu is held.
func (r *Reloader) reload() error {
	cert, err := r.load()
	if err != nil {
		r.log.Error("TLS certificate not reloaded; the listener keeps serving the one in use", "error", err.Error(),
			"not_after", r.Leaf().NotAfter.UTC().Format(time.RFC3339))
		if m := r.o.Metrics; m != nil {
			m.reloadErrors.WithLabelValues(r.o.Listener).Inc()
		}
		return err
	}
	if cur := r.cert.Load(); samePair(cur, cert) {
		r.log.Debug("TLS certificate files read again: unchanged", "cert_file", r.o.CertFile)
		return nil
	}
	r.use(cert, true)
	return nil
}

// samePair reports whether a and b are the same certificate chain (then
// the key is the same too: it matches the same public key).
func samePair(a, b *tls.Certificate) bool {
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

func (r *Reloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(r.o.CertFile, r.o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate %s, key %s: %w", r.o.CertFile, r.o.KeyFile, err)
	}
	if cert.Leaf == nil { // Go fills it in unless GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", r.o.CertFile, err)
		}
	}
	return &cert, nil
}

// use puts cert in use, logs it and sets the expiry metric.
func (r *Reloader) use(cert *tls.Certificate, reloaded bool) {
	r.cert.Store(cert)
	leaf := cert.Leaf
	names := leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	msg := "TLS certificate loaded"
	if reloaded {
		msg = "TLS certificate reloaded"
	}
	r.log.Info(msg, "cert_file", r.o.CertFile, "subject", leaf.Subject.CommonName, "names", strings.Join(names, ","),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	if time.Now().After(leaf.NotAfter) {
		r.log.Warn("the TLS certificate has expired: clients refuse it", "cert_file", r.o.CertFile,
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if m := r.o.Metrics; m != nil {
		m.expiry.WithLabelValues(r.o.Listener).Set(float64(leaf.NotAfter.Unix()))
		c := m.reloads.WithLabelValues(r.o.Listener)
		if reloaded {
			c.Inc()
		}
		m.reloadErrors.WithLabelValues(r.o.Listener) // the series exists from the start
	}
}

// fileState is what a check compares of the two files.
type fileState struct{ cert, key os.FileInfo }

func (r *Reloader) stat() fileState {
	var s fileState
	s.cert, _ = os.Stat(r.o.CertFile) // a missing file is a change too (nil)
	s.key, _ = os.Stat(r.o.KeyFile)
	return s
}

func (s fileState) equal(o fileState) bool {
	return sameFile(s.cert, o.cert) && sameFile(s.key, o.key)
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Watch checks the reloaders' files every interval until ctx ends; a pair
// changed and then left alone for one interval is loaded.
func Watch(ctx context.Context, interval time.Duration, rs ...*Reloader) {
	if len(rs) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, r := range rs {
				r.check()
			}
		}
	}
}
