package tlscert

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/internal/tlscert/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// value is the value of a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

type fixture struct {
	ca                *tlstest.CA
	certFile, keyFile string
	reg               *prometheus.Registry
	r                 *Reloader
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ca: tlstest.NewCA(t), reg: prometheus.NewRegistry()}
	f.certFile, f.keyFile = f.ca.Files(t, "first", time.Now().Add(48*time.Hour))
	m, err := NewMetrics(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.r, err = New(Options{Listener: "http", CertFile: f.certFile, KeyFile: f.keyFile, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// serve answers TLS handshakes with the reloader's configuration until the
// test ends; it returns the address.
func serve(t testing.TB, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// served is the common name of the certificate a handshake gets.
func served(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestServesTLS12AndLater(t *testing.T) {
	f := newFixture(t)
	addr := serve(t, f.r.ServerConfig())
	if got := served(t, addr, f.ca.ClientConfig()); got != "first" {
		t.Errorf("served %q, want first", got)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.ca.ClientConfig()
		cfg.MinVersion, cfg.MaxVersion = v, v
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Errorf("%s: %v", tls.VersionName(v), err)
			continue
		}
		_ = c.Close()
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := f.ca.ClientConfig()
		cfg.MinVersion, cfg.MaxVersion = v, v
		c, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			_ = c.Close()
			t.Errorf("a %s client was served", tls.VersionName(v))
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s: %v, want a protocol version alert", tls.VersionName(v), err)
		}
	}
	want := float64(f.r.Leaf().NotAfter.Unix())
	if got := value(f.r.o.Metrics.expiry.WithLabelValues("http")); got != want {
		t.Errorf("expiry metric %v, want %v", got, want)
	}
}

// A replaced pair is loaded once it stayed the same for one check; a broken
// one is refused, counted, and the pair in use stays.
func TestCheckLoadsSettledChanges(t *testing.T) {
	f := newFixture(t)
	addr := serve(t, f.r.ServerConfig())
	client := f.ca.ClientConfig()
	metric := func(c *prometheus.CounterVec) float64 { return value(c.WithLabelValues("http")) }

	f.r.check()
	if metric(f.r.o.Metrics.reloads) != 0 {
		t.Fatal("unchanged files were loaded")
	}
	second := f.ca.Issue(t, "second", time.Now().Add(72*time.Hour).Truncate(time.Second))
	second.Write(t, f.certFile, f.keyFile)
	f.r.check() // the change is seen, and waits for the files to settle
	if got := served(t, addr, client); got != "first" {
		t.Errorf("after the first check: served %q, want first", got)
	}
	f.r.check()
	if got := served(t, addr, client); got != "second" {
		t.Errorf("after the second check: served %q, want second", got)
	}
	if metric(f.r.o.Metrics.reloads) != 1 || metric(f.r.o.Metrics.reloadErrors) != 0 {
		t.Errorf("reloads %v, errors %v, want 1 and 0", metric(f.r.o.Metrics.reloads), metric(f.r.o.Metrics.reloadErrors))
	}
	if got, want := value(f.r.o.Metrics.expiry.WithLabelValues("http")), float64(second.Cert.NotAfter.Unix()); got != want {
		t.Errorf("expiry metric %v, want %v", got, want)
	}

	// Half a renewal: a new certificate with the old key.
	third := f.ca.Issue(t, "third", time.Now().Add(96*time.Hour))
	tlstest.Leaf{CertPEM: third.CertPEM, KeyPEM: second.KeyPEM}.Write(t, f.certFile, f.keyFile)
	f.r.check()
	f.r.check()
	if got := served(t, addr, client); got != "second" {
		t.Errorf("a mismatched pair: served %q, want second", got)
	}
	if metric(f.r.o.Metrics.reloadErrors) != 1 {
		t.Errorf("errors %v, want 1", metric(f.r.o.Metrics.reloadErrors))
	}
	f.r.check() // the same broken files are not tried again
	if metric(f.r.o.Metrics.reloadErrors) != 1 {
		t.Errorf("errors %v after a check of the same files, want 1", metric(f.r.o.Metrics.reloadErrors))
	}
	// The renewal completes.
	third.Write(t, f.certFile, f.keyFile)
	f.r.check()
	f.r.check()
	if got := served(t, addr, client); got != "third" {
		t.Errorf("served %q, want third", got)
	}
	// A deleted key.
	if err := os.Remove(f.keyFile); err != nil {
		t.Fatal(err)
	}
	f.r.check()
	f.r.check()
	if got := served(t, addr, client); got != "third" || metric(f.r.o.Metrics.reloadErrors) != 2 {
		t.Errorf("key deleted: served %q, errors %v; want third and 2", got, metric(f.r.o.Metrics.reloadErrors))
	}
}

// Reload reads the files at once, changed or not.
func TestReload(t *testing.T) {
	f := newFixture(t)
	f.ca.Issue(t, "second", time.Now().Add(time.Hour)).Write(t, f.certFile, f.keyFile)
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if cn := f.r.Leaf().Subject.CommonName; cn != "second" {
		t.Errorf("in use: %q, want second", cn)
	}
	if err := f.r.Reload(); err != nil { // the same files again: nothing changes
		t.Fatal(err)
	}
	if n := value(f.r.o.Metrics.reloads.WithLabelValues("http")); n != 1 {
		t.Errorf("reloads %v after two reloads of which one changed the pair, want 1", n)
	}
	if err := os.WriteFile(f.certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.r.Reload()
	if err == nil || !strings.Contains(err.Error(), f.certFile) {
		t.Errorf("Reload of a broken certificate: %v, want an error naming %s", err, f.certFile)
	}
	if cn := f.r.Leaf().Subject.CommonName; cn != "second" {
		t.Errorf("in use: %q, want second", cn)
	}
}

// Watch picks a replaced pair up by itself and stops with its context.
func TestWatch(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Watch(ctx, 5*time.Millisecond, f.r) }()
	defer func() { cancel(); <-done }()
	f.ca.Issue(t, "second", time.Now().Add(time.Hour)).Write(t, f.certFile, f.keyFile)
	deadline := time.After(10 * time.Second)
	for f.r.Leaf().Subject.CommonName != "second" {
		select {
		case <-deadline:
			t.Fatal("the replaced pair was not loaded within 10s")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestNewErrors(t *testing.T) {
	certFile, keyFile := tlstest.NewCA(t).MismatchedFiles(t)
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Listener: "http", CertFile: certFile, KeyFile: keyFile}, "private key does not match public key"},
		{Options{Listener: "http", CertFile: filepath.Join(filepath.Dir(certFile), "missing.crt"), KeyFile: keyFile}, "missing.crt: no such file"},
		{Options{Listener: "http", CertFile: certFile}, "required"},
	} {
		if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

// BenchmarkHandshake is a full TLS handshake (a new client each time, no
// session resumption) against the reloader's configuration on loopback.
func BenchmarkHandshake(b *testing.B) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		b.Run(tls.VersionName(v), func(b *testing.B) {
			ca := tlstest.NewCA(b)
			certFile, keyFile := ca.Files(b, "bench", time.Now().Add(time.Hour))
			r, err := New(Options{Listener: "http", CertFile: certFile, KeyFile: keyFile})
			if err != nil {
				b.Fatal(err)
			}
			addr := serve(b, r.ServerConfig())
			cfg := ca.ClientConfig()
			cfg.MinVersion, cfg.MaxVersion = v, v
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
		})
	}
}
