package main

// Helpers of the shield tests (e2e_cdn_test.go): starting Varnish and nginx,
// the counting reverse proxy between the shield and the origin, viewers,
// bursts of identical requests, and the checks they share.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/origin/purge"
	"github.com/liveorigin/liveorigin/packager"
)

const (
	// cdnSecret is the origin secret of the tests; the shield sends it.
	cdnSecret = "cdn-test-secret-0123456789"
	// cdnOldSecret is a retired one: Varnish is given "old,new" (as during
	// a rotation) and must send the last.
	cdnOldSecret = "cdn-test-old-secret-987654"
	cdnToken     = "cdn-test-admin-token-0123"
)

func requireShieldTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		shieldTool(t, tool)
	}
}

// shieldTool finds a program in PATH or /usr/sbin (where Debian puts
// varnishd and nginx, and a user's PATH may not reach).
func shieldTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	t.Fatalf("%s not found: run `make deps` (apt-get install ffmpeg varnish varnish-modules nginx-light)", name)
	return ""
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago, for
// a peer that cannot be handed a listener.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// originCounter is a reverse proxy in front of the origin that counts the
// requests reaching it, per request URI.
type originCounter struct {
	srv       *httptest.Server
	transport *http.Transport
	mu        sync.Mutex
	counts    map[string]int
	noSecret  int
}

func newOriginCounter(t *testing.T, origin string) *originCounter {
	t.Helper()
	target, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	c := &originCounter{counts: map[string]int{}, transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
		Transport:     c.transport,
		FlushInterval: -1, // growing segments pass through as they grow
	}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.counts[r.URL.RequestURI()]++
		if r.Header.Get("X-Origin-Secret") == "" {
			c.noSecret++
		}
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		c.srv.Close()
		c.transport.CloseIdleConnections()
	})
	return c
}

func (c *originCounter) addr() string { return c.srv.Listener.Addr().String() }

func (c *originCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

func (c *originCounter) count(uri string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[uri]
}

// shield is a Varnish or an nginx started by a test.
type shield struct {
	base   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed when the process has exited
}

// start starts the shield's process and stops it (sig, then a kill after
// 10 s) with the test.
func (s *shield) start(t *testing.T, sig os.Signal) {
	t.Helper()
	s.logs = &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(sig)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop within 10s: killed", s.cmd.Path)
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(s.cmd.Path), s.logs.String())
		}
	})
}

// patch replaces old by new in s and fails the test unless old occurs
// exactly once: the shipped config must keep the lines the tests rewrite.
func patch(t *testing.T, what, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", what, old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// startVarnish runs deploy/cdn/varnish/liveorigin.vcl listening on addr
// (HOST:PORT) with its backend at backend (HOST:PORT) and the origin secret
// in its environment.
func startVarnish(t *testing.T, addr, backend string) *shield {
	t.Helper()
	const src = "../../deploy/cdn/varnish/liveorigin.vcl"
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(backend)
	vcl := patch(t, src, string(raw), `.host = "127.0.0.1";`, `.host = "`+host+`";`)
	vcl = patch(t, src, vcl, `.port = "8080";`, `.port = "`+port+`";`)
	dir := t.TempDir()
	file := filepath.Join(dir, "liveorigin.vcl")
	if err := os.WriteFile(file, []byte(vcl), 0o600); err != nil {
		t.Fatal(err)
	}
	// -j none: no privilege separation, so that a varnishd started by
	// root can use the test's private directory.
	cmd := exec.Command(shieldTool(t, "varnishd"), "-F", "-j", "none", "-n", filepath.Join(dir, "n"), "-a", addr,
		"-T", "127.0.0.1:0", "-f", file, "-s", "malloc,64m")
	// As during a rotation: the origin knows only the new secret, Varnish
	// must send the last of the list.
	cmd.Env = append(os.Environ(), "LIVEORIGIN_ORIGIN_SECRET="+cdnOldSecret+","+cdnSecret)
	s := &shield{base: "http://" + addr, cmd: cmd}
	s.start(t, syscall.SIGTERM)
	// Ready when the VCL answers: a PURGE is answered by Varnish itself.
	s.waitReady(t, "PURGE", "/ready")
	return s
}

// startNginx runs deploy/cdn/nginx/liveorigin.conf inside a minimal
// nginx.conf, with its upstream at backend (HOST:PORT).
func startNginx(t *testing.T, backend string) *shield {
	t.Helper()
	const src = "../../deploy/cdn/nginx/liveorigin.conf"
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	conf := patch(t, src, string(raw), "server 127.0.0.1:8080;", "server "+backend+";")
	conf = patch(t, src, conf, "listen 8081;", "listen "+addr+";")
	conf = patch(t, src, conf, "listen [::]:8081;", "")
	conf = patch(t, src, conf, "/var/lib/nginx/liveorigin", filepath.Join(dir, "cache"))
	conf = patch(t, src, conf, "/etc/nginx/liveorigin-secret*.conf", filepath.Join(dir, "liveorigin-secret*.conf"))
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers that can use the test's private directory
	}
	files := map[string]string{
		"liveorigin.conf":        conf,
		"liveorigin-secret.conf": `set $liveorigin_secret "` + cdnSecret + `";` + "\n",
		"nginx.conf": fmt.Sprintf(`# Started by e2e_cdn_test.go.
%[2]s
worker_processes 2;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[1]s/liveorigin.conf;
}
`, dir, user),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(shieldTool(t, "nginx"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr", "-g", "daemon off;")
	s := &shield{base: "http://" + addr, cmd: cmd}
	s.start(t, syscall.SIGTERM)
	s.waitReady(t, http.MethodGet, "/time")
	return s
}

// waitReady polls the shield until it answers with a 200.
func (s *shield) waitReady(t *testing.T, method, path string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequest(method, s.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-tick.C:
		case <-s.exited:
			t.Fatalf("%s exited at start:\n%s", s.cmd.Path, s.logs.String())
		case <-deadline.C:
			t.Fatalf("%s not ready after 20s:\n%s", s.cmd.Path, s.logs.String())
		}
	}
}

// newViewerClient is an HTTP client for many concurrent viewers; its
// connections are closed with the test.
func newViewerClient(t *testing.T) *http.Client {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// fetch GETs url and reads the whole answer.
func fetch(ctx context.Context, c *http.Client, url string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// shieldGet is a GET through the shield; a failed request fails the test.
func shieldGet(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	code, h, body, err := fetch(context.Background(), c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return code, h, string(body)
}

// metricValue reads one series (name and labels as exposed) from the
// origin's /metrics; 0 when absent.
func metricValue(t *testing.T, a *testApp, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(mustGet(t, a.admin+"/metrics")), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func purgeOK(backend string) string {
	return `liveorigin_purge_requests_total{backend="` + backend + `",result="ok"}`
}

// waitPurges waits until the backend has finished at least n purges with
// success; each step polls the metric (no event tells it).
func waitPurges(t *testing.T, a *testApp, backend string, n float64, what string) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for metricValue(t, a, purgeOK(backend)) < n {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: %s did not report %v purges within 15s (failed: %v)", what, backend, n,
				metricValue(t, a, `liveorigin_purge_requests_total{backend="`+backend+`",result="failed"}`))
		}
	}
}

// adminDo sends an admin API request with the test's bearer token.
func adminDo(t *testing.T, a *testApp, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cdnToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startCDNApp starts liveorigin for the shield tests: 1 s segments (the
// publish helper's GOP), a short reconnect grace, the origin secret, the
// admin token, and the given purge backends.
func startCDNApp(t *testing.T, backends ...purge.Config) *testApp {
	return startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.ReconnectGrace = 2 * time.Second
		c.OriginSecret = cdnSecret
		c.AdminToken = cdnToken
		c.Purge = backends
	})
}

// threeSegments: both tracks have three segments and a part in production.
func threeSegments(tl *packager.Timeline) bool {
	if len(tl.Tracks) != 2 {
		return false
	}
	for _, tr := range tl.Tracks {
		if len(tr.Segments) < 3 || tr.NextPart == "" {
			return false
		}
	}
	return true
}

// video is the stream's first video track.
func video(t *testing.T, tl *packager.Timeline) *packager.TrackTimeline {
	t.Helper()
	tt, err := tl.Track("v0")
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

var reSegURI = regexp.MustCompile(`^/live/[^/]+/[a-z0-9]+/[0-9]+\.m4s$`)

// viewerLoad is what runViewers measured.
type viewerLoad struct {
	requests, hits, errors atomic.Int64
}

// runViewers simulates n players without low latency for d: each polls the
// media playlists every second (at its own phase, like players that joined
// at different moments), starts three segments from the end, and fetches
// every new segment once.
func runViewers(t *testing.T, c *http.Client, base string, n int, d time.Duration) *viewerLoad {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	load := &viewerLoad{}
	get := func(url string) ([]byte, bool) {
		code, h, body, err := fetch(ctx, c, url)
		if ctx.Err() != nil {
			return nil, false
		}
		load.requests.Add(1)
		if fromCache(h.Get("X-Cache")) {
			load.hits.Add(1)
		}
		if err != nil || code != http.StatusOK || len(body) == 0 {
			if load.errors.Add(1) <= 5 {
				t.Errorf("viewer GET %s: %d %v", url, code, err)
			}
			return nil, false
		}
		return body, true
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[string]bool{}
			joined := map[string]bool{}
			timer := time.NewTimer(rand.N(time.Second))
			defer timer.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				timer.Reset(time.Second)
				for _, pl := range []string{"v0.m3u8", "a0.m3u8"} {
					body, ok := get(base + pl)
					if !ok {
						continue
					}
					segs := reSeg.FindAllString(string(body), -1)
					if !joined[pl] {
						joined[pl] = true
						for _, s := range segs[:max(len(segs)-3, 0)] {
							seen[s] = true
						}
					}
					for _, s := range segs {
						if !seen[s] {
							seen[s] = true
							get(base + s)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return load
}

// burstAnswer is what one client of a burst got.
type burstAnswer struct {
	code  int
	cache string
	body  []byte
	err   error
	took  time.Duration
}

// burst sends n identical GETs of each URL at once and returns the answers
// per URL.
func burst(c *http.Client, urls []string, n int) map[string][]burstAnswer {
	out := make(map[string][]burstAnswer, len(urls))
	for _, u := range urls {
		out[u] = make([]burstAnswer, n)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, u := range urls {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				t0 := time.Now()
				code, h, body, err := fetch(context.Background(), c, u)
				out[u][i] = burstAnswer{code: code, cache: h.Get("X-Cache"), body: body, err: err, took: time.Since(t0)}
			}()
		}
	}
	close(start)
	wg.Wait()
	return out
}

// checkBurst: every answer is a 200 with the same bytes, and the origin saw
// the URL once.
func checkBurst(t *testing.T, counter *originCounter, uri string, answers []burstAnswer) {
	t.Helper()
	caches := map[string]int{}
	var miss, slowest time.Duration
	for i, r := range answers {
		caches[r.cache]++
		slowest = max(slowest, r.took)
		if r.cache == "MISS" {
			miss = r.took
		}
		if r.err != nil || r.code != http.StatusOK || len(r.body) == 0 {
			t.Errorf("%s client %d: %d %v", uri, i, r.code, r.err)
			continue
		}
		if !bytes.Equal(r.body, answers[0].body) {
			t.Errorf("%s client %d got other bytes (%d, first %d)", uri, i, len(r.body), len(answers[0].body))
		}
	}
	n := counter.count(uri)
	t.Logf("%d clients at once on %s: %d origin request(s); X-Cache %v; the miss took %v, the slowest %v",
		len(answers), uri, n, caches, miss.Round(time.Millisecond), slowest.Round(time.Millisecond))
	if n != 1 {
		t.Errorf("%s: the origin saw %d requests for %d clients at once, want 1", uri, n, len(answers))
	}
}

// checkViewerHeaders: what viewers get from the shield.
func checkViewerHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, k := range []string{"Surrogate-Key", "Surrogate-Control", "CDN-Cache-Control", "Cache-Tag", "Edge-Cache-Tag", "Xkey", "X-Url"} {
		if v := h.Get(k); v != "" {
			t.Errorf("%s: viewers get %s: %s", what, k, v)
		}
	}
	if h.Get("Cache-Control") == "" || h.Get("X-Cache") == "" {
		t.Errorf("%s: Cache-Control %q, X-Cache %q: want both", what, h.Get("Cache-Control"), h.Get("X-Cache"))
	}
}

// endStream stops the publisher and, while the stream waits for it to come
// back (the reconnect grace), keeps the shield's copy of the live media
// playlist fresh as viewers would, until the origin reports the purge of
// the stream's end. The very next answer must then be a fresh fetch of the
// final playlist: without the purge it would be the cached live one until
// its TTL and grace ran out.
//
// A fetch that was in flight while the purge ran (the last poll was a miss,
// or a stale hit that refreshes in the background) stores what it got after
// the purge: the classic purge race, which the playlist's one-second TTL
// bounds. Then the final playlist must come within that TTL and grace.
func endStream(t *testing.T, a *testApp, c *http.Client, base string, pub *exec.Cmd, backend string) {
	t.Helper()
	ok := metricValue(t, a, purgeOK(backend))
	_ = pub.Process.Kill()
	_ = pub.Wait()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	caches := map[string]int{}
	last := ""
	for metricValue(t, a, purgeOK(backend)) < ok+1 {
		_, h, _ := shieldGet(t, c, base+"v0.m3u8")
		last = h.Get("X-Cache")
		caches[last]++
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("no purge from %s within 15s of the publisher's end", backend)
		}
	}
	code, h, body := shieldGet(t, c, base+"v0.m3u8")
	t.Logf("while the stream waited for its publisher, the live playlist from the shield: X-Cache %v; right after the purge: %d, X-Cache %s, Age %s",
		caches, code, h.Get("X-Cache"), h.Get("Age"))
	ended := code == http.StatusOK && strings.HasSuffix(body, "#EXT-X-ENDLIST\n")
	if last != "HIT" {
		if !ended {
			waited := waitShield(t, c, base+"v0.m3u8", 3*time.Second, func(_ int, _ http.Header, body string) bool {
				return strings.HasSuffix(body, "#EXT-X-ENDLIST\n")
			})
			t.Logf("a fetch (after a %s) raced the purge: the final playlist came %v later", last, waited.Round(time.Millisecond))
		}
		return
	}
	if !ended || h.Get("X-Cache") != "MISS" {
		t.Errorf("right after the stream-end purge the shield answers %d, X-Cache %s, want a fresh fetch of the final playlist:\n%s",
			code, h.Get("X-Cache"), body)
	}
}

// takeDown takes the stream down through the admin API and checks that
// Varnish answers 410 (or 404) at once for the URLs given, which it had
// cached.
func takeDown(t *testing.T, a *testApp, c *http.Client, base, name, backend string, paths ...string) {
	t.Helper()
	ok := metricValue(t, a, purgeOK(backend))
	// The takedown purges everything; a live stream also ends (its
	// manifests).
	purges := 1.0
	if tl, err := a.registry.Timeline(name); err == nil && !tl.Ended {
		purges = 2
	}
	code, body := adminDo(t, a, http.MethodDelete, "/api/v1/streams/"+name, "")
	if code != http.StatusOK || !strings.Contains(body, `"was_held": true`) {
		t.Fatalf("takedown: %d %s", code, body)
	}
	waitPurges(t, a, backend, ok+purges, "takedown")
	for _, p := range paths {
		code, h, _ := shieldGet(t, c, base+p)
		t.Logf("after the takedown: %s: %d, X-Cache %s", p, code, h.Get("X-Cache"))
		if code != http.StatusGone && code != http.StatusNotFound {
			t.Errorf("after the takedown purge Varnish answers %d for %s (X-Cache %s), want 410 or 404", code, p, h.Get("X-Cache"))
		}
	}
}

// waitShield polls url through the shield until ok accepts the status, and
// returns how long that took.
func waitShield(t *testing.T, c *http.Client, url string, timeout time.Duration, ok func(code int, h http.Header, body string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		code, h, body := shieldGet(t, c, url)
		if ok(code, h, body) {
			return time.Since(start)
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: still %d (X-Cache %s, Age %s) after %v", url, code, h.Get("X-Cache"), h.Get("Age"), timeout)
		}
	}
}

// fromCache tells whether an X-Cache value (Varnish: HIT, HIT-STALE;
// nginx: $upstream_cache_status) is an answer from the cache.
func fromCache(x string) bool {
	return strings.HasPrefix(x, "HIT") || x == "STALE" || x == "UPDATING" || x == "REVALIDATED"
}

// settle gets url through Varnish until it is a fresh hit: then no fetch
// of it is in flight that could store an older answer after a purge.
func settle(t *testing.T, c *http.Client, url string) {
	t.Helper()
	waitShield(t, c, url, 5*time.Second, func(_ int, h http.Header, _ string) bool { return h.Get("X-Cache") == "HIT" })
}

// checkCached gets url twice through the shield: the second answer must be
// a hit. It returns the body.
func checkCached(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	shieldGet(t, c, url)
	code, h, body := shieldGet(t, c, url)
	if code != http.StatusOK || !fromCache(h.Get("X-Cache")) {
		t.Errorf("second GET %s: %d, X-Cache %q, want a hit", url, code, h.Get("X-Cache"))
	}
	checkViewerHeaders(t, url, h)
	return body
}

// checkOriginSecret: the origin refused the one request that came without
// the secret (the test's own), so the shield always sent the right one.
func checkOriginSecret(t *testing.T, a *testApp, counter *originCounter) {
	t.Helper()
	if n := metricValue(t, a, `liveorigin_http_requests_total{code="403",kind="other"}`); n != 1 {
		t.Errorf("the origin refused %v requests without its secret, want 1 (the test's direct request)", n)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.noSecret > 0 {
		t.Errorf("the shield sent %d requests without X-Origin-Secret", counter.noSecret)
	}
}
