package main

// Issue 6's acceptance with a real Prometheus (Debian's prometheus package;
// `make deps` installs it): Prometheus scrapes liveorigin's admin listener
// every second with the alert rules of deploy/prometheus loaded, a stream is
// published over RTMP and played, every series docs/metrics.md documents
// that such a stream must produce is seen to move through Prometheus's own
// query API, and after the publisher is killed the LiveoriginPublisherGone
// expression (read from the rules file) becomes true and the alert pending.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/liveorigin/liveorigin/packager"
)

// promServer is a Prometheus process run for one test.
type promServer struct {
	base   string
	client *http.Client
}

// startPrometheus runs Debian's prometheus on a free loopback port, scraping
// target (host:port) as job "liveorigin" every second and evaluating the
// rules of deploy/prometheus/liveorigin-rules.yaml (copied next to its
// config) every second. It is stopped with SIGTERM when the test ends.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile("../../deploy/prometheus/liveorigin-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "liveorigin-rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: liveorigin
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, filepath.Join(dir, "liveorigin-rules.yaml"), target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// A free port: the OS picks one, it is released and handed to
	// Prometheus (nothing else on this machine races for it in a test).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command("prometheus",
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ps := &promServer{base: "http://" + addr, client: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		ps.client.CloseIdleConnections()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("prometheus did not stop within 20s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	return ps
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value() float64 {
	v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	return v
}

// api GETs a Prometheus HTTP API path and decodes its data; an error is
// returned (not fatal) so that callers can poll while Prometheus starts.
func (ps *promServer) api(path string, params url.Values, data any) error {
	resp, err := ps.client.Get(ps.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %s: %s", path, params.Encode(), env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// query evaluates expr at at (the zero time: now) and returns the vector.
func (ps *promServer) query(expr string, at time.Time) ([]promSample, error) {
	params := url.Values{"query": {expr}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := ps.api("/api/v1/query", params, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %s", expr, data.ResultType)
	}
	return data.Result, nil
}

// scalarOf sums a vector (absent: 0).
func scalarOf(v []promSample) float64 {
	var sum float64
	for _, s := range v {
		sum += s.value()
	}
	return sum
}

// metricFamilies returns the liveorigin_* families docs/metrics.md documents
// in its tables, with their type.
func metricFamilies(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(liveorigin_\\w+)` \\| (counter|gauge|histogram) \\|").FindAllSubmatch(doc, -1) {
		fams[string(m[1])] = string(m[2])
	}
	if len(fams) < 30 {
		t.Fatalf("found only %d metric families in docs/metrics.md", len(fams))
	}
	return fams
}

// rulesFile is the part of a Prometheus rules file the test reads.
type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
			For   string `yaml:"for"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/prometheus/liveorigin-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf rulesFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				exprs[r.Alert] = strings.TrimSpace(r.Expr)
			}
		}
	}
	return exprs
}

var (
	promRePartURI = regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`)
	promRePreload = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"`)
)

// playerTraffic plays the stream over HTTP as an LL-HLS player and a DASH
// player would, with a session id, until stop is closed: multivariant and
// media playlists, init segments, segments, parts (including the preload
// hint, held until it exists), blocking playlist reloads (one always
// waiting), the MPD, /time, and a request for an unknown path.
func playerTraffic(base, name string, stop <-chan struct{}) (wait func()) {
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	fetch := func(u string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return ""
		}
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	const sid = "?_lo_sid=prometheus-e2e-viewer"
	live := base + "/live/" + name + "/"
	var wg sync.WaitGroup
	wg.Add(2)
	// The regular player: a poll every half second.
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			fetch(live + "index.m3u8" + sid)
			fetch(live + "manifest.mpd" + sid)
			fetch(base + "/time")
			fetch(base + "/nothing-here")
			for _, r := range []string{"v0", "a0"} {
				pl := fetch(live + r + ".m3u8" + sid)
				if m := reMap.FindStringSubmatch(pl); m != nil {
					fetch(live + m[1] + sid)
				}
				if segs := reSeg.FindAllString(pl, -1); len(segs) > 0 {
					fetch(live + segs[len(segs)-1] + sid)
				}
				if parts := promRePartURI.FindAllStringSubmatch(pl, -1); len(parts) > 0 {
					fetch(live + parts[len(parts)-1][1] + sid)
				}
				if m := promRePreload.FindStringSubmatch(pl); m != nil {
					fetch(live + m[1] + sid)
				}
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	// The LL-HLS player's blocking reload: always one waiting for the next
	// segment, as a player at the live edge does.
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			pl := fetch(live + "v0.m3u8" + sid)
			m := reMSN.FindStringSubmatch(pl)
			if m == nil {
				select {
				case <-time.After(100 * time.Millisecond):
				case <-stop:
					return
				}
				continue
			}
			msn, _ := strconv.Atoi(m[1])
			next := msn + len(reSeg.FindAllString(pl, -1))
			fetch(fmt.Sprintf("%sv0.m3u8?_HLS_msn=%d&_lo_sid=prometheus-e2e-viewer", live, next))
		}
	}()
	return func() {
		wg.Wait()
		cancel()
		client.CloseIdleConnections()
	}
}

// seriesCheck is how the test sees a documented family move.
type seriesCheck struct {
	// expr is summed at the start (before publishing) and now.
	expr string
	// gauge: it must be above 0 now (its value before publishing does
	// not matter); else (a counter, or a histogram's _count) it must
	// have grown since the start.
	gauge bool
}

func TestPrometheusScrapesAndAlerts(t *testing.T) {
	requireTools(t, "ffmpeg", "prometheus")
	start := time.Now()
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		// The stream stays known after its publisher is killed, as
		// during a real reconnect grace, so its series stay scraped.
		c.ReconnectGrace = 5 * time.Minute
	})
	const name = "prom"
	prom := startPrometheus(t, strings.TrimPrefix(a.admin, "http://"))

	// poll calls f every interval until it returns true or timeout runs
	// out; it returns how long that took, and false on time-out.
	poll := func(timeout, interval time.Duration, f func() bool) (time.Duration, bool) {
		t0 := time.Now()
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if f() {
				return time.Since(t0), true
			}
			select {
			case <-tick.C:
			case <-deadline.C:
				return time.Since(t0), false
			}
		}
	}

	// Prometheus is up and has scraped liveorigin.
	var lastErr error
	took, ok := poll(30*time.Second, 200*time.Millisecond, func() bool {
		v, err := prom.query(`up{job="liveorigin"}`, time.Time{})
		lastErr = err
		return err == nil && len(v) == 1 && v[0].value() == 1
	})
	if !ok {
		t.Fatalf("Prometheus did not scrape liveorigin (up == 1) within 30s; last error: %v", lastErr)
	}
	t.Logf("Prometheus scraped liveorigin %s after it started", took.Round(time.Millisecond))
	before := time.Now()

	// Publish, and play once segments exist.
	pub := publish(t, a.rtmpURL+name, 300)
	waitFor(t, a, name, 20*time.Second, "two segments of each track", func(tl *packager.Timeline) bool {
		if len(tl.Tracks) != 2 {
			return false
		}
		for _, tr := range tl.Tracks {
			if len(tr.Segments) < 2 {
				return false
			}
		}
		return true
	})
	stopPlay := make(chan struct{})
	waitPlay := playerTraffic(a.base, name, stopPlay)
	stopPlaying := sync.OnceFunc(func() { close(stopPlay); waitPlay() })
	t.Cleanup(stopPlaying)

	// Every documented family: how a plain RTMP stream with playback moves
	// it, or why it does not.
	s := `{stream="` + name + `"}`
	checks := map[string][]seriesCheck{
		"liveorigin_ingest_frames_total": {
			{expr: `liveorigin_ingest_frames_total{stream="prom",kind="video"}`},
			{expr: `liveorigin_ingest_frames_total{stream="prom",kind="audio"}`}},
		"liveorigin_ingest_bytes_total": {
			{expr: `liveorigin_ingest_bytes_total{stream="prom",kind="video"}`},
			{expr: `liveorigin_ingest_bytes_total{stream="prom",kind="audio"}`}},
		"liveorigin_ingest_frames_per_second":          {{expr: "liveorigin_ingest_frames_per_second" + s, gauge: true}},
		"liveorigin_ingest_keyframe_interval_seconds":  {{expr: "liveorigin_ingest_keyframe_interval_seconds" + s, gauge: true}},
		"liveorigin_ingest_session_start_time_seconds": {{expr: "liveorigin_ingest_session_start_time_seconds" + s, gauge: true}},
		"liveorigin_stream_start_time_seconds":         {{expr: "liveorigin_stream_start_time_seconds" + s, gauge: true}},
		"liveorigin_publisher_connects_total":          {{expr: `liveorigin_publisher_connects_total{stream="prom",type="first"}`}},
		"liveorigin_publish_sessions_total":            {{expr: `liveorigin_publish_sessions_total{result="accepted"}`}},
		"liveorigin_publishers_active":                 {{expr: "liveorigin_publishers_active", gauge: true}},
		"liveorigin_streams_active":                    {{expr: "liveorigin_streams_active", gauge: true}},
		"liveorigin_rtmp_connections_total":            {{expr: "liveorigin_rtmp_connections_total"}},
		"liveorigin_rtmp_connections_active":           {{expr: "liveorigin_rtmp_connections_active", gauge: true}},
		"liveorigin_rtmp_bytes_received_total":         {{expr: "liveorigin_rtmp_bytes_received_total"}},
		"liveorigin_packager_segments_total": {
			{expr: `liveorigin_packager_segments_total{stream="prom",kind="video"}`},
			{expr: `liveorigin_packager_segments_total{stream="prom",kind="audio"}`}},
		"liveorigin_packager_segment_duration_seconds": {
			{expr: `liveorigin_packager_segment_duration_seconds_count{kind="video"}`},
			{expr: `liveorigin_packager_segment_duration_seconds_count{kind="audio"}`}},
		"liveorigin_packager_part_duration_seconds": {
			{expr: `liveorigin_packager_part_duration_seconds_count{kind="video"}`},
			{expr: `liveorigin_packager_part_duration_seconds_count{kind="audio"}`}},
		"liveorigin_packager_segment_publish_delay_seconds": {
			{expr: `liveorigin_packager_segment_publish_delay_seconds_count{kind="video"}`},
			{expr: `liveorigin_packager_segment_publish_delay_seconds_count{kind="audio"}`}},
		"liveorigin_packager_bytes_held": {{expr: "liveorigin_packager_bytes_held" + s, gauge: true}},
		"liveorigin_viewers_estimate": {
			{expr: `liveorigin_viewers_estimate{stream="prom",method="sessions"}`, gauge: true},
			{expr: `liveorigin_viewers_estimate{stream="prom",method="request_rate"}`, gauge: true}},
		// An LL-HLS player always has one blocking reload waiting; the
		// gauge is sampled once a second, so look at its maximum.
		"liveorigin_http_blocked_requests": {{expr: `max_over_time(liveorigin_http_blocked_requests{kind="media_playlist_blocking"}[30s])`, gauge: true}},
		"liveorigin_http_blocking_wait_seconds": {
			{expr: `liveorigin_http_blocking_wait_seconds_count{kind="media_playlist_blocking"}`},
			{expr: `liveorigin_http_blocking_wait_seconds_count{kind="part"}`}},
	}
	for _, kind := range []string{"multivariant", "media_playlist", "media_playlist_blocking", "mpd", "init", "segment", "part", "time", "other"} {
		code := "200"
		if kind == "other" {
			code = "404"
		}
		checks["liveorigin_http_requests_total"] = append(checks["liveorigin_http_requests_total"],
			seriesCheck{expr: `liveorigin_http_requests_total{kind="` + kind + `",code="` + code + `"}`})
		checks["liveorigin_http_response_bytes_total"] = append(checks["liveorigin_http_response_bytes_total"],
			seriesCheck{expr: `liveorigin_http_response_bytes_total{kind="` + kind + `"}`})
		checks["liveorigin_http_request_duration_seconds"] = append(checks["liveorigin_http_request_duration_seconds"],
			seriesCheck{expr: `liveorigin_http_request_duration_seconds_count{kind="` + kind + `"}`})
	}
	const (
		srt  = "SRT ingest (TestSRT* publish over SRT)"
		rtsp = "RTSP ingest (TestRTSP* push and pull)"
	)
	skipped := map[string]string{
		"liveorigin_ingest_frames_dropped_total":        "needs malformed frames, video before a key frame, or early audio after a reconnect",
		"liveorigin_rtmp_errors_total":                  "needs an RTMP connection ended by an error",
		"liveorigin_rtmp_publish_refused_total":         "needs a refused RTMP publish",
		"liveorigin_packager_forced_cuts_total":         "needs an encoder keyframe interval above the segment target",
		"liveorigin_packager_timestamp_anomalies_total": "needs broken timestamps",
		"liveorigin_srt_connections_total":              srt,
		"liveorigin_srt_connections_active":             srt,
		"liveorigin_srt_bytes_received_total":           srt,
		"liveorigin_srt_errors_total":                   srt,
		"liveorigin_srt_refused_total":                  srt,
		"liveorigin_srt_rtt_seconds":                    srt,
		"liveorigin_srt_packets_lost_total":             srt,
		"liveorigin_srt_packets_retransmitted_total":    srt,
		"liveorigin_srt_packets_dropped_total":          srt,
		"liveorigin_rtsp_sessions_total":                rtsp,
		"liveorigin_rtsp_sessions_active":               rtsp,
		"liveorigin_rtsp_bytes_received_total":          rtsp,
		"liveorigin_rtsp_rtp_packets_lost_total":        rtsp,
		"liveorigin_rtsp_errors_total":                  rtsp,
		"liveorigin_rtsp_refused_total":                 rtsp,
		"liveorigin_rtsp_pull_state":                    "needs an rtsp-pull source",
		"liveorigin_rtsp_pull_retries_total":            "needs an rtsp-pull source",
		"liveorigin_purge_requests_total":               "needs a CDN purge backend",
		"liveorigin_purge_retries_total":                "needs a CDN purge backend",
		"liveorigin_purge_dropped_total":                "needs a CDN purge backend",
		"liveorigin_purge_queue_length":                 "needs a CDN purge backend",
		"liveorigin_purge_duration_seconds":             "needs a CDN purge backend",
		"liveorigin_webhook_requests_total":             "needs a webhook",
		"liveorigin_webhook_duration_seconds":           "needs a webhook",
		"liveorigin_webhook_dropped_total":              "needs a webhook",
		"liveorigin_webhook_retries_total":              "needs a webhook",
		"liveorigin_webhook_queue_length":               "needs a webhook",
		"liveorigin_publish_auth_failures_total":        "needs publish-auth: keys and a refused key (auth_e2e_test.go)",
		"liveorigin_playback_token_refusals_total":      "needs playback tokens and a refused one (playauth_e2e_test.go)",
		"liveorigin_publish_jwks_fetches_total":         "needs publish-jwt-jwks-url (jwt_e2e_test.go)",
		"liveorigin_limit_hits_total":                   "needs a limit hit (limits_e2e_test.go)",
	}
	for _, fam := range []string{"liveorigin_tls_certificate_expiry_timestamp_seconds", "liveorigin_tls_certificate_reloads_total", "liveorigin_tls_certificate_reload_errors_total"} {
		skipped[fam] = "needs TLS listeners and certificate files (tls_e2e_test.go)"
	}
	fams := metricFamilies(t)
	for fam := range fams {
		_, c := checks[fam]
		_, sk := skipped[fam]
		if !c && !sk {
			t.Errorf("docs/metrics.md documents %s: the Prometheus test neither checks nor skips it", fam)
		}
	}
	for fam := range checks {
		if _, ok := fams[fam]; !ok {
			t.Errorf("the Prometheus test checks %s, which docs/metrics.md does not document", fam)
		}
	}
	for fam := range skipped {
		if _, ok := fams[fam]; !ok {
			t.Errorf("the Prometheus test skips %s, which docs/metrics.md does not document", fam)
		}
	}

	// Wait until Prometheus sees every checked series move.
	var pending []string
	moved := func() bool {
		pending = pending[:0]
		now := time.Now()
		for fam, cs := range checks {
			for _, c := range cs {
				cur, err := prom.query("sum("+c.expr+")", now)
				if err != nil {
					t.Fatal(err)
				}
				if c.gauge {
					if scalarOf(cur) <= 0 {
						pending = append(pending, fmt.Sprintf("%s: %s is %v", fam, c.expr, scalarOf(cur)))
					}
					continue
				}
				old, err := prom.query("sum("+c.expr+")", before)
				if err != nil {
					t.Fatal(err)
				}
				if len(cur) == 0 || scalarOf(cur) <= scalarOf(old) {
					pending = append(pending, fmt.Sprintf("%s: %s went from %v to %v", fam, c.expr, scalarOf(old), scalarOf(cur)))
				}
			}
		}
		return len(pending) == 0
	}
	took, ok = poll(30*time.Second, time.Second, moved)
	if !ok {
		t.Fatalf("after %s Prometheus still does not see these series move:\n%s", took.Round(time.Millisecond), strings.Join(pending, "\n"))
	}
	t.Logf("Prometheus saw every checked series move %s after the publisher started", time.Since(before).Round(time.Millisecond))
	// The brief's literal check, logged: the counters whose increase over
	// 30s is visible (one-shot counters born at 1 are not: Prometheus
	// does not count the series' first sample as an increase).
	var noIncrease []string
	for fam, cs := range checks {
		for _, c := range cs {
			if c.gauge {
				continue
			}
			v, err := prom.query("increase("+c.expr+"[30s]) > 0", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(v) == 0 {
				noIncrease = append(noIncrease, fam+": "+c.expr)
			}
		}
	}
	if len(noIncrease) > 0 {
		t.Logf("moved, but increase([30s]) is empty (a counter born at its first value):\n%s", strings.Join(noIncrease, "\n"))
	}
	stopPlaying()

	// Kill the publisher; the stream stays known (reconnect grace).
	exprs := alertExprs(t)
	gone, stalled := exprs["LiveoriginPublisherGone"], exprs["LiveoriginSegmentProductionStalled"]
	if gone == "" || stalled == "" {
		t.Fatalf("the rules file lacks LiveoriginPublisherGone or LiveoriginSegmentProductionStalled: %v", exprs)
	}
	if v, err := prom.query(gone, time.Time{}); err != nil || len(v) != 0 {
		t.Fatalf("LiveoriginPublisherGone is true while the publisher runs: %v %v", v, err)
	}
	_ = pub.Process.Kill()
	_ = pub.Wait()
	killed := time.Now()
	hasStream := func(v []promSample) bool {
		for _, s := range v {
			if s.Metric["stream"] == name && s.Metric["job"] == "liveorigin" {
				return true
			}
		}
		return false
	}
	took, ok = poll(90*time.Second, time.Second, func() bool {
		v, err := prom.query(gone, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return hasStream(v)
	})
	if !ok {
		t.Fatalf("LiveoriginPublisherGone's expression is still not true %s after the publisher was killed:\n%s", took.Round(time.Millisecond), gone)
	}
	t.Logf("LiveoriginPublisherGone's expression became true %s after the publisher was killed", took.Round(time.Millisecond))

	// The rule itself: pending (its for: is 1m; firing would take another
	// minute, which this test does not wait for).
	var state string
	var others []string
	took, ok = poll(15*time.Second, 500*time.Millisecond, func() bool {
		var data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := prom.api("/api/v1/alerts", nil, &data); err != nil {
			t.Fatal(err)
		}
		found := false
		others = others[:0]
		for _, al := range data.Alerts {
			if al.Labels["alertname"] == "LiveoriginPublisherGone" && al.Labels["stream"] == name {
				state, found = al.State, true
			} else {
				others = append(others, fmt.Sprintf("%s %v", al.State, al.Labels))
			}
		}
		return found
	})
	if !ok {
		t.Fatalf("/api/v1/alerts has no LiveoriginPublisherGone alert for stream %s %s after its expression became true", name, took)
	}
	t.Logf("LiveoriginPublisherGone is %s %s after the publisher was killed", state, time.Since(killed).Round(time.Millisecond))
	// Nothing else is wrong with this origin: no other alert is active.
	if len(others) > 0 {
		t.Errorf("other alerts active for a healthy origin whose only publisher left:\n%s", strings.Join(others, "\n"))
	}

	// Every rule of the file loaded and evaluates on real data without
	// error.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := prom.api("/api/v1/rules", nil, &rules); err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			loaded++
			if r.Health != "ok" {
				t.Errorf("rule %s (group %s): health %q %s", r.Name, g.Name, r.Health, r.LastError)
			}
		}
	}
	if loaded != len(exprs) {
		t.Errorf("Prometheus loaded %d rules, the rules file has %d alerts", loaded, len(exprs))
	}

	// The gauges of a publisher gone within reconnect grace.
	for expr, want := range map[string]float64{
		"liveorigin_publishers_active":                     0,
		"liveorigin_rtmp_connections_active":               0,
		"liveorigin_streams_active":                        1,
		"liveorigin_ingest_session_start_time_seconds" + s: 0,
	} {
		v, err := prom.query("sum("+expr+")", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if got := scalarOf(v); got != want {
			t.Errorf("after the publisher was killed: %s is %v, want %v", expr, got, want)
		}
	}

	// LiveoriginSegmentProductionStalled does not apply to a killed
	// publisher (frames stop with segments); it must not have fired for a
	// healthy stream. Over the whole test, how often was its expression
	// true for the stream?
	var rng struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := prom.api("/api/v1/query_range", url.Values{
		"query": {stalled},
		"start": {strconv.FormatInt(before.Unix(), 10)},
		"end":   {strconv.FormatInt(time.Now().Unix(), 10)},
		"step":  {"1"},
	}, &rng); err != nil {
		t.Fatal(err)
	}
	for _, r := range rng.Result {
		if r.Metric["stream"] == name {
			t.Logf("LiveoriginSegmentProductionStalled's expression was true for %s (kind %s) at %d of the 1s steps since the publisher started", name, r.Metric["kind"], len(r.Values))
			if len(r.Values) >= 60 {
				t.Errorf("LiveoriginSegmentProductionStalled's expression held for a minute on a healthy stream (%d steps)", len(r.Values))
			}
		}
	}
	t.Logf("whole test: %s", time.Since(start).Round(time.Millisecond))
}
