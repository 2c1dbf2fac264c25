// Package tlscert serves a listener's TLS certificate from a certificate
// file and a key file, and picks up a replaced pair without a restart.
//
//	m, err := tlscert.NewMetrics(reg)
//	r, err := tlscert.New(tlscert.Options{Listener: "http", CertFile: "tls.crt", KeyFile: "tls.key", Logger: log, Metrics: m})
//	srv.TLSConfig = r.ServerConfig() // TLS 1.2 or later, Go's default cipher suites
//	go tlscert.Watch(ctx, 2*time.Second, r)
//	...
//	r.Reload() // on SIGHUP: read the files again now
//
// A handshake takes the pair in use from an atomic pointer: it never reads a
// file and never waits for a load. Watch looks at the files' size,
// modification time and identity (a symlink swapped, as Kubernetes does for
// a Secret, is a change) every interval, and loads a changed pair once it has
// stayed the same for one interval, so a renewal tool that writes the
// certificate and then the key is loaded once, whole. A pair that does not
// load (a file missing or unreadable, a key that does not match the
// certificate) leaves the pair in use in place: one error line, and
// liveorigin_tls_certificate_reload_errors_total{listener} counts it.
// liveorigin_tls_certificate_expiry_timestamp_seconds{listener} is the
// NotAfter of the certificate in use.
package tlscert
