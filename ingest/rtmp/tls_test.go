package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/internal/tlscert"
	"github.com/liveorigin/liveorigin/internal/tlscert/tlstest"
)

// startRTMPS runs a Server with an RTMPS listener whose certificate the
// returned CA signed.
func startRTMPS(t *testing.T, o Options) (*testServer, *tlstest.CA) {
	t.Helper()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Files(t, "rtmps", time.Now().Add(time.Hour))
	r, err := tlscert.New(tlscert.Options{Listener: "rtmps", CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	o.TLSAddr, o.TLSConfig = "127.0.0.1:0", r.ServerConfig()
	return startServer(t, o), ca
}

// A real ffmpeg publishes over RTMPS, checking the certificate against the
// CA; the stream is the same as over RTMP.
func TestFFmpegPublishRTMPS(t *testing.T) {
	needFFmpeg(t)
	ts, ca := startRTMPS(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffmpegPath, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac",
		"-tls_verify", "1", "-ca_file", ca.File,
		"-f", "flv", "rtmps://"+ts.TLSAddr().String()+"/live/secure").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	s := ts.pub.nextSession(t)
	if cause := s.waitClosed(t); cause != nil {
		t.Errorf("session closed with %v, want a clean unpublish", cause)
	}
	if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
		t.Errorf("connection end %+v, want clean", e)
	}
	// The check is real: without the CA, ffmpeg refuses the certificate.
	if out, err := exec.CommandContext(ctx, ffmpegPath, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast",
		"-tls_verify", "1", "-ca_file", "/dev/null", "-f", "flv", "rtmps://"+ts.TLSAddr().String()+"/live/other").CombinedOutput(); err == nil {
		t.Errorf("ffmpeg published without trusting the certificate:\n%s", out)
	}
	if e := ts.nextEnd(t); e.reason != reasonHandshake {
		t.Errorf("the refused handshake: end %+v", e)
	}
	if s.info.Name != "secure" || s.info.Protocol != "rtmp" {
		t.Errorf("publish info %+v", s.info)
	}
	starts, aus := s.snapshot()
	if len(starts) != 1 || len(starts[0]) != 2 || len(aus) < 60 {
		t.Errorf("Start calls %+v and %d access units, want 2 tracks and about 30 video + 43 audio", starts, len(aus))
	}
}

// Plain RTMP to the RTMPS port and an old TLS client end as handshake
// errors; a peer that connects and says nothing is no error; the plain
// port still serves.
func TestRTMPSRefusesBadHandshakes(t *testing.T) {
	ts, ca := startRTMPS(t, Options{HandshakeTimeout: 200 * time.Millisecond})
	addr := ts.TLSAddr().String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3 // RTMP version
	if _, err := c.Write(c0c1); err != nil {
		t.Fatal(err)
	}
	if e := ts.nextEnd(t); e.reason != reasonHandshake || e.cause == nil || !strings.Contains(e.cause.Error(), "TLS handshake failed") {
		t.Errorf("plain RTMP on the RTMPS port: end %+v, want a TLS handshake error", e)
	}
	_ = c.Close()

	old := ca.ClientConfig()
	old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if tc, err := tls.Dial("tcp", addr, old); err == nil {
		_ = tc.Close()
		t.Error("a TLS 1.1 client completed the handshake")
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 client: %v, want a protocol version alert", err)
	}
	if e := ts.nextEnd(t); e.reason != reasonHandshake {
		t.Errorf("TLS 1.1 client: end %+v, want a handshake error", e)
	}

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
		t.Errorf("a silent peer: end %+v, want no error (cut at HandshakeTimeout)", e)
	}
	if got := metricValue(t, ts.metrics.errors.WithLabelValues(reasonHandshake)); got != 2 {
		t.Errorf("handshake errors %v, want 2", got)
	}

	// A TLS client completes the TLS handshake and sends no RTMP: cut by
	// the same HandshakeTimeout.
	tc, err := tls.Dial("tcp", addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if e := ts.nextEnd(t); e.reason != "" {
		t.Errorf("a TLS client without RTMP: end %+v", e)
	}

	pc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatalf("the plain RTMP port: %v", err)
	}
	_ = pc.Close()
}

// An RTMPS address that is taken fails Listen with ErrTLSListen and leaves
// nothing bound.
func TestRTMPSListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s, err := New(Options{Publisher: newFakePublisher(), Addr: "127.0.0.1:0", TLSAddr: taken.Addr().String(), TLSConfig: &tls.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); !errors.Is(err, ErrTLSListen) {
		t.Errorf("Listen: %v, want ErrTLSListen", err)
	}
	if s.Addr() != nil || s.TLSAddr() != nil {
		t.Error("an address is bound after a failed Listen")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Publisher: newFakePublisher(), TLSAddr: ":0"}); err == nil {
		t.Error("New with TLSAddr and no TLSConfig: no error")
	}
}
