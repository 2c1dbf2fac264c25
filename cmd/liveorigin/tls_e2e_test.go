package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/internal/tlscert/tlstest"
	"github.com/liveorigin/liveorigin/packager"
)

// tlsApp is a liveorigin whose playback, admin and RTMPS listeners serve
// one certificate pair (the admin and RTMPS listeners reuse the playback
// files), signed by ca.
type tlsApp struct {
	*fileApp
	ca                *tlstest.CA
	certFile, keyFile string
	client            *http.Client
	https, adminHTTPS string
}

func startTLSApp(t *testing.T, rtmpsAddr, extra string) *tlsApp {
	t.Helper()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Files(t, "first", time.Now().Add(30*24*time.Hour))
	a := startFromFile(t, listeners+fmt.Sprintf(`http-tls-cert: %[1]s
http-tls-key: %[2]s
admin-tls-cert: %[1]s
admin-tls-key: %[2]s
rtmps-addr: %[3]s
`, certFile, keyFile, rtmpsAddr)+extra, nil)
	tr := &http.Transport{TLSClientConfig: ca.ClientConfig(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &tlsApp{fileApp: a, ca: ca, certFile: certFile, keyFile: keyFile,
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		https:  "https://" + a.httpLn.Addr().String(), adminHTTPS: "https://" + a.adminLn.Addr().String()}
}

// served is the common name of the certificate a fresh TLS connection to
// addr gets, checked against the CA.
func (ta *tlsApp) served(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, ta.ca.ClientConfig())
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func (ta *tlsApp) get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := ta.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// HTTPS on the playback and admin listeners: HTTP/2, TLS 1.2 or later only,
// plain HTTP refused; the expiry of each listener's certificate in
// /metrics.
func TestHTTPSListeners(t *testing.T) {
	ta := startTLSApp(t, "127.0.0.1:0", "")
	for _, url := range []string{ta.https + "/time", ta.adminHTTPS + "/healthz"} {
		resp, _ := ta.get(t, url)
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("GET %s: %d over %s, TLS %+v; want 200 over HTTP/2 with TLS 1.2+", url, resp.StatusCode, resp.Proto, resp.TLS)
		}
		// Plain HTTP is answered 400 by net/http, never served.
		plain := "http://" + strings.TrimPrefix(url, "https://")
		if code, _, _ := get(t, plain); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400 (plain HTTP to an HTTPS listener)", plain, code)
		}
	}
	for _, addr := range []string{ta.httpLn.Addr().String(), ta.adminLn.Addr().String(), ta.rtmp.TLSAddr().String()} {
		old := ta.ca.ClientConfig()
		old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
		if c, err := tls.Dial("tcp", addr, old); err == nil {
			_ = c.Close()
			t.Errorf("%s: a TLS 1.1 client was served", addr)
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s: TLS 1.1 client: %v, want a protocol version alert", addr, err)
		}
	}
	_, metrics := ta.get(t, ta.adminHTTPS+"/metrics")
	notAfter := float64(ta.certs.http.Leaf().NotAfter.Unix())
	for _, l := range []string{"http", "admin", "rtmps"} {
		want := fmt.Sprintf(`liveorigin_tls_certificate_expiry_timestamp_seconds{listener="%s"} %g`, l, notAfter)
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	line, _ := ta.lines.wait(t, 0, "liveorigin started")
	if !strings.Contains(line, `"http_tls":true`) || !strings.Contains(line, `"admin_tls":true`) || !strings.Contains(line, `"rtmps":"127.0.0.1:`) {
		t.Errorf("start line %s: want http_tls, admin_tls and the rtmps address", line)
	}
}

// A replaced pair is served without a restart (the files are watched); a
// broken one is refused, logged and counted, and the pair in use stays; a
// reload (SIGHUP, POST /api/v1/reload) reads the files at once.
func TestCertificateReload(t *testing.T) {
	ta := startTLSApp(t, "127.0.0.1:0", "")
	httpAddr, adminAddr, rtmpsAddr := ta.httpLn.Addr().String(), ta.adminLn.Addr().String(), ta.rtmp.TLSAddr().String()
	if cn := ta.served(t, httpAddr); cn != "first" {
		t.Fatalf("served %q, want first", cn)
	}
	from := ta.lines.count()
	ta.ca.Issue(t, "second", time.Now().Add(60*24*time.Hour)).Write(t, ta.certFile, ta.keyFile)
	for _, l := range []string{"http", "admin", "rtmps"} {
		ta.lines.wait(t, from, `"msg":"TLS certificate reloaded","listener":"`+l+`"`)
	}
	for _, addr := range []string{httpAddr, adminAddr, rtmpsAddr} {
		if cn := ta.served(t, addr); cn != "second" {
			t.Errorf("%s: served %q after the replacement, want second", addr, cn)
		}
	}

	// A broken replacement: the key of another certificate.
	from = ta.lines.count()
	third := ta.ca.Issue(t, "third", time.Now().Add(90*24*time.Hour))
	other := ta.ca.Issue(t, "other", time.Now().Add(time.Hour))
	tlstest.Leaf{CertPEM: third.CertPEM, KeyPEM: other.KeyPEM}.Write(t, ta.certFile, ta.keyFile)
	line, _ := ta.lines.wait(t, from, `"msg":"TLS certificate not reloaded`)
	if !strings.Contains(line, "private key does not match public key") || !strings.Contains(line, `"level":"ERROR"`) {
		t.Errorf("error line %s", line)
	}
	for _, l := range []string{"http", "admin", "rtmps"} {
		ta.lines.wait(t, from, `"msg":"TLS certificate not reloaded; the listener keeps serving the one in use","listener":"`+l+`"`)
	}
	if cn := ta.served(t, httpAddr); cn != "second" {
		t.Errorf("served %q after a broken replacement, want second", cn)
	}
	_, metrics := ta.get(t, ta.adminHTTPS+"/metrics")
	for _, want := range []string{`liveorigin_tls_certificate_reload_errors_total{listener="http"} 1`, `liveorigin_tls_certificate_reloads_total{listener="http"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A reload while the pair is broken says so (and keeps the pair in use).
	res, err := ta.reloadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CertificateErrors) != 3 || !strings.Contains(res.CertificateErrors[0], "private key does not match public key") {
		t.Errorf("reload with a broken pair: certificate errors %q, want one per listener", res.CertificateErrors)
	}

	// The renewal completes; a reload reads it at once.
	third.Write(t, ta.certFile, ta.keyFile)
	if res, err := ta.reloadConfig(); err != nil || len(res.CertificateErrors) != 0 {
		t.Fatalf("reload: %v, certificate errors %q", err, res.CertificateErrors)
	}
	for _, addr := range []string{httpAddr, adminAddr, rtmpsAddr} {
		if cn := ta.served(t, addr); cn != "third" {
			t.Errorf("%s: served %q after the reload, want third", addr, cn)
		}
	}
	_, metrics = ta.get(t, ta.adminHTTPS+"/metrics")
	if want := fmt.Sprintf(`liveorigin_tls_certificate_expiry_timestamp_seconds{listener="http"} %g`, float64(third.Cert.NotAfter.Unix())); !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// ffmpeg publishes over RTMPS and ffprobe reads the HLS over HTTPS, both
// checking the certificate against the CA.
func TestRTMPSToHTTPS(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	ta := startTLSApp(t, "127.0.0.1:0", "segment-target: 1s\n")
	publishArgs(t, "rtmps://"+ta.rtmp.TLSAddr().String()+"/live/secure",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-tls_verify", "1", "-ca_file", ta.ca.File)
	waitFor(t, ta.testApp, "secure", 30*time.Second, "two segments of each track", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 2 && len(tl.Tracks[1].Segments) >= 2
	})
	out, err := exec.Command("ffprobe", "-v", "error", "-tls_verify", "1", "-ca_file", ta.ca.File,
		"-show_entries", "stream=codec_name", "-of", "json", ta.https+"/live/secure/index.m3u8").CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe over HTTPS: %v\n%s", err, out)
	}
	var doc struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	codecs := map[string]bool{}
	for _, s := range doc.Streams {
		codecs[s.CodecName] = true
	}
	if !codecs["h264"] || !codecs["aac"] {
		t.Errorf("ffprobe over HTTPS found %s, want h264 and aac", out)
	}
	// Over HTTP/2: the media playlist and a segment, with their cache
	// policy.
	resp, master := ta.get(t, ta.https+"/live/secure/index.m3u8")
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("multivariant playlist: %d over %s", resp.StatusCode, resp.Proto)
	}
	var media string
	for _, l := range strings.Split(master, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			media = l
			break
		}
	}
	resp, pl := ta.get(t, ta.https+"/live/secure/"+media)
	seg := reSeg.FindStringSubmatch(pl)
	if resp.StatusCode != http.StatusOK || seg == nil {
		t.Fatalf("media playlist %s: %d\n%s", media, resp.StatusCode, pl)
	}
	resp, body := ta.get(t, ta.https+"/live/secure/"+seg[1])
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || len(body) == 0 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("segment %s: %d over %s, %d bytes, Cache-Control %q", seg[1], resp.StatusCode, resp.Proto, len(body), resp.Header.Get("Cache-Control"))
	}
	// Without the CA, the certificate is refused.
	if out, err := exec.Command("ffprobe", "-v", "error", "-tls_verify", "1", "-ca_file", os.DevNull,
		ta.https+"/live/secure/index.m3u8").CombinedOutput(); err == nil {
		t.Errorf("ffprobe read the HTTPS playlist without trusting the certificate:\n%s", out)
	}
}

// Open publishing on an RTMPS port beyond loopback is announced like any
// other ingest port.
func TestRTMPSOpenWarning(t *testing.T) {
	ta := startTLSApp(t, "0.0.0.0:0", "")
	line, _ := ta.lines.wait(t, 0, "publishing is open to anyone who can reach")
	if !strings.Contains(line, "reach rtmps ") || strings.Contains(line, "rtmp 127.0.0.1") {
		t.Errorf("warning %s: want the RTMPS listener only", line)
	}
}

// A pair that does not load stops the start with the option's name; the
// admin listener is on loopback unless told otherwise.
func TestTLSStartErrors(t *testing.T) {
	certFile, keyFile := tlstest.NewCA(t).MismatchedFiles(t)
	dir := filepath.Dir(certFile)
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.HTTPTLSCert, c.HTTPTLSKey = certFile, keyFile }, "http-tls-cert: certificate " + certFile + ", key " + keyFile + ": tls: private key does not match public key"},
		{func(c *Config) { c.AdminTLSCert, c.AdminTLSKey = filepath.Join(dir, "none.crt"), keyFile }, "admin-tls-cert: certificate " + filepath.Join(dir, "none.crt")},
		{func(c *Config) { c.RTMPSAddr, c.RTMPSTLSCert, c.RTMPSTLSKey = "127.0.0.1:0", certFile, keyFile }, "rtmps-tls-cert: certificate"},
	} {
		cfg := defaultConfig()
		tc.mutate(&cfg)
		if errs := cfg.validate(); len(errs) > 0 {
			t.Fatal(errs)
		}
		_, err := newApp(cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newApp: %v, want %q", err, tc.want)
		}
	}
	host, _, err := net.SplitHostPort(defaultConfig().AdminAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Errorf("admin-addr default %q is not a loopback address", defaultConfig().AdminAddr)
	}
}
