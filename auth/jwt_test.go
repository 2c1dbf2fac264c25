package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/liveorigin/liveorigin/ingest"
)

const hsSecret = "hs256-secret-0123456789abcdef-0123456789"

// testKeys are generated once: RSA generation is the slow part.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsa2 *rsa.PrivateKey
	ec, ec2   *ecdsa.PrivateKey
}) {
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa, &k.rsa2} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	}
	for _, p := range []**ecdsa.PrivateKey{&k.ec, &k.ec2} {
		if *p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	}
	return k
})

var jwtNow = time.Unix(1_800_000_000, 0)

// claims are publish claims valid at jwtNow for stream "demo".
func claims(edit func(c jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "demo", "exp": jwtNow.Add(time.Hour).Unix(), "iat": jwtNow.Add(-time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// testPublicKeys are testKeys' first RSA and EC public keys, read from
// PEM.
func testPublicKeys(tb testing.TB) []any {
	tb.Helper()
	k := testKeys()
	pubs, err := ParsePublicKeys(append(pemOf(tb, &k.rsa.PublicKey), pemOf(tb, &k.ec.PublicKey)...))
	if err != nil {
		tb.Fatal(err)
	}
	return pubs
}

// unsigned is an alg none token with the given claims.
func unsigned(t testing.TB, c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTVerify(t *testing.T) {
	k := testKeys()
	pubs := testPublicKeys(t)
	all := JWTConfig{Secret: []byte(hsSecret), PublicKeys: pubs}
	rsaOnly := JWTConfig{PublicKeys: pubs[:1]}
	withAud := JWTConfig{Secret: []byte(hsSecret), Audience: "liveorigin"}
	withIss := JWTConfig{Secret: []byte(hsSecret), Issuer: "https://idp.example.com/"}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", c) }
	for _, tc := range []struct {
		name   string
		cfg    JWTConfig
		stream string
		token  string
		want   string
	}{
		{"HS256", all, "demo", hs(claims(nil)), ""},
		{"RS256", all, "demo", sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(nil)), ""},
		{"ES256", all, "demo", sign(t, jwt.SigningMethodES256, k.ec, "", claims(nil)), ""},
		{"expired", all, "demo", hs(claims(func(c jwt.MapClaims) { c["exp"] = jwtNow.Add(-time.Minute).Unix() })), ReasonExpiredToken},
		{"expired within the leeway", all, "demo", hs(claims(func(c jwt.MapClaims) { c["exp"] = jwtNow.Add(-10 * time.Second).Unix() })), ""},
		{"not yet valid", all, "demo", hs(claims(func(c jwt.MapClaims) { c["nbf"] = jwtNow.Add(5 * time.Minute).Unix() })), ReasonExpiredToken},
		{"issued in the future", all, "demo", hs(claims(func(c jwt.MapClaims) { c["iat"] = jwtNow.Add(5 * time.Minute).Unix() })), ReasonExpiredToken},
		{"no exp", all, "demo", hs(claims(func(c jwt.MapClaims) { delete(c, "exp") })), ReasonBadToken},
		{"wrong stream", all, "other", hs(claims(nil)), ReasonWrongStream},
		{"no sub nor streams", all, "demo", hs(claims(func(c jwt.MapClaims) { delete(c, "sub") })), ReasonWrongStream},
		{"streams pattern", all, "cam-7", hs(claims(func(c jwt.MapClaims) { c["streams"] = []string{"studio", "cam-*"} })), ""},
		{"streams decide over sub", all, "demo", hs(claims(func(c jwt.MapClaims) { c["streams"] = []string{"cam-*"} })), ReasonWrongStream},
		{"bad pattern matches nothing", all, "cam-7", hs(claims(func(c jwt.MapClaims) { c["streams"] = []string{"cam-["} })), ReasonWrongStream},
		{"wrong HS256 secret", all, "demo", sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-0123"), "", claims(nil)), ReasonBadToken},
		{"RS256 by another key", all, "demo", sign(t, jwt.SigningMethodRS256, k.rsa2, "", claims(nil)), ReasonBadToken},
		{"ES256 by another key", all, "demo", sign(t, jwt.SigningMethodES256, k.ec2, "", claims(nil)), ReasonBadToken},
		{"alg none", all, "demo", unsigned(t, claims(nil)), ReasonBadToken},
		{"alg none, RSA keys", rsaOnly, "demo", unsigned(t, claims(nil)), ReasonBadToken},
		// Algorithm confusion: the RSA public key (PEM, as published) used
		// as an HMAC secret.
		{"HS256 signed with the RSA public key", rsaOnly, "demo", sign(t, jwt.SigningMethodHS256, pemOf(t, &k.rsa.PublicKey), "", claims(nil)), ReasonBadToken},
		{"HS256 signed with the RSA public key, secret set", all, "demo", sign(t, jwt.SigningMethodHS256, pemOf(t, &k.rsa.PublicKey), "", claims(nil)), ReasonBadToken},
		{"ES256 without EC keys", rsaOnly, "demo", sign(t, jwt.SigningMethodES256, k.ec, "", claims(nil)), ReasonBadToken},
		{"RS384 is not allowed", all, "demo", sign(t, jwt.SigningMethodRS384, k.rsa, "", claims(nil)), ReasonBadToken},
		{"audience", withAud, "demo", hs(claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", "liveorigin"} })), ""},
		{"wrong audience", withAud, "demo", hs(claims(func(c jwt.MapClaims) { c["aud"] = "other" })), ReasonBadToken},
		{"no audience", withAud, "demo", hs(claims(nil)), ReasonBadToken},
		{"issuer", withIss, "demo", hs(claims(func(c jwt.MapClaims) { c["iss"] = "https://idp.example.com/" })), ""},
		{"wrong issuer", withIss, "demo", hs(claims(func(c jwt.MapClaims) { c["iss"] = "https://other.example.com/" })), ReasonBadToken},
		{"no issuer", withIss, "demo", hs(claims(nil)), ReasonBadToken},
		{"not a JWT", all, "demo", "demo-key-7f3a91c2e5", ReasonBadToken},
		{"too long", all, "demo", hs(claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", MaxTokenLength) })), ReasonBadToken},
		{"a JWKS not fetched yet", JWTConfig{JWKSURL: "http://127.0.0.1:1/jwks"}, "demo", sign(t, jwt.SigningMethodRS256, k.rsa, "a", claims(nil)), ReasonNoSigningKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, errs := newVerifier(tc.cfg)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := v.verify(tc.token, tc.stream, jwtNow); got != tc.want {
				t.Errorf("verify = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeCreds are RTSP-like credentials: a basic password, or a digest
// answer made with a secret.
type fakeCreds struct {
	password string
	digest   bool
}

func (c fakeCreds) Password() (string, bool) { return c.password, !c.digest }
func (c fakeCreds) Match(secret string) bool { return c.password == secret }

// Modes per stream, the JWT through the key parameter and RTSP-like
// credentials, and the challenge of a publisher that sent nothing.
func TestPublishModes(t *testing.T) {
	token := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil))
	set, errs := NewKeySet(Config{
		Mode:        ModeJWT,
		StreamModes: map[string]Mode{"lobby": ModeOpen, "cam": ModeKeys},
		Keys:        map[string]string{"cam": demoKey},
		JWT:         JWTConfig{Secret: []byte(hsSecret)},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f := newFixture(t, ModeOpen, nil)
	f.clk.now = jwtNow
	f.pub.SetKeys(set)
	for _, tc := range []struct {
		name   string
		info   ingest.PublishInfo
		reason string // empty: allowed; "challenge": asked for credentials
		digest bool
	}{
		{"jwt in the key", ingest.PublishInfo{Name: "demo", Query: key(token)}, "", false},
		{"jwt for another stream", ingest.PublishInfo{Name: "other", Query: key(token)}, ReasonWrongStream, false},
		{"no token", ingest.PublishInfo{Name: "demo"}, ReasonNoKey, false},
		{"a stream key is no token", ingest.PublishInfo{Name: "demo", Query: key(demoKey)}, ReasonBadToken, false},
		{"open stream", ingest.PublishInfo{Name: "lobby"}, "", false},
		{"keys stream", ingest.PublishInfo{Name: "cam", Query: key(demoKey)}, "", false},
		{"keys stream, token", ingest.PublishInfo{Name: "cam", Query: key(token)}, ReasonWrongKey, false},
		{"jwt as basic password", ingest.PublishInfo{Name: "demo", Credentials: fakeCreds{password: token}}, "", false},
		{"jwt stream, digest", ingest.PublishInfo{Name: "demo", Credentials: fakeCreds{password: token, digest: true}}, ReasonNoKey, false},
		{"key as digest", ingest.PublishInfo{Name: "cam", Credentials: fakeCreds{password: demoKey, digest: true}}, "", false},
		{"wrong digest", ingest.PublishInfo{Name: "cam", Credentials: fakeCreds{password: otherKey, digest: true}}, ReasonWrongKey, false},
		{"challenge, jwt stream", ingest.PublishInfo{Name: "demo", CanChallenge: true}, "challenge", false},
		{"challenge, keys stream", ingest.PublishInfo{Name: "cam", CanChallenge: true}, "challenge", true},
		{"no challenge with a key", ingest.PublishInfo{Name: "cam", CanChallenge: true, Query: key(otherKey)}, ReasonWrongKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.info.Protocol, tc.info.RemoteAddr = "rtsp", "192.0.2.9:5000"
			before := testutilSum(t, f)
			_, err := f.pub.Publish(t.Context(), tc.info)
			var ch *ingest.ChallengeError
			switch {
			case tc.reason == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case tc.reason == "challenge":
				if !errors.As(err, &ch) || ch.Digest != tc.digest || !errors.Is(err, ingest.ErrRefused) {
					t.Fatalf("err %v, want a challenge (digest %v)", err, tc.digest)
				}
				if testutilSum(t, f) != before {
					t.Error("a challenge was counted as a failure")
				}
			default:
				if !errors.Is(err, ingest.ErrRefused) || errors.As(err, &ch) {
					t.Fatalf("err %v, want a refusal", err)
				}
				if got := counterValue(t, f.pub.failures.WithLabelValues("rtsp", tc.reason)); got < 1 {
					t.Errorf("no failure counted with reason %s", tc.reason)
				}
			}
		})
	}
	if strings.Contains(f.logs.String(), token) || strings.Contains(f.logs.String(), demoKey) {
		t.Error("the log shows a secret")
	}
}

func testutilSum(t *testing.T, f *fixture) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// jwksServer serves a JWK set that the test swaps, or fails.
type jwksServer struct {
	*httptest.Server
	body   atomic.Pointer[[]byte]
	status atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := int(s.status.Load()); st != http.StatusOK {
			w.WriteHeader(st)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(t *testing.T, keys ...jose.JSONWebKey) {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	s.body.Store(&b)
}

// A JWKS rotation: tokens of the new key are refused until the set has
// it (the unknown kid asks for a fetch), then accepted; the old key goes
// with the old set; a failing fetch keeps the last good set.
func TestJWKSRotation(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t)
	keyA := jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "a", Algorithm: "RS256", Use: "sig"}
	keyB := jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "b", Algorithm: "ES256", Use: "sig"}
	srv.serve(t, keyA)
	fetched := make(chan error, 16)
	j := NewJWKS(JWKSOptions{URL: srv.URL + "/jwks?token=s3cret", Refresh: time.Hour, MinGap: time.Millisecond,
		OnFetch: func(err error) { fetched <- err }, Metrics: NewJWKSMetrics(nil)})
	defer j.Close()
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}
	v, errs := newVerifier(JWTConfig{JWKSURL: j.URL(), JWKS: j})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tokA := sign(t, jwt.SigningMethodRS256, k.rsa, "a", claims(nil))
	tokB := sign(t, jwt.SigningMethodES256, k.ec, "b", claims(nil))
	if r := v.verify(tokA, "demo", jwtNow); r != "" {
		t.Errorf("key a: %q", r)
	}
	srv.serve(t, keyB)
	if r := v.verify(tokB, "demo", jwtNow); r != ReasonNoSigningKey {
		t.Errorf("key b before the set has it: %q, want %q", r, ReasonNoSigningKey)
	}
	if err := <-fetched; err != nil { // the unknown kid asked for it
		t.Fatal(err)
	}
	if r := v.verify(tokB, "demo", jwtNow); r != "" {
		t.Errorf("key b after the rotation: %q", r)
	}
	if r := v.verify(tokA, "demo", jwtNow); r != ReasonNoSigningKey {
		t.Errorf("key a after the rotation: %q, want %q", r, ReasonNoSigningKey)
	}
	<-fetched // the fetch tokA's kid asked for
	srv.status.Store(http.StatusInternalServerError)
	j.Refresh()
	if err := <-fetched; err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("fetch error %v: want one, without the URL's query", err)
	}
	if r := v.verify(tokB, "demo", jwtNow); r != "" {
		t.Errorf("key b after a failed fetch: %q", r)
	}
	if got := counterValue(t, j.opts.Metrics.fetches.WithLabelValues("error")); got != 1 {
		t.Errorf("%v failed fetches counted, want 1", got)
	}
}

// A JWKS that never answers: verify does not wait for it.
func TestJWKSUnreachable(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	j := NewJWKS(JWKSOptions{URL: srv.URL})
	defer j.Close()
	v, _ := newVerifier(JWTConfig{JWKSURL: j.URL(), JWKS: j})
	start := time.Now()
	if r := v.verify(sign(t, jwt.SigningMethodRS256, testKeys().rsa, "a", claims(nil)), "demo", jwtNow); r != ReasonNoSigningKey {
		t.Errorf("verify = %q, want %q", r, ReasonNoSigningKey)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("verify took %s", d)
	}
}

func jwkJSON(t testing.TB, k jose.JSONWebKey) string {
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jwksSeeds(t testing.TB) map[string]string {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK := jwkJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r"})
	return map[string]string{
		"rsa":            `{"keys":[` + rsaJWK + `]}`,
		"ec private":     `{"keys":[` + jwkJSON(t, jose.JSONWebKey{Key: k.ec, KeyID: "e"}) + `]}`,
		"small rsa":      `{"keys":[` + jwkJSON(t, jose.JSONWebKey{Key: &small.PublicKey}) + `]}`,
		"p384":           `{"keys":[` + jwkJSON(t, jose.JSONWebKey{Key: &p384.PublicKey}) + `]}`,
		"oct":            `{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}`,
		"enc":            `{"keys":[` + jwkJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, Use: "enc"}) + `]}`,
		"alg mismatch":   `{"keys":[` + jwkJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, Algorithm: "PS256"}) + `]}`,
		"one of two":     `{"keys":[{"kty":"nope"},` + rsaJWK + `]}`,
		"empty":          `{"keys":[]}`,
		"not json":       `<html>`,
		"keys not array": `{"keys":{}}`,
	}
}

func TestParseJWKS(t *testing.T) {
	want := map[string]int{"rsa": 1, "ec private": 1, "one of two": 1} // usable keys; others: an error
	for name, doc := range jwksSeeds(t) {
		keys, err := parseJWKS([]byte(doc))
		if n := want[name]; len(keys) != n || (n == 0) != (err != nil) {
			t.Errorf("%s: %d keys, error %v; want %d", name, len(keys), err, n)
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	for _, doc := range jwksSeeds(f) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if (err == nil) != (len(keys) > 0) {
			t.Fatalf("%d keys, error %v", len(keys), err)
		}
		for _, k := range keys {
			if _, err := checkPublicKey(k.key); err != nil {
				t.Fatalf("an unusable key kept: %v", err)
			}
		}
	})
}

// FuzzVerify: any token string (from a publisher's key parameter or
// password) gets a reason, never a panic, and only signed ones pass.
func FuzzVerify(f *testing.F) {
	k := testKeys()
	pubs := testPublicKeys(f)
	v, _ := newVerifier(JWTConfig{Secret: []byte(hsSecret), PublicKeys: pubs})
	valid := sign(f, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil))
	for _, s := range []string{valid, sign(f, jwt.SigningMethodES256, k.ec, "x", claims(nil)), unsigned(f, claims(nil)),
		"", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", url.QueryEscape(valid)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		r := v.verify(token, "demo", jwtNow)
		if r == "" && token != valid && !strings.HasPrefix(token, "eyJ") {
			t.Fatalf("accepted %q", token)
		}
	})
}

func TestParsePublicKeys(t *testing.T) {
	k := testKeys()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	for _, tc := range []struct {
		name string
		pem  []byte
		n    int
		want string
	}{
		{"rsa and ec", append(pemOf(t, &k.rsa.PublicKey), pemOf(t, &k.ec.PublicKey)...), 2, ""},
		{"pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}), 1, ""},
		{"small rsa", pemOf(t, &small.PublicKey), 0, "PEM block 1: an RSA key of 1024 bits"},
		{"private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0, `a "PRIVATE KEY" block`},
		{"nothing", []byte("hello"), 0, "no PEM public key"},
	} {
		keys, err := ParsePublicKeys(tc.pem)
		if len(keys) != tc.n || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: %d keys, %v; want %d, %q", tc.name, len(keys), err, tc.n, tc.want)
		}
	}
}

// Token sizes for the SRT stream id (512 bytes in all): the ES256 and
// HS256 tokens of a typical claim set fit, RS256 (2048 bits) barely.
func TestTokenSizes(t *testing.T) {
	k := testKeys()
	c := claims(func(c jwt.MapClaims) { c["sub"] = "studio-camera-01"; c["aud"] = "liveorigin" })
	prefix := len("#!::r=live/studio-camera-01,m=publish,key=")
	for _, tc := range []struct {
		m   jwt.SigningMethod
		key any
		fit bool
	}{
		{jwt.SigningMethodHS256, []byte(hsSecret), true},
		{jwt.SigningMethodES256, k.ec, true},
		{jwt.SigningMethodRS256, k.rsa, false},
	} {
		n := prefix + len(sign(t, tc.m, tc.key, "key-2026-01", c))
		t.Logf("%s: stream id of %d bytes", tc.m.Alg(), n)
		if (n <= 512) != tc.fit {
			t.Errorf("%s: a stream id of %d bytes; fits in 512: want %v", tc.m.Alg(), n, tc.fit)
		}
	}
}

// BenchmarkVerify: the cost of checking one publisher's token.
func BenchmarkVerify(b *testing.B) {
	k := testKeys()
	pubs := testPublicKeys(b)
	v, _ := newVerifier(JWTConfig{Secret: []byte(hsSecret), PublicKeys: pubs})
	for _, tc := range []struct {
		m   jwt.SigningMethod
		key any
	}{{jwt.SigningMethodHS256, []byte(hsSecret)}, {jwt.SigningMethodES256, k.ec}, {jwt.SigningMethodRS256, k.rsa}} {
		token := sign(b, tc.m, tc.key, "", claims(nil))
		b.Run(tc.m.Alg(), func(b *testing.B) {
			for b.Loop() {
				if r := v.verify(token, "demo", jwtNow); r != "" {
					b.Fatal(r)
				}
			}
		})
	}
}
