package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

const (
	jwtSecret    = "publish-jwt-secret-4f1c9e2b7a5d3c8e0f6a1b9d"
	jwtNewSecret = "publish-jwt-secret-rotated-8c2e4a6f0b1d3e5a"
)

// publishToken is a token for stream (sub) that expires in ttl.
func publishToken(t *testing.T, m jwt.SigningMethod, key any, stream string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(m, jwt.MapClaims{"sub": stream, "exp": now.Add(ttl).Unix(), "iat": now.Add(-time.Minute).Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyFile writes body to a new file in the test's temporary directory.
func keyFile(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func ecPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWT publish auth with real ffmpeg publishers: over RTMP an expired token
// and one for another stream are refused and an HS256 token publishes;
// over SRT an ES256 token (PEM key) in the stream id publishes; a reload
// that rotates the secret in its file refuses the old tokens and takes the
// new ones.
func TestPublishAuthJWTWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secretPath := keyFile(t, "jwt.secret", []byte(jwtSecret+"\n"))
	body := listeners + "segment-target: 1s\nwindow: 6s\nreconnect-grace: 1s\npublish-auth: jwt\n" +
		"publish-jwt-secret-file: " + secretPath + "\npublish-jwt-public-key-file: " + keyFile(t, "jwt.pem", ecPEM(t, ec)) + "\n"
	a := startFromFile(t, body, nil)
	hs := []byte(jwtSecret)

	for _, tc := range []struct{ token, reason string }{
		{publishToken(t, jwt.SigningMethodHS256, hs, "demo", -time.Hour), "expired_token"},
		{publishToken(t, jwt.SigningMethodHS256, hs, "other", time.Hour), "wrong_stream"},
	} {
		if err := waitExit(t, publish(t, a.rtmpURL+"demo?key="+tc.token, 3)); err == nil {
			t.Errorf("ffmpeg published with a token refused for %s", tc.reason)
		}
		a.lines.wait(t, 0, `"reason":"`+tc.reason+`"`)
	}
	if _, err := a.registry.Timeline("demo"); !errors.Is(err, packager.ErrNotFound) {
		t.Errorf("the refused stream exists: %v", err)
	}
	good := publishToken(t, jwt.SigningMethodHS256, hs, "demo", time.Hour)
	rtmpPub := publish(t, a.rtmpURL+"demo?key="+good, 4)
	waitFor(t, a.testApp, "demo", 20*time.Second, "a segment over RTMP with a JWT", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 1
	})

	es := publishToken(t, jwt.SigningMethodES256, ec, "cam", time.Hour)
	streamID := "#!::r=live/cam,m=publish,key=" + es
	if len(streamID) > 512 {
		t.Fatalf("an ES256 stream id of %d bytes", len(streamID))
	}
	srtPub := publishArgsTo(t, []string{"-hide_banner", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
		"-t", "4", "-c:v", "libx264", "-g", "10", "-f", "mpegts", "srt://" + a.srt.Addr().String() + "?streamid=" + url.QueryEscape(streamID)})
	waitFor(t, a.testApp, "cam", 20*time.Second, "a segment over SRT with a JWT", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) >= 1 && len(tl.Tracks[0].Segments) >= 1
	})
	for _, cmd := range []*exec.Cmd{rtmpPub, srtPub} {
		if err := waitExit(t, cmd); err != nil {
			t.Errorf("ffmpeg with a good token: %v", err)
		}
	}

	// Rotate the secret in its file: a reload picks it up.
	writeConfig(t, secretPath, jwtNewSecret)
	res, err := a.reloadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Applied, ","), "publish-jwt-keys") {
		t.Errorf("reload result %+v", res)
	}
	if err := waitExit(t, publish(t, a.rtmpURL+"rotated?key="+publishToken(t, jwt.SigningMethodHS256, hs, "rotated", time.Hour), 3)); err == nil {
		t.Error("ffmpeg published with a token of the replaced secret")
	}
	publish(t, a.rtmpURL+"rotated?key="+publishToken(t, jwt.SigningMethodHS256, []byte(jwtNewSecret), "rotated", time.Hour), 3)
	waitFor(t, a.testApp, "rotated", 20*time.Second, "a segment with a token of the new secret", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 1
	})

	metrics := string(mustGet(t, a.admin+"/metrics"))
	for _, want := range []string{
		`liveorigin_publish_auth_failures_total{protocol="rtmp",reason="expired_token"} 1`,
		`liveorigin_publish_auth_failures_total{protocol="rtmp",reason="wrong_stream"} 1`,
		`liveorigin_publish_auth_failures_total{protocol="rtmp",reason="bad_token"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if logs := a.logs.String(); strings.Contains(logs, good) || strings.Contains(logs, es) || strings.Contains(logs, jwtSecret) {
		t.Error("the log shows a token or the secret")
	}
}

// rtspPublish starts ffmpeg pushing a short H.264 stream over RTSP (TCP).
func rtspPublish(t *testing.T, url string, seconds string) *exec.Cmd {
	t.Helper()
	return publishArgsTo(t, []string{"-hide_banner", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
		"-t", seconds, "-c:v", "libx264", "-g", "10", "-f", "rtsp", "-rtsp_transport", "tcp", url})
}

// RTSP credentials with real ffmpeg: a stream key as the password of a
// digest answer (ffmpeg picks digest when offered), a JWT as the password
// of a basic answer (a token stream is offered basic only), and wrong
// credentials refused with 403.
func TestPublishAuthRTSPCredentials(t *testing.T) {
	requireTools(t, "ffmpeg")
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.PublishAuth = "keys"
		c.StreamKeys = map[string]string{"cam": firstKey}
		c.StreamAuth = map[string]string{"tok": "jwt", "tok2": "jwt"}
		c.PublishJWTSecret = jwtSecret
	})
	host := a.rtsp.Addr().String()
	refused := func(url string) (string, error) {
		out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
			"-t", "2", "-c:v", "libx264", "-f", "rtsp", "-rtsp_transport", "tcp", url).CombinedOutput()
		return string(out), err
	}
	if out, err := refused("rtsp://user:" + secondOldKey + "@" + host + "/live/cam"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("ffmpeg with a wrong password: %v: %s", err, out)
	}
	if out, err := refused("rtsp://" + host + "/live/cam"); err == nil || !strings.Contains(out, "401") {
		t.Errorf("ffmpeg without credentials: %v: %s", err, out)
	}

	keyPub := rtspPublish(t, "rtsp://cam:"+firstKey+"@"+host+"/live/cam", "4")
	// ffmpeg keeps at most 127 bytes of a URL's user:password: a compact
	// HS256 token (no typ, sub and exp only) fits, others go in ?key=.
	compact := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "tok", "exp": time.Now().Add(time.Hour).Unix()})
	delete(compact.Header, "typ")
	token, err := compact.SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	if n := len("u:" + token); n > 127 {
		t.Fatalf("a compact token of %d bytes with its user", n)
	}
	tokPub := rtspPublish(t, "rtsp://u:"+token+"@"+host+"/live/tok", "4")
	long := publishToken(t, jwt.SigningMethodHS256, []byte(jwtSecret), "tok2", time.Hour)
	longPub := rtspPublish(t, "rtsp://"+host+"/live/tok2?key="+long, "4")
	for _, name := range []string{"cam", "tok", "tok2"} {
		waitFor(t, a, name, 20*time.Second, "a segment of "+name+" over RTSP with credentials", func(tl *packager.Timeline) bool {
			return len(tl.Tracks) >= 1 && len(tl.Tracks[0].Segments) >= 1
		})
	}
	for _, cmd := range []*exec.Cmd{keyPub, tokPub, longPub} {
		if err := waitExit(t, cmd); err != nil {
			t.Errorf("ffmpeg with credentials: %v", err)
		}
	}
	metrics := string(mustGet(t, a.admin+"/metrics"))
	if want := `liveorigin_publish_auth_failures_total{protocol="rtsp",reason="wrong_key"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if strings.Contains(metrics, `reason="no_key"`) {
		t.Error("a challenge was counted as a failure")
	}
	if logs := a.logs.String(); strings.Contains(logs, firstKey) || strings.Contains(logs, token) || strings.Contains(logs, long) || strings.Contains(logs, secondOldKey) {
		t.Error("the log shows a secret")
	}
}

// The JWT options: from the file and flags, and their mistakes.
func TestPublishAuthJWTConfig(t *testing.T) {
	pemPath := keyFile(t, "bad.pem", []byte("not a key"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--publish-auth", "jwt"}, "publish-auth jwt: no key to verify tokens with"},
		{[]string{"--publish-auth", "jwt", "--publish-jwt-secret", "short-secret"}, "publish-jwt-secret: must be at least 32 bytes (got 12)"},
		{[]string{"--publish-jwt-secret", jwtSecret, "--publish-jwt-secret-file", "/nonexistent/secret"}, "publish-jwt-secret-file: publish-jwt-secret is set too"},
		{[]string{"--publish-jwt-secret-file", "/nonexistent/secret"}, "publish-jwt-secret-file: open /nonexistent/secret"},
		{[]string{"--publish-auth", "jwt", "--publish-jwt-secret-file", "/nonexistent/secret"}, "publish-jwt-secret-file: open /nonexistent/secret"},
		{[]string{"--publish-auth", "jwt", "--publish-jwt-public-key-file", pemPath}, "publish-jwt-public-key-file " + pemPath + ": no PEM public key in it"},
		{[]string{"--publish-jwt-public-key-file", pemPath}, "publish-jwt-public-key-file " + pemPath + ": no PEM public key in it"},
		{[]string{"--publish-jwt-jwks-url", "ftp://idp/jwks?token=short-secret"}, `publish-jwt-jwks-url: "ftp://idp/jwks" is not an http or https URL`},
		{[]string{"--publish-jwt-jwks-url", "https://idp/jwks", "--publish-jwt-jwks-refresh", "1s"}, "publish-jwt-jwks-refresh: 1s is shorter than 10s"},
		{[]string{"--stream-auth", "cam=keys"}, "stream-auth cam=keys: stream cam has no stream-key"},
		{[]string{"--stream-auth", "cam=closed"}, `stream-auth cam: "closed" is not one of open, keys, jwt`},
	} {
		_, errs := loadConfig(tc.args, envMap(nil), io.Discard)
		got := strings.ReplaceAll(errors.Join(errs...).Error(), "\n", "; ")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%v: %s, want %q", tc.args, got, tc.want)
		}
		if tc.want != "publish-auth jwt: no key to verify tokens with" && strings.Contains(got, "no key to verify") {
			t.Errorf("%v: %s: a key file that did not load is reported as a missing key too", tc.args, got)
		}
		if strings.Contains(got, "short-secret") || strings.Contains(got, jwtSecret) {
			t.Errorf("%v: an error shows a secret: %s", tc.args, got)
		}
	}
	cfg, errs := loadConfig([]string{"--publish-auth", "jwt", "--stream-auth", "lobby=open"},
		envMap(map[string]string{"LIVEORIGIN_PUBLISH_JWT_SECRET": jwtSecret, "LIVEORIGIN_STREAM_AUTH": "cam=jwt,studio=open"}), io.Discard)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if cfg.PublishJWTSecret != jwtSecret || len(cfg.StreamAuth) != 3 || cfg.StreamAuth["studio"] != "open" {
		t.Errorf("config: %d stream-auth entries", len(cfg.StreamAuth))
	}
}

// jwksEndpoint serves a JWK set of one EC key.
func jwksEndpoint(t *testing.T, k *ecdsa.PrivateKey, kid string) *httptest.Server {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The daemon's JWKS fetcher: tokens of the set's key are accepted once it
// is fetched; a reload to another URL replaces the fetcher (the old key's
// tokens are refused, the new one's accepted) and the shutdown stops it
// (goleak).
func TestPublishAuthJWKSReload(t *testing.T) {
	var keys [2]*ecdsa.PrivateKey
	for i := range keys {
		var err error
		if keys[i], err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	first, second := jwksEndpoint(t, keys[0], "one"), jwksEndpoint(t, keys[1], "two")
	body := listeners + "publish-auth: jwt\npublish-jwt-jwks-url: "
	a := startFromFile(t, body+first.URL+"/jwks?access=s3cret-query\n", nil)
	token := func(i int, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "demo", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(keys[i])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	try := func(tok string) error {
		sess, err := a.auth.Publish(t.Context(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp", RemoteAddr: "127.0.0.1:1", Query: url.Values{"key": {tok}}})
		if err == nil {
			sess.Close(nil)
		}
		return err
	}
	// waitAccepted retries until the fetcher has the key (each refusal of
	// an unknown kid asks it for a fetch).
	waitAccepted := func(tok string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for try(tok) != nil {
			if time.Now().After(deadline) {
				t.Fatal("a token of the JWK set's key is still refused")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAccepted(token(0, "one"))
	if err := try(token(1, "two")); !errors.Is(err, ingest.ErrRefused) {
		t.Errorf("a key outside the set: %v", err)
	}

	writeConfig(t, a.file, body+second.URL+"\n")
	res, err := a.reloadConfig()
	if err != nil || !strings.Contains(strings.Join(res.Applied, ","), "publish-jwt-jwks-url") {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	waitAccepted(token(1, "two"))
	if err := try(token(0, "one")); !errors.Is(err, ingest.ErrRefused) {
		t.Errorf("the replaced set's key: %v", err)
	}
	metrics := string(mustGet(t, a.admin+"/metrics"))
	if !regexp.MustCompile(`liveorigin_publish_jwks_fetches_total\{result="ok"\} [2-9]`).MatchString(metrics) {
		t.Errorf("/metrics: fetches not counted")
	}
	if strings.Contains(a.logs.String(), "s3cret-query") {
		t.Error("the log shows the JWKS URL's query")
	}
}
