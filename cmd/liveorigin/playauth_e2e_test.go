package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
	"github.com/liveorigin/liveorigin/playauth"
)

const (
	playKey1 = "playback-key-one-0123456789abcdef0123"
	playKey2 = "playback-key-two-fedcba9876543210fedc"
)

// mintToken asks the admin API for a signed URL of stream.
func mintToken(t *testing.T, a *fileApp, body string) map[string]string {
	t.Helper()
	code, doc := adminJSON(t, "POST", a.admin+"/api/v1/tokens", token1, body)
	out := make(map[string]string, len(doc))
	for k, v := range doc {
		out[k], _ = v.(string)
	}
	if code != 200 || out["token"] == "" {
		t.Fatalf("POST /api/v1/tokens %s: %d %v", body, code, doc)
	}
	return out
}

// changeSignature changes one character of a signed path's token.
func changeSignature(path, tok string) string {
	c := "A"
	if tok[len(tok)-1] == 'A' {
		c = "B"
	}
	return strings.Replace(path, tok, tok[:len(tok)-1]+c, 1)
}

// Signed playback with real ffmpeg, publishing over RTMP and playing: a
// URL minted by the admin API plays in ffmpeg as HLS and as DASH; the
// plain URL, the URL with a changed character, and an expired token get
// 403 on the playlist and on a segment; a key rotation through reloads
// keeps the old key's tokens working until the key is removed.
func TestSignedPlaybackWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	// Regular HLS and DASH: ffmpeg's DASH reader and LL-DASH do not mix
	// (TestEndToEndRTMPToHLSAndDASH); the low-latency objects are covered
	// in origin's tests.
	base := listeners + "segment-target: 1s\nwindow: 12s\nlow-latency: false\nlog-level: debug\nadmin-token: " + token1 +
		"\nplayback-token-streams: paid\n"
	a := startFromFile(t, base+"playback-token-key:\n  k1: "+playKey1+"\n", nil)
	publish(t, a.rtmpURL+"paid", 40)
	waitFor(t, a.testApp, "paid", 20*time.Second, "three segments", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 3 && len(tl.Tracks[1].Segments) >= 3
	})
	doc := mintToken(t, a, `{"stream": "paid", "ttl": "10m"}`)
	tok := doc["token"]

	// All play 8 s of media with no error from ffmpeg, as the unsigned
	// URLs do in TestEndToEndRTMPToHLSAndDASH; the token in the query is
	// redirected to the path form, which ffmpeg follows.
	urls := []string{a.base + doc["hls"], a.base + doc["dash"], a.base + "/live/paid/index.m3u8?token=" + tok}
	var wg sync.WaitGroup
	frames := make([]int, len(urls))
	for i, url := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames[i] = play(t, url, 8)
		}()
	}
	wg.Wait()
	t.Logf("ffmpeg decoded %v frames of the signed HLS, DASH and query-token URLs in 8 s", frames)
	for i, url := range urls {
		if frames[i] < 8*30*9/10 {
			t.Errorf("ffmpeg decoded %d video frames of %s in 8 s, want about 240", frames[i], url)
		}
	}

	media := string(mustGet(t, a.base+"/live/paid/t/"+tok+"/v0.m3u8"))
	seg := reSeg.FindString(media)
	if seg == "" {
		t.Fatalf("no segment in\n%s", media)
	}
	signed := func(tok, object string) string { return a.base + playauth.SignedPath("paid", tok, object) }
	expired, err := playauth.Sign(playauth.Key{ID: "k1", Secret: []byte(playKey1)},
		playauth.Claims{Prefix: playauth.StreamPrefix("paid"), Expires: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, object := range []string{"index.m3u8", "v0.m3u8", "manifest.mpd", seg} {
		for _, tc := range []struct {
			what, url, reason string
		}{
			{"no token", a.base + "/live/paid/" + object, "missing"},
			{"a changed character", changeSignature(signed(tok, object), tok), "bad_signature"},
			{"an expired token", signed(expired, object), "expired"},
		} {
			code, h, body := get(t, tc.url)
			if code != http.StatusForbidden || !strings.Contains(string(body), tc.reason) {
				t.Errorf("%s, %s: %d %q, want 403 %s", object, tc.what, code, body, tc.reason)
			}
			if h.Get("CDN-Cache-Control") != "no-store" || h.Get("Cache-Control") != "private, max-age=2" {
				t.Errorf("%s, %s: cached as %q / %q", object, tc.what, h.Get("Cache-Control"), h.Get("CDN-Cache-Control"))
			}
		}
	}
	// Another stream is open, and the token does not cover it.
	publish(t, a.rtmpURL+"free", 30)
	waitFor(t, a.testApp, "free", 20*time.Second, "a segment of each track", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 1 && len(tl.Tracks[1].Segments) >= 1
	})
	mustGet(t, a.base+"/live/free/index.m3u8")
	if code, _, _ := get(t, a.base+"/live/free/t/"+tok+"/index.m3u8"); code != http.StatusForbidden {
		t.Errorf("paid's token on stream free: %d", code)
	}

	// Rotation: k2 signs from now on, k1's tokens still play.
	writeConfig(t, a.file, base+"playback-token-key:\n  k1: "+playKey1+"\n  k2: "+playKey2+"\nplayback-token-signing-key: k2\n")
	if res, err := a.reloadConfig(); err != nil || len(res.NeedsRestart) != 0 {
		t.Fatalf("reload: %+v %v", res, err)
	}
	tok2 := mintToken(t, a, `{"stream": "paid"}`)["token"]
	if !strings.HasPrefix(tok2, "v1.k2.") {
		t.Errorf("minted after the rotation with %q", tok2)
	}
	mustGet(t, signed(tok, "v0.m3u8"))
	mustGet(t, signed(tok2, seg))
	// k1 removed: its tokens are refused.
	writeConfig(t, a.file, base+"playback-token-key:\n  k2: "+playKey2+"\n")
	if _, err := a.reloadConfig(); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, signed(tok, "v0.m3u8")); code != http.StatusForbidden {
		t.Errorf("a token of the removed key: %d", code)
	}
	mustGet(t, signed(tok2, "v0.m3u8"))

	metrics := string(mustGet(t, a.admin+"/metrics"))
	for _, reason := range []string{"missing", "bad_signature", "expired", "wrong_path"} {
		if !strings.Contains(metrics, `liveorigin_playback_token_refusals_total{reason="`+reason+`"}`) ||
			strings.Contains(metrics, `liveorigin_playback_token_refusals_total{reason="`+reason+`"} 0`+"\n") {
			t.Errorf("no %s refusal counted", reason)
		}
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "playback token refused") {
		t.Error("no refusal logged at debug")
	}
	for _, secret := range []string{tok, tok2, expired, playKey1, playKey2} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a token or a key (%.12s...)", secret)
		}
	}
}

func TestPlaybackTokenConfig(t *testing.T) {
	cfg, errs := loadConfig([]string{"--playback-token-key", "k1=" + playKey1, "--playback-token-streams", "a, b"},
		envMap(map[string]string{"LIVEORIGIN_PLAYBACK_TOKEN_MAX_LIFETIME": "2h"}), io.Discard)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p, _ := cfg.playbackPolicy()
	if !p.Protected("a") || !p.Protected("b") || p.Protected("c") || p.MaxLifetime() != 2*time.Hour {
		t.Errorf("policy from %+v", cfg)
	}
	if off, errs := defaultConfig().playbackPolicy(); off != nil || errs != nil {
		t.Errorf("the default is not off: %v %v", off, errs)
	}
	// Bad values: TestBadConfigs. No error shows a secret.
	for _, key := range []string{"short-secret", playKey1} {
		_, errs := loadConfig([]string{"--playback-token-key", "k.1=" + key}, envMap(nil), io.Discard)
		if got := fmt.Sprint(errs); len(errs) == 0 || strings.Contains(got, key) {
			t.Errorf("errors %s", got)
		}
	}
}

// The edge check of docs/security.md, run by node against tokens the
// origin signs: it agrees with the origin on every case, so the format as
// written there is enough for a CDN edge function.
func TestEdgeCheckInSecurityDoc(t *testing.T) {
	requireTools(t, "node")
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, js, ok := strings.Cut(string(doc), "```js\n")
	js, _, ok2 := strings.Cut(js, "```")
	if !ok || !ok2 || !strings.Contains(js, "async function checkPlaybackToken") {
		t.Fatal("no edge check in docs/security.md")
	}
	k1 := playauth.Key{ID: "k1", Secret: []byte(playKey1)}
	now := time.Unix(1795000000, 0)
	sign := func(c playauth.Claims) string {
		if c.Prefix == "" {
			c.Prefix = "/live/demo/"
		}
		if c.Expires.IsZero() {
			c.Expires = now.Add(time.Hour)
		}
		tok, err := playauth.Sign(k1, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(playauth.Claims{})
	bound := sign(playauth.Claims{ClientIP: netip.MustParseAddr("2001:db8::7")})
	type tcase struct {
		Path   string `json:"path"`
		IP     string `json:"ip"`
		Reason string `json:"reason"`
	}
	cases := []tcase{
		{"/live/demo/t/" + good + "/v0/1795000000000.m4s", "192.0.2.1", ""},
		{"/live/demo/t/" + good + "/index.m3u8", "192.0.2.1", ""},
		{"/live/demo/t/" + changeSignature(good, good) + "/index.m3u8", "192.0.2.1", "bad_signature"},
		{"/live/demo/t/" + strings.Replace(good, ".k1.", ".k9.", 1) + "/index.m3u8", "192.0.2.1", "bad_signature"},
		{"/live/demo/t/" + sign(playauth.Claims{Expires: now}) + "/index.m3u8", "192.0.2.1", "expired"},
		{"/live/other/t/" + good + "/index.m3u8", "192.0.2.1", "wrong_path"},
		{"/live/demo/t/" + bound + "/index.m3u8", "2001:db8::7", ""},
		{"/live/demo/t/" + bound + "/index.m3u8", "2001:db8::8", "wrong_ip"},
		{"/live/demo/t/v1.k1.x/index.m3u8", "192.0.2.1", "malformed"},
		{"/live/demo/index.m3u8", "192.0.2.1", "missing"},
	}
	v, _ := playauth.NewVerifier(k1)
	for i, tc := range cases {
		// The origin's answer, for the same request.
		head, rest, _ := strings.Cut(strings.TrimPrefix(tc.Path, "/live/"), "/")
		tok, tail, _ := strings.Cut(strings.TrimPrefix(rest, "t/"), "/")
		if !strings.HasPrefix(rest, "t/") {
			continue
		}
		got := v.Check(tok, playauth.Request{Head: "/live/" + head + "/", Tail: tail, Client: netip.MustParseAddr(tc.IP), Now: now})
		if string(got) != tc.Reason {
			t.Errorf("case %d: the origin says %q, the table %q", i, got, tc.Reason)
		}
	}
	input, _ := json.Marshal(cases)
	script := js + `
const cases = ` + string(input) + `;
(async () => {
  for (const c of cases) {
    const r = await checkPlaybackToken(new URL("https://cdn.example.com" + c.path + "?_HLS_msn=5"), c.ip,
      { k1: "` + playKey1 + `" }, ` + strconv.FormatInt(now.Unix(), 10) + `);
    console.log(JSON.stringify(r));
  }
})();
`
	out, err := exec.Command("node", "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("node printed %d lines for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, tc := range cases {
		var r struct{ Reason, CacheKey string }
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatalf("case %d: %q: %v", i, lines[i], err)
		}
		if r.Reason != tc.Reason {
			t.Errorf("case %d (%s): the edge check says %q, want %q", i, tc.Path, r.Reason, tc.Reason)
		}
		if tc.Reason == "" && strings.Contains(r.CacheKey, "/t/") {
			t.Errorf("case %d: cache key %q keeps the token", i, r.CacheKey)
		}
	}
}

// hls.js and dash.js in headless Chromium play signed LL-HLS (the token in
// the query, redirected to the path) and LL-DASH URLs: every request they
// make (playlists with blocking reloads, init segments, parts, segments)
// carries the token through the relative URIs (TestLowLatencyInBrowser's
// publisher).
func TestSignedPlaybackInBrowser(t *testing.T) {
	requireTools(t, "ffmpeg", "node", "chromium")
	if _, err := os.Stat("../../test/players/node_modules/playwright-core"); err != nil {
		t.Fatal("player libraries missing: run `make deps` (npm ci in test/players)")
	}
	a := startFromFile(t, listeners+"admin-token: "+token1+"\nplayback-token-streams: \"*\"\n"+
		"playback-token-key:\n  k1: "+playKey1+"\n", nil)
	publishLive(t, a.rtmpURL+"signed", 50)
	waitFor(t, a.testApp, "signed", 20*time.Second, "two segments and a part", twoSegments)
	doc := mintToken(t, a, `{"stream": "signed", "ttl": "5m"}`)
	for _, tc := range []struct {
		kind, player, url string
	}{
		// The token in the query: hls.js follows the redirect to the path
		// form and resolves every URI against it.
		{"hls", "hls.js", a.base + "/live/signed/index.m3u8?token=" + doc["token"]},
		// The path form, LL-DASH.
		{"dash", "dash.js", a.base + doc["dash"]},
	} {
		r, err := playInBrowser(tc.kind, tc.url, 12)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", tc.player, r)
		if len(r.Errors) > 0 {
			t.Errorf("%s reported errors: %v", tc.player, r.Errors)
		}
		// The latency is TestLowLatencyInBrowser's to bound: here a
		// machine loaded by other work stalls the player now and then
		// (seen: hls.js played 8.5 s of 12, 4.6 s behind live, at a load
		// average of 16 on 2 cores).
		if r.Width != 320 || r.Height != 240 || r.Played < 6 {
			t.Errorf("%s: picture %dx%d, played %.1f s of media in %v s", tc.player, r.Width, r.Height, r.Played, r.Wall)
		}
	}
	metrics := string(mustGet(t, a.admin+"/metrics"))
	for _, reason := range playauth.Reasons {
		if !strings.Contains(metrics, `liveorigin_playback_token_refusals_total{reason="`+string(reason)+`"} 0`+"\n") {
			t.Errorf("a request of a player was refused (%s)", reason)
		}
	}
	for _, kind := range []string{"part", "mpd", "media_playlist_blocking"} {
		if !strings.Contains(metrics, `liveorigin_http_requests_total{code="200",kind="`+kind+`"}`) {
			t.Errorf("the players fetched no %s", kind)
		}
	}
}
