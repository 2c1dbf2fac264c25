package rtsp

import (
	"strings"
	"testing"
	"time"

	rtspauth "github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/golang-jwt/jwt/v5"

	"github.com/liveorigin/liveorigin/auth"
)

const (
	camKey    = "cam-key-5d1e0c7b2a9f"
	jwtSecret = "rtsp-test-jwt-secret-0123456789abcdef"
)

// authorization is the Authorization header a client answering challenge
// (the WWW-Authenticate values of a 401) sends with pass; digest is picked
// over basic when offered, as ffmpeg does.
func authorization(t *testing.T, challenge base.HeaderValue, method, rawURL, pass string) string {
	t.Helper()
	se := rtspauth.Sender{WWWAuth: challenge, User: "anyone", Pass: pass}
	if err := se.Initialize(); err != nil {
		t.Fatal(err)
	}
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	req := &base.Request{Method: base.Method(method), URL: u, Header: base.Header{}}
	se.AddAuthorization(req)
	return req.Header["Authorization"][0]
}

// RTSP credentials through the real publish auth: a publisher without
// them is challenged (digest and basic for a stream key, basic only for a
// token) and may answer on the same connection; a wrong answer gets 403
// and the connection is closed.
func TestCredentials(t *testing.T) {
	set, errs := auth.NewKeySet(auth.Config{Mode: auth.ModeKeys, Keys: map[string]string{"cam": camKey},
		StreamModes: map[string]auth.Mode{"tok": auth.ModeJWT}, JWT: auth.JWTConfig{Secret: []byte(jwtSecret)}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ts := startServer(t, Options{Publisher: auth.NewPublisher(newFakePublisher(), set, auth.Options{})})
	sdp := string(readCapture(t, "h264_aac.rtpcap").sdp)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "tok", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, pass string
		schemes          []string // offered in the 401
		status           base.StatusCode
	}{
		{"digest with the key", "/live/cam", camKey, []string{"Basic", "Digest"}, base.StatusOK},
		{"digest with a wrong key", "/live/cam", "wrong-key-0123456789", []string{"Basic", "Digest"}, base.StatusForbidden},
		{"basic with the token", "/live/tok", token, []string{"Basic"}, base.StatusOK},
		{"basic with a wrong token", "/live/tok", "not-a-token", []string{"Basic"}, base.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, ts.addr, tc.path)
			res, err := p.request("ANNOUNCE", p.url, nil, sdp)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != base.StatusUnauthorized {
				t.Fatalf("without credentials: %d, want 401", res.StatusCode)
			}
			var schemes []string
			for _, v := range res.Header["WWW-Authenticate"] {
				scheme, _, _ := strings.Cut(v, " ")
				schemes = append(schemes, scheme)
				if !strings.Contains(v, `realm="liveorigin"`) {
					t.Errorf("challenge %q: no realm", v)
				}
			}
			if strings.Join(schemes, ",") != strings.Join(tc.schemes, ",") {
				t.Errorf("challenges %v, want %v", schemes, tc.schemes)
			}
			answer := authorization(t, res.Header["WWW-Authenticate"], "ANNOUNCE", p.url, tc.pass)
			if wantDigest := len(tc.schemes) == 2; strings.HasPrefix(answer, "Digest ") != wantDigest {
				t.Fatalf("answer %q: digest %v", answer[:10], wantDigest)
			}
			res, err = p.request("ANNOUNCE", p.url, map[string]string{"Authorization": answer}, sdp)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("with credentials: %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status == base.StatusForbidden {
				if _, err := p.request("OPTIONS", p.url, nil, ""); err == nil {
					t.Error("the connection stays open after a wrong answer")
				}
				return
			}
			if _, err := p.request("TEARDOWN", p.url, nil, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A digest answer made for another connection's nonce is refused.
	first := dialRaw(t, ts.addr, "/live/cam")
	res, err := first.request("ANNOUNCE", first.url, nil, sdp)
	if err != nil {
		t.Fatal(err)
	}
	replay := authorization(t, res.Header["WWW-Authenticate"], "ANNOUNCE", first.url, camKey)
	second := dialRaw(t, ts.addr, "/live/cam")
	if _, err := second.request("ANNOUNCE", second.url, nil, sdp); err != nil {
		t.Fatal(err)
	}
	if res, err := second.request("ANNOUNCE", second.url, map[string]string{"Authorization": replay}, sdp); err != nil || res.StatusCode != base.StatusForbidden {
		t.Errorf("a replayed digest answer: %v %v, want 403", res, err)
	}
}
