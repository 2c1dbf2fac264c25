package origin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/liveorigin/liveorigin/playauth"
)

var (
	signKey  = playauth.Key{ID: "k1", Secret: []byte("origin-test-signing-secret-0123456789")}
	otherKey = playauth.Key{ID: "k2", Secret: []byte("origin-test-other-secret-9876543210ab")}
)

// newSignedFixture is a fixture whose stream "demo" needs a token.
func newSignedFixture(t testing.TB, ipHeader string) *fixture {
	t.Helper()
	f := newFixture(t)
	p, errs := playauth.NewPolicy(playauth.Options{Keys: []playauth.Key{signKey, otherKey}, SigningKey: "k1", Streams: []string{"demo"}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f.server.SetPlaybackAuth(p, ipHeader)
	f.publish(t)
	f.feed(t, 4*time.Second)
	return f
}

func (f *fixture) sign(t testing.TB, k playauth.Key, c playauth.Claims) string {
	t.Helper()
	if c.Prefix == "" {
		c.Prefix = playauth.StreamPrefix("demo")
	}
	if c.Expires.IsZero() {
		c.Expires = f.clock.Now().Add(time.Minute)
	}
	tok, err := playauth.Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// changeOne changes one character of a token's signature.
func changeOne(tok string) string {
	c := byte('A')
	if tok[len(tok)-3] == 'A' {
		c = 'B'
	}
	return tok[:len(tok)-3] + string(c) + tok[len(tok)-2:]
}

var rePart = regexp.MustCompile(`URI="(v0/part-[0-9]+\.m4s)"`)

// signedObjects are the paths, relative to /live/demo/, of one object of
// every kind the origin serves, read from its playlists.
func signedObjects(t *testing.T, f *fixture, tok string) map[string]string {
	t.Helper()
	base := "/live/demo/t/" + tok + "/"
	media := body(t, f.do(t, "GET", base+"v0.m3u8"))
	lastMSN, _ := playlistEdge(t, media)
	parts := rePart.FindAllStringSubmatch(media, -1)
	if len(parts) == 0 {
		t.Fatalf("no parts:\n%s", media)
	}
	return map[string]string{
		"multivariant":    "index.m3u8",
		"media_playlist":  "a0.m3u8",
		"delta update":    "v0.m3u8?_HLS_skip=YES",
		"blocking reload": "v0.m3u8?_HLS_msn=" + strconv.FormatUint(lastMSN, 10),
		"mpd":             "manifest.mpd",
		"init":            reInit.FindStringSubmatch(media)[1],
		"segment":         reSegment.FindString(media),
		"part":            parts[0][1], // the last is the preload hint's

		"rendition report": "a0.m3u8?_HLS_msn=" + strconv.FormatUint(lastMSN, 10),
	}
}

// A protected stream: every object kind plays with a good token under
// /live/demo/t/TOKEN/, and is refused without one, with a changed
// character, for another stream, after the expiry, and from another
// client address.
func TestSignedPlaybackEveryObject(t *testing.T) {
	f := newSignedFixture(t, "")
	tok := f.sign(t, signKey, playauth.Claims{})
	objects := signedObjects(t, f, tok)
	refusals := f.server.tokenRefusals
	changed := changeOne(tok)
	other := f.sign(t, signKey, playauth.Claims{Prefix: playauth.StreamPrefix("other")})
	// httptest's requests come from 192.0.2.1.
	bound := f.sign(t, otherKey, playauth.Claims{ClientIP: netip.MustParseAddr("192.0.2.99")})
	for what, obj := range objects {
		t.Run(what, func(t *testing.T) {
			resp := f.do(t, "GET", "/live/demo/t/"+tok+"/"+obj)
			if resp.StatusCode != 200 {
				t.Fatalf("signed: %d", resp.StatusCode)
			}
			for _, tc := range []struct {
				path   string
				reason playauth.Reason
			}{
				{"/live/demo/" + obj, playauth.ReasonMissing},
				{"/live/demo/t/" + changed + "/" + obj, playauth.ReasonBadSignature},
				{"/live/demo/t/" + other + "/" + obj, playauth.ReasonWrongPath},
				{"/live/demo/t/" + bound + "/" + obj, playauth.ReasonWrongIP},
				{"/live/demo/t/not-a-token/" + obj, playauth.ReasonMalformed},
			} {
				before := counterValue(t, refusals[tc.reason])
				resp := f.do(t, "GET", tc.path)
				b := body(t, resp)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(b, string(tc.reason)) {
					t.Errorf("%s: %d %.80q, want 403 %s", tc.path, resp.StatusCode, b, tc.reason)
				}
				if got := counterValue(t, refusals[tc.reason]); got != before+1 {
					t.Errorf("%s: refusals{reason=%s} went from %v to %v", tc.path, tc.reason, before, got)
				}
				h := resp.Header
				if h.Get("Cache-Control") != "private, max-age=2" || h.Get("CDN-Cache-Control") != "no-store" || h.Get("Surrogate-Control") != "no-store" {
					t.Errorf("%s: cache headers %q %q %q", tc.path, h.Get("Cache-Control"), h.Get("CDN-Cache-Control"), h.Get("Surrogate-Control"))
				}
			}
		})
	}
	// After the expiry: 403 on every kind.
	f.clock.Advance(time.Minute)
	for what, obj := range objects {
		if resp := f.do(t, "GET", "/live/demo/t/"+tok+"/"+obj); resp.StatusCode != http.StatusForbidden || !strings.Contains(body(t, resp), "expired") {
			t.Errorf("%s after the expiry: %d", what, resp.StatusCode)
		}
	}
	if got := counterValue(t, refusals[playauth.ReasonExpired]); got != float64(len(objects)) {
		t.Errorf("expired refusals: %v, want %d", got, len(objects))
	}
}

// The documents served under a token are the shared ones: the same bytes
// for every token and without one, rendered once, and every URI in them is
// relative, so it resolves under the token.
func TestSignedPlaybackSharesDocuments(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 3*time.Second)
	p, _ := playauth.NewPolicy(playauth.Options{Keys: []playauth.Key{signKey}})
	f.server.SetPlaybackAuth(p, "")
	a, b := f.sign(t, signKey, playauth.Claims{}), f.sign(t, signKey, playauth.Claims{Expires: f.clock.Now().Add(time.Hour)})
	reURI := regexp.MustCompile(`(?m)URI="([^"]+)"|^([^#\n].*)$|(?:initialization|media)="([^"]+)"`)
	for _, doc := range []string{"index.m3u8", "v0.m3u8", "manifest.mpd"} {
		before := f.server.cache.renders.Load()
		plain := body(t, f.do(t, "GET", "/live/demo/"+doc))
		withA := body(t, f.do(t, "GET", "/live/demo/t/"+a+"/"+doc))
		withB := body(t, f.do(t, "GET", "/live/demo/t/"+b+"/"+doc))
		if plain != withA || plain != withB {
			t.Errorf("%s differs under a token", doc)
		}
		if n := f.server.cache.renders.Load() - before; n != 1 {
			t.Errorf("%s rendered %d times for three requests", doc, n)
		}
		for _, m := range reURI.FindAllStringSubmatch(plain, -1) {
			uri := m[1] + m[2] + m[3]
			if strings.HasPrefix(uri, "<") {
				continue // the MPD's XML
			}
			if strings.HasPrefix(uri, "/") || strings.Contains(uri, "://") {
				t.Errorf("%s: absolute URI %q would leave the token's path", doc, uri)
			}
		}
	}
	// The stream is not protected: a plain URL plays, a bad token is
	// still refused.
	if resp := f.do(t, "GET", "/live/demo/t/"+changeOne(a)+"/index.m3u8"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a bad token on an unprotected stream: %d", resp.StatusCode)
	}
}

// A token bound to a client address, behind a proxy that names the
// client in a header.
func TestSignedPlaybackClientIPHeader(t *testing.T) {
	f := newSignedFixture(t, "X-Forwarded-For")
	tok := f.sign(t, signKey, playauth.Claims{ClientIP: netip.MustParseAddr("203.0.113.9")})
	for _, tc := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.9", 200},
		{"198.51.100.1, 203.0.113.9", 200},
		{"203.0.113.9, 10.0.0.1", 403}, // a forged first entry
		{"", 403},
		{"garbage", 403},
	} {
		if resp := f.do(t, "GET", "/live/demo/t/"+tok+"/index.m3u8", "X-Forwarded-For", tc.xff); resp.StatusCode != tc.want {
			t.Errorf("X-Forwarded-For %q: %d, want %d", tc.xff, resp.StatusCode, tc.want)
		}
	}
	// Without the header option the connection's address counts
	// (httptest's 192.0.2.1).
	p, _ := playauth.NewPolicy(playauth.Options{Keys: []playauth.Key{signKey}, Streams: []string{"*"}})
	f.server.SetPlaybackAuth(p, "")
	if resp := f.do(t, "GET", "/live/demo/t/"+tok+"/index.m3u8", "X-Forwarded-For", "203.0.113.9"); resp.StatusCode != 403 {
		t.Errorf("X-Forwarded-For trusted without the option: %d", resp.StatusCode)
	}
	conn := f.sign(t, signKey, playauth.Claims{ClientIP: netip.MustParseAddr("192.0.2.1")})
	if resp := f.do(t, "GET", "/live/demo/t/"+conn+"/index.m3u8"); resp.StatusCode != 200 {
		t.Errorf("bound to the connection's address: %d", resp.StatusCode)
	}
	// Turned off: no stream needs a token.
	f.server.SetPlaybackAuth(nil, "")
	if resp := f.do(t, "GET", "/live/demo/index.m3u8"); resp.StatusCode != 200 {
		t.Errorf("off: %d", resp.StatusCode)
	}
}

// A token in the query of a protected stream: a redirect to the path
// form, keeping the other parameters; a bad one is refused at once.
func TestSignedPlaybackQueryToken(t *testing.T) {
	f := newSignedFixture(t, "")
	tok := f.sign(t, signKey, playauth.Claims{})
	for _, tc := range []struct {
		path, location string
	}{
		{"/live/demo/index.m3u8?token=" + tok, "/live/demo/t/" + tok + "/index.m3u8"},
		{"/live/demo/manifest.mpd?token=" + tok, "/live/demo/t/" + tok + "/manifest.mpd"},
		{"/live/demo/v0.m3u8?_HLS_skip=YES&token=" + tok, "/live/demo/t/" + tok + "/v0.m3u8?_HLS_skip=YES"},
	} {
		resp := f.do(t, "GET", tc.path)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != tc.location || resp.Header.Get("Cache-Control") != "no-store" ||
			resp.Header.Get("CDN-Cache-Control") != "no-store" {
			t.Errorf("%s: %d %q %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"))
			continue
		}
		if resp := f.do(t, "GET", tc.location); resp.StatusCode != 200 {
			t.Errorf("%s: %d", tc.location, resp.StatusCode)
		}
	}
	for _, bad := range []string{changeOne(tok), "", f.sign(t, signKey, playauth.Claims{Prefix: "/live/other/"})} {
		if resp := f.do(t, "GET", "/live/demo/index.m3u8?token="+bad); resp.StatusCode != http.StatusForbidden {
			t.Errorf("token %q in the query: %d", bad, resp.StatusCode)
		}
	}
	// On a stream that needs no token, a "token" parameter may be a CDN's
	// own: ignored.
	p, _ := playauth.NewPolicy(playauth.Options{Keys: []playauth.Key{signKey}})
	f.server.SetPlaybackAuth(p, "")
	if resp := f.do(t, "GET", "/live/demo/index.m3u8?token=cdn-own-token"); resp.StatusCode != 200 {
		t.Errorf("a CDN's token parameter on an open stream: %d", resp.StatusCode)
	}
}

func TestCutToken(t *testing.T) {
	for _, tc := range []struct {
		path, name, token, head, tail string
		ok                            bool
	}{
		{"/live/demo/t/TOK/v0/1.m4s", "demo", "TOK", "/live/demo/", "v0/1.m4s", true},
		{"/live/demo/t/TOK/index.m3u8", "demo", "TOK", "/live/demo/", "index.m3u8", true},
		{"/live/demo/t/TOK", "demo", "TOK", "", "", false},
		{"/live/demo/t/TOX/index.m3u8", "demo", "TOK", "", "", false},
		{"/live/demo/x/TOK/index.m3u8", "demo", "TOK", "", "", false},
		{"/live/dem%6F/t/TOK/index.m3u8", "demo", "TOK", "", "", false},
		{"/live/d", "demo", "TOK", "", "", false},
	} {
		head, tail, ok := cutToken(tc.path, tc.name, tc.token)
		if head != tc.head || tail != tc.tail || ok != tc.ok {
			t.Errorf("cutToken(%q) = %q %q %v", tc.path, head, tail, ok)
		}
	}
}

func TestLogPath(t *testing.T) {
	for in, want := range map[string]string{
		"/live/demo/t/v1.k1.1.L2.AB.SIG/v0/1.m4s": "/live/demo/t/REDACTED/v0/1.m4s",
		"/live/demo/t/v1.k1.1.L2.AB.SIG":          "/live/demo/t/REDACTED/",
		"/live/demo/v0/1.m4s":                     "/live/demo/v0/1.m4s",
		"/live/demo/index.m3u8":                   "/live/demo/index.m3u8",
		"/time":                                   "/time",
	} {
		if got := logPath(in); got != want {
			t.Errorf("logPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMintTokenAPI(t *testing.T) {
	f := newSignedFixture(t, "")
	post := func(h http.Handler, body string) (int, map[string]string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/tokens", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin-token-0123456789")
		h.ServeHTTP(rec, req)
		var doc map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &doc)
		return rec.Code, doc
	}
	admin := f.server.AdminHandler(AdminOptions{Gatherer: f.reg, Token: "admin-token-0123456789"})
	code, doc := post(admin, `{"stream": "demo", "ttl": "10m"}`)
	if code != 200 || doc["hls"] != "/live/demo/t/"+doc["token"]+"/index.m3u8" || doc["dash"] != "/live/demo/t/"+doc["token"]+"/manifest.mpd" ||
		doc["expires"] != f.clock.Now().Add(10*time.Minute).UTC().Format(time.RFC3339) {
		t.Fatalf("mint: %d %v", code, doc)
	}
	for _, p := range []string{doc["hls"], doc["dash"]} {
		if resp := f.do(t, "GET", p); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"stream": "demo", "ttl": "48h"}`, 400}, // over the max lifetime
		{`{"stream": "demo", "ttl": "soon"}`, 400},
		{`{"stream": "demo", "client_ip": "nope"}`, 400},
		{`{"stream": "a/b"}`, 400},
		{`{"stream": "demo", "extra": 1}`, 400},
		{`{"stream": "demo", "client_ip": "192.0.2.1"}`, 200},
	} {
		if code, doc := post(admin, tc.body); code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.body, code, doc, tc.want)
		}
	}
	f.server.SetPlaybackAuth(nil, "")
	if code, _ := post(admin, `{"stream": "demo"}`); code != http.StatusNotImplemented {
		t.Errorf("without keys: %d", code)
	}
	// Without an admin token the API does not mint.
	if code, _ := post(f.server.AdminHandler(AdminOptions{Gatherer: f.reg}), `{"stream": "demo"}`); code != http.StatusForbidden {
		t.Errorf("without admin-token: %d", code)
	}
}

// Serving a protected stream's playlist and segment: the token check adds
// no allocation to the unprotected path (BenchmarkServeMediaPlaylist,
// BenchmarkServeSegment).
func benchmarkSigned(b *testing.B, object func(media string) string) {
	f := newSignedFixture(b, "")
	f.feedToPart(b) // a fresh edge: the playlist answers at once
	tok := f.sign(b, signKey, playauth.Claims{Expires: f.clock.Now().Add(time.Hour)})
	media := body(b, f.do(b, "GET", "/live/demo/t/"+tok+"/v0.m3u8"))
	req := httptest.NewRequest("GET", "/live/demo/t/"+tok+"/"+object(media), nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		f.handler.ServeHTTP(w, req)
	}
}

func BenchmarkServeSignedMediaPlaylist(b *testing.B) {
	benchmarkSigned(b, func(string) string { return "v0.m3u8" })
}

func BenchmarkServeSignedSegment(b *testing.B) {
	benchmarkSigned(b, func(media string) string { return reSegment.FindString(media) })
}

// FuzzTokenPath: cutting the token out of a request path and redacting it
// for the log never panic; a cut puts the path back together, and the
// redacted path never holds the token.
func FuzzTokenPath(f *testing.F) {
	tok := "v1.k1.1795003600.L2xpdmUvZGVtby8..h8Cdx1E9hdBz55M284VXtlHsY53tlZ-bYXPPLBIzd2A"
	for _, p := range []string{"/live/demo/t/" + tok + "/v0/1.m4s", "/live/demo/t/" + tok, "/live/demo/index.m3u8", "/live//t//", "/live/"} {
		f.Add(p, "demo", tok)
	}
	f.Fuzz(func(t *testing.T, path, name, token string) {
		if head, tail, ok := cutToken(path, name, token); ok {
			if head+playauth.PathSegment+"/"+token+"/"+tail != path {
				t.Fatalf("cutToken(%q, %q, %q) = %q %q", path, name, token, head, tail)
			}
			if len(token) > 8 && !strings.Contains(name, token) && strings.Contains(logPath(path), token) &&
				!strings.Contains(tail, token) {
				t.Fatalf("logPath(%q) = %q keeps the token", path, logPath(path))
			}
		}
		_ = logPath(path)
	})
}

// A refused or redirected token request names no stream the viewer made up
// in its cache tags, and leaves nothing in the render cache.
func TestTokenRefusalKeepsViewerNames(t *testing.T) {
	f := newSignedFixture(t, "")
	entries := func() int {
		n := 0
		f.server.cache.streams.Range(func(any, any) bool { n++; return true })
		return n
	}
	before := entries()
	for _, p := range []string{"/live/a,b/t/x/v0/1.m4s", "/live/a%00b/t/x/index.m3u8", "/live/a,b/index.m3u8?token=x"} {
		resp := f.do(t, "GET", p)
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		for _, h := range []string{"Surrogate-Key", "Cache-Tag", "Edge-Cache-Tag"} {
			if v := resp.Header.Get(h); strings.Contains(v, "a,b") || strings.Contains(v, "\x00") {
				t.Errorf("%s: %s %q names the viewer's stream", p, h, v)
			}
		}
	}
	if n := entries(); n != before {
		t.Errorf("render cache: %d streams, %d before the refusals", n, before)
	}
}
