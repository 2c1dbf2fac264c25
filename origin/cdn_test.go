package origin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// Every playback answer carries separate browser and CDN lifetimes and the
// stream's surrogate keys; none sets a cookie or varies.
func TestCDNHeaders(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 4*time.Second)
	media := body(t, f.do(t, "GET", "/live/demo/v0.m3u8"))
	seg := "/live/demo/" + reSegment.FindString(media)
	init := "/live/demo/" + reInit.FindStringSubmatch(media)[1]
	part := "/live/demo/" + rePartURI.FindStringSubmatch(media)[1]
	tl, err := f.registry.Timeline("demo")
	if err != nil {
		t.Fatal(err)
	}
	msn := tl.Tracks[0].Segments[len(tl.Tracks[0].Segments)-1].Seq
	const (
		year   = "public, max-age=31536000, immutable"
		yearSC = "max-age=31536000"
		live   = "public, max-age=1, stale-while-revalidate=1"
		both   = "stream-demo manifests-demo"
		tags   = "stream-demo,manifests-demo"
	)
	for _, tc := range []struct {
		path                    string
		code                    int
		browser, cdn, sc, skeys string
	}{
		{"/live/demo/index.m3u8", 200, "public, max-age=1", live, "max-age=1, stale-while-revalidate=1", both},
		{"/live/demo/v0.m3u8", 200, "public, max-age=1", live, "max-age=1, stale-while-revalidate=1", both},
		{"/live/demo/manifest.mpd", 200, "public, max-age=1", live, "max-age=1, stale-while-revalidate=1", both},
		{"/live/demo/v0.m3u8?_HLS_msn=" + itoa(msn), 200, "public, max-age=6", "public, max-age=6", "max-age=6", both}, // 6 × a 1 s target duration
		{seg, 200, year, year, yearSC, "stream-demo"},
		{init, 200, year, year, yearSC, "stream-demo"},
		{part, 200, year, year, yearSC, "stream-demo"},
		{"/live/demo/v0/1.m4s", 410, "public, max-age=60", "public, max-age=60", "max-age=60", "stream-demo"},
		{"/live/nosuch/index.m3u8", 404, "public, max-age=2", "public, max-age=2", "max-age=2", "stream-nosuch manifests-nosuch"},
		{"/live/demo/v0.m3u8?_HLS_part=1", 400, "no-store", "no-store", "no-store", both},
		{"/elsewhere", 404, "public, max-age=2", "public, max-age=2", "max-age=2", ""},
	} {
		resp := f.do(t, "GET", tc.path)
		h := resp.Header
		if resp.StatusCode != tc.code || h.Get("Cache-Control") != tc.browser || h.Get("CDN-Cache-Control") != tc.cdn ||
			h.Get("Surrogate-Control") != tc.sc || h.Get("Surrogate-Key") != tc.skeys {
			t.Errorf("GET %s: %d\n Cache-Control %q (want %q)\n CDN-Cache-Control %q (want %q)\n Surrogate-Control %q (want %q)\n Surrogate-Key %q (want %q)",
				tc.path, resp.StatusCode, h.Get("Cache-Control"), tc.browser, h.Get("CDN-Cache-Control"), tc.cdn,
				h.Get("Surrogate-Control"), tc.sc, h.Get("Surrogate-Key"), tc.skeys)
		}
		wantTags := strings.ReplaceAll(tc.skeys, " ", ",")
		if h.Get("Cache-Tag") != wantTags || h.Get("Edge-Cache-Tag") != wantTags {
			t.Errorf("GET %s: Cache-Tag %q, Edge-Cache-Tag %q, want %q", tc.path, h.Get("Cache-Tag"), h.Get("Edge-Cache-Tag"), wantTags)
		}
		if h.Get("Set-Cookie") != "" || h.Get("Vary") != "" {
			t.Errorf("GET %s: Set-Cookie %q, Vary %q", tc.path, h.Get("Set-Cookie"), h.Get("Vary"))
		}
		if tc.code == 200 && (h.Get("ETag") == "" || (tc.path != init && h.Get("Last-Modified") == "")) {
			t.Errorf("GET %s: validators ETag %q Last-Modified %q", tc.path, h.Get("ETag"), h.Get("Last-Modified"))
		}
	}
	// A part answers conditional requests like a segment.
	resp := f.do(t, "GET", part)
	if got := f.do(t, "GET", part, "If-None-Match", resp.Header.Get("ETag")).StatusCode; got != http.StatusNotModified {
		t.Errorf("part with If-None-Match: %d, want 304", got)
	}

	// Ended: the playlists are kept five segment targets by both.
	f.session.Close(nil)
	f.clock.Advance(6 * time.Second)
	f.registry.Close()
	resp = f.do(t, "GET", "/live/demo/v0.m3u8")
	if h := resp.Header; h.Get("Cache-Control") != "public, max-age=5" || h.Get("CDN-Cache-Control") != "public, max-age=5" {
		t.Errorf("ended playlist: Cache-Control %q, CDN-Cache-Control %q", h.Get("Cache-Control"), h.Get("CDN-Cache-Control"))
	}
}

// A stream without parts: a CDN keeps a live playlist half a segment
// target (at least a second).
func TestCDNHeadersWithoutParts(t *testing.T) {
	h := http.Header{}
	cachePolicy(h, cacheInput{kind: KindMediaList, status: 200, stream: "x", segmentTarget: 4 * time.Second, targetDuration: 4 * time.Second})
	if h.Get("Cache-Control") != "public, max-age=1" || h.Get("CDN-Cache-Control") != "public, max-age=2, stale-while-revalidate=2" {
		t.Errorf("Cache-Control %q, CDN-Cache-Control %q", h.Get("Cache-Control"), h.Get("CDN-Cache-Control"))
	}
}

func TestOriginSecret(t *testing.T) {
	f := newFixture(t)
	s, err := New(Options{Streams: f.registry, OriginSecrets: []string{"old-secret", "new-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = s.Handler()
	f.publish(t)
	f.feed(t, 2*time.Second)
	for _, tc := range []struct {
		hdr  []string
		want int
	}{
		{nil, http.StatusForbidden},
		{[]string{"X-Origin-Secret", "wrong"}, http.StatusForbidden},
		{[]string{"X-Origin-Secret", "new-secre"}, http.StatusForbidden},
		{[]string{"X-Origin-Secret", "old-secret"}, http.StatusOK},
		{[]string{"X-Origin-Secret", "new-secret"}, http.StatusOK},
	} {
		resp := f.do(t, "GET", "/live/demo/index.m3u8", tc.hdr...)
		if resp.StatusCode != tc.want {
			t.Errorf("%v: %d, want %d", tc.hdr, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusForbidden && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("403 with Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
	}
	if _, err := New(Options{Streams: f.registry, OriginSecrets: []string{""}}); err == nil {
		t.Error("an empty origin secret was accepted")
	}
}

// A taken-down stream answers 410 for every URL.
func TestTakenDownIsGone(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 3*time.Second)
	if _, err := f.registry.Takedown("demo", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/live/demo/index.m3u8", "/live/demo/v0.m3u8", "/live/demo/manifest.mpd", "/live/demo/v0/123.m4s"} {
		resp := f.do(t, "GET", p)
		if resp.StatusCode != http.StatusGone || resp.Header.Get("Surrogate-Key") == "" {
			t.Errorf("GET %s after takedown: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
}

var rePartURI = regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`)

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestAdminTakedownKickPurge(t *testing.T) {
	f := newFixture(t)
	var took, kicked []string
	var purged [][]string
	opts := AdminOptions{Gatherer: f.reg, Token: "s3cret",
		Takedown: func(_ context.Context, name string) (bool, error) {
			took = append(took, name)
			return name == "demo", nil
		},
		Kick: func(name string) bool { kicked = append(kicked, name); return name == "demo" },
		Purge: func(_ context.Context, stream string, paths []string) ([]string, error) {
			if stream == "" {
				return nil, errors.New("stream: required")
			}
			purged = append(purged, append([]string{stream}, paths...))
			return []string{"varnish"}, nil
		},
	}
	h := f.server.AdminHandler(opts)
	call := func(h http.Handler, method, p, auth, body string) (int, string) {
		req := httptest.NewRequest(method, p, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, tc := range []struct {
		method, path, auth, body string
		want                     int
	}{
		{"GET", "/api/v1/streams", "", "", 401},
		{"GET", "/api/v1/streams", "Bearer wrong", "", 401},
		{"GET", "/api/v1/streams", "Bearer s3cret", "", 200},
		{"DELETE", "/api/v1/streams/demo", "", "", 401},
		{"DELETE", "/api/v1/streams/demo", "Bearer s3cret", "", 200},
		{"POST", "/api/v1/streams/demo/kick", "Bearer s3cret", "", 200},
		{"POST", "/api/v1/streams/other/kick", "Bearer s3cret", "", 404},
		{"POST", "/api/v1/purge", "Bearer s3cret", `{"stream":"demo"}`, 202},
		{"POST", "/api/v1/purge", "Bearer s3cret", `{"stream":"demo","paths":["/live/demo/v0.m3u8"]}`, 202},
		{"POST", "/api/v1/purge", "Bearer s3cret", `{"stream":""}`, 400},
		{"POST", "/api/v1/purge", "Bearer s3cret", `{"strem":"demo"}`, 400},
		{"POST", "/api/v1/purge", "Bearer s3cret", `not json`, 400},
		{"PUT", "/api/v1/purge", "Bearer s3cret", ``, 405},
		{"GET", "/healthz", "", "", 200}, // outside the API: no token
	} {
		if code, b := call(h, tc.method, tc.path, tc.auth, tc.body); code != tc.want {
			t.Errorf("%s %s (%q): %d, want %d\n%s", tc.method, tc.path, tc.auth, code, tc.want, b)
		}
	}
	if len(took) != 1 || len(kicked) != 2 || len(purged) != 2 || len(purged[1]) != 2 {
		t.Errorf("takedowns %v, kicks %v, purges %v", took, kicked, purged)
	}

	// Without a token: reading works, changing is refused.
	opts.Token = ""
	h = f.server.AdminHandler(opts)
	if code, _ := call(h, "GET", "/api/v1/streams", "", ""); code != 200 {
		t.Errorf("GET without a configured token: %d", code)
	}
	if code, b := call(h, "DELETE", "/api/v1/streams/demo", "", ""); code != 403 || !strings.Contains(b, "admin-token") {
		t.Errorf("DELETE without a configured token: %d %s", code, b)
	}
}

// Before the publisher has declared its tracks, a rendition's playlist is
// "not yet" (503, not stored), not "unknown" (404, stored by a CDN).
func TestMediaPlaylistBeforeTracks(t *testing.T) {
	f := newFixture(t)
	sess, err := f.registry.Publish(t.Context(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp", RemoteAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(nil)
	resp := f.do(t, "GET", "/live/demo/v0.m3u8")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("v0.m3u8 before tracks: %d %q, want 503 no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}
