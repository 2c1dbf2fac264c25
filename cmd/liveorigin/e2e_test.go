package main

// End-to-end tests with real peers: Debian's ffmpeg publishes RTMP and reads
// HLS and DASH back, ffprobe checks the segments, promtool the metrics.
// `make test` installs them (scripts/deps.sh).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"github.com/liveorigin/liveorigin/internal/testkit"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/packager"
)

func TestMain(m *testing.M) {
	// gosrt's dialer (the hostile-input battery's SRT caller, not the
	// server) can leave its UDP reader blocked on an unbuffered channel
	// that Close polls only once (gosrt v0.11.0 dial.go), as in
	// ingest/srt's tests.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/datarhei/gosrt.Dial.func1"))
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (apt-get install ffmpeg prometheus)", tool)
		}
	}
}

// testApp is a liveorigin running in-process on ports chosen by the OS.
type testApp struct {
	*app
	base, admin, rtmpURL string
	done                 chan error
	cancel               context.CancelFunc
	logs                 *syncBuffer
	stopOnce             sync.Once
}

func startApp(t *testing.T, mutate func(*Config)) *testApp {
	t.Helper()
	cfg := defaultConfig()
	cfg.RTMPAddr, cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.SRTAddr, cfg.RTSPAddr = "127.0.0.1:0", "127.0.0.1:0"
	// RTSP over UDP needs a fixed even/odd port pair; the tests push over TCP.
	cfg.RTSPUDPRTPAddr, cfg.RTSPUDPRTCPAddr = "", ""
	cfg.LogLevel = "debug"
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	a, err := newApp(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testApp{
		app:     a,
		base:    "http://" + a.httpLn.Addr().String(),
		admin:   "http://" + a.adminLn.Addr().String(),
		rtmpURL: "rtmp://" + a.rtmp.Addr().String() + "/live/",
		done:    make(chan error, 1),
		cancel:  cancel,
		logs:    logs,
	}
	go func() { ta.done <- a.serve(ctx) }()
	t.Cleanup(func() {
		ta.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ta
}

func (ta *testApp) stop(t *testing.T) {
	ta.stopOnce.Do(func() {
		ta.cancel()
		select {
		case err := <-ta.done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("server did not shut down within 30s")
		}
	})
}

type syncBuffer = testkit.SyncBuffer

// publish starts ffmpeg publishing a generated H.264 (with B-frames) + AAC
// stream for the given length, in real time.
func publish(t *testing.T, url string, seconds int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k",
		"-f", "flv", url)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// waitFor waits until cond holds for the stream's timeline, waking on each
// change of the timeline (and, before the stream exists, on a short tick).
func waitFor(t *testing.T, a *testApp, name string, timeout time.Duration, what string, cond func(*packager.Timeline) bool) *packager.Timeline {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		tl, err := a.registry.Timeline(name)
		if err == nil && cond(tl) {
			return tl
		}
		var changed <-chan struct{}
		if err == nil {
			changed = tl.Changed()
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func mustGet(t *testing.T, url string) []byte {
	t.Helper()
	code, _, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return body
}

// play reads a live URL with ffmpeg for the given media time and returns the
// number of video frames decoded; any error ffmpeg reports fails the test.
func play(t *testing.T, url string, seconds int) int {
	t.Helper()
	frames, stderr, err := playOnce(url, seconds)
	if err == nil && strings.HasSuffix(url, ".mpd") && onlyRereadDTS(stderr) {
		// ffmpeg 5.1's DASH reader now and then re-reads one audio segment
		// after an MPD refresh (docs/low-latency.md, "Known limitations"):
		// its muxer then complains of the repeated timestamps. Seen about
		// once in a CI run under -race; a fault of ours would repeat, so
		// the second play must be clean.
		t.Logf("ffmpeg re-read a DASH segment of %s (a known ffmpeg 5.1 fault); playing again", url)
		frames, stderr, err = playOnce(url, seconds)
	}
	if err != nil {
		t.Errorf("ffmpeg playing %s: %v\n%s", url, err, stderr)
		return 0
	}
	if stderr != "" {
		t.Errorf("ffmpeg playing %s reported errors:\n%s", url, stderr)
	}
	return frames
}

// onlyRereadDTS reports whether ffmpeg's messages are all the muxer's
// complaint of timestamps that went back (a segment read twice).
func onlyRereadDTS(stderr string) bool {
	if stderr == "" {
		return false
	}
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "non monotonically increasing dts to muxer") {
			return false
		}
	}
	return true
}

// playOnce plays url with ffmpeg for seconds of media and returns the video
// frames decoded and what ffmpeg said on stderr.
func playOnce(url string, seconds int) (int, string, error) {
	// -re: read at the media's own pace, as a player does; without it
	// ffmpeg's DASH reader runs into the live edge and asks for segments
	// before they exist.
	// A reader that loops (ffmpeg's DASH reader has re-read one segment
	// for minutes on a busy machine) fails the test instead of hanging
	// the suite.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(3*seconds+30)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-re", "-i", url,
		"-t", strconv.Itoa(seconds), "-map", "0:v:0", "-map", "0:a:0", "-f", "null", "-progress", "pipe:1", "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, stderr.String(), err
	}
	frames := 0
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "frame="); ok {
			frames, _ = strconv.Atoi(v)
		}
	}
	return frames, strings.TrimSpace(stderr.String()), nil
}

var (
	reMap    = regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`)
	reSeg    = regexp.MustCompile(`(?m)^([a-z0-9]+/[0-9]+\.m4s)$`)
	reMSN    = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
	reTarget = regexp.MustCompile(`#EXT-X-TARGETDURATION:(\d+)`)
	reExtinf = regexp.MustCompile(`#EXTINF:([0-9.]+),`)
)

// probe concatenates an init segment and a media segment and asks ffprobe
// what it sees.
func probe(t *testing.T, init, seg []byte) map[string]any {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe.mp4")
	if err := os.WriteFile(p, append(append([]byte{}, init...), seg...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_name,width,height,sample_rate,channels,nb_read_frames", "-count_frames", "-of", "json", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var doc struct {
		Streams []map[string]any `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return doc.Streams[0]
}

func TestEndToEndRTMPToHLSAndDASH(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe", "promtool")
	// The regular HLS and DASH path (low-latency=false): ffmpeg's DASH
	// reader can read an audio segment twice when the MPD lists a growing
	// LL-DASH segment (seen once in CI; docs/low-latency.md). Low latency
	// end to end is e2e_lowlatency_test.go.
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.Window = 6 * time.Second
		c.ReconnectGrace = 4 * time.Second
		c.LowLatency = false
	})
	const name = "e2e"
	hls, mpd := a.base+"/live/"+name+"/index.m3u8", a.base+"/live/"+name+"/manifest.mpd"

	pub := publish(t, a.rtmpURL+name, 16)
	hasSegments := func(tl *packager.Timeline) bool {
		if len(tl.Tracks) != 2 {
			return false
		}
		for _, tr := range tl.Tracks {
			if len(tr.Segments) < 3 {
				return false
			}
		}
		return true
	}
	waitFor(t, a, name, 20*time.Second, "three segments of each track", hasSegments)

	// Both formats play for 8 s of media with no error from ffmpeg.
	var wg sync.WaitGroup
	frames := map[string]int{}
	var mu sync.Mutex
	for _, url := range []string{hls, mpd} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := play(t, url, 8)
			mu.Lock()
			frames[url] = n
			mu.Unlock()
		}()
	}

	// Meanwhile: the segments are what they claim to be.
	media := string(mustGet(t, a.base+"/live/"+name+"/v0.m3u8"))
	target, _ := strconv.Atoi(reTarget.FindStringSubmatch(media)[1])
	for _, m := range reExtinf.FindAllStringSubmatch(media, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		if int(d+0.5) > target {
			t.Errorf("EXTINF %s exceeds TARGETDURATION %d", m[1], target)
		}
	}
	segs := reSeg.FindAllString(media, -1)
	initV := mustGet(t, a.base+"/live/"+name+"/"+reMap.FindStringSubmatch(media)[1])
	v := probe(t, initV, mustGet(t, a.base+"/live/"+name+"/"+segs[len(segs)-1]))
	if v["codec_name"] != "h264" || v["width"] != float64(320) || v["height"] != float64(240) {
		t.Errorf("video segment: ffprobe says %v", v)
	}
	if n, _ := strconv.Atoi(fmt.Sprint(v["nb_read_frames"])); n < 25 || n > 35 {
		t.Errorf("video segment of a 1 s GOP at 30 fps has %d frames", n)
	}
	audio := string(mustGet(t, a.base+"/live/"+name+"/a0.m3u8"))
	asegs := reSeg.FindAllString(audio, -1)
	initA := mustGet(t, a.base+"/live/"+name+"/"+reMap.FindStringSubmatch(audio)[1])
	au := probe(t, initA, mustGet(t, a.base+"/live/"+name+"/"+asegs[len(asegs)-1]))
	if au["codec_name"] != "aac" || au["sample_rate"] != "48000" || au["channels"] != float64(1) {
		t.Errorf("audio segment: ffprobe says %v", au)
	}
	wg.Wait()
	for url, n := range frames {
		if n < 8*30*9/10 {
			t.Errorf("%s: ffmpeg decoded %d video frames in 8 s, want about 240", url, n)
		}
	}

	// Every segment URL seen so far, with a digest of its bytes.
	seen := map[string][32]byte{}
	record := func() {
		for _, pl := range []string{"v0", "a0"} {
			for _, s := range reSeg.FindAllString(string(mustGet(t, a.base+"/live/"+name+"/"+pl+".m3u8")), -1) {
				if _, ok := seen[s]; ok {
					continue
				}
				code, _, body := get(t, a.base+"/live/"+name+"/"+s)
				if code == http.StatusOK {
					seen[s] = sha256.Sum256(body)
				}
			}
		}
	}
	record()
	msnBefore, _ := strconv.ParseUint(reMSN.FindStringSubmatch(string(mustGet(t, a.base+"/live/"+name+"/v0.m3u8")))[1], 10, 64)

	// The publisher stops and returns within the grace period: the stream
	// continues through a discontinuity.
	if err := pub.Wait(); err != nil {
		t.Fatalf("first publisher: %v", err)
	}
	record()
	pub2 := publish(t, a.rtmpURL+name, 5)
	tl := waitFor(t, a, name, 20*time.Second, "a second period with segments", func(tl *packager.Timeline) bool {
		for _, s := range tl.Tracks[0].Segments {
			if s.Discontinuity {
				return true
			}
		}
		return false
	})
	if len(tl.Periods) < 2 {
		t.Errorf("after a reconnect the timeline has %d periods, want 2", len(tl.Periods))
	}
	media = string(mustGet(t, a.base+"/live/"+name+"/v0.m3u8"))
	if !strings.Contains(media, "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("media playlist after a reconnect has no EXT-X-DISCONTINUITY:\n%s", media)
	}
	if msn, _ := strconv.ParseUint(reMSN.FindStringSubmatch(media)[1], 10, 64); msn < msnBefore {
		t.Errorf("media sequence went back from %d to %d", msnBefore, msn)
	}
	if periods := strings.Count(string(mustGet(t, mpd)), "<Period "); periods < 2 {
		t.Errorf("MPD after a reconnect has %d periods, want 2", periods)
	}
	record()

	// The publisher goes away for longer than the grace: the stream ends.
	if err := pub2.Wait(); err != nil {
		t.Fatalf("second publisher: %v", err)
	}
	waitFor(t, a, name, 20*time.Second, "the stream to end", func(tl *packager.Timeline) bool { return tl.Ended })
	media = string(mustGet(t, a.base+"/live/"+name+"/v0.m3u8"))
	if !strings.HasSuffix(media, "#EXT-X-ENDLIST\n") {
		t.Errorf("ended stream's playlist does not end with EXT-X-ENDLIST:\n%s", media)
	}
	endMPD := string(mustGet(t, mpd))
	if strings.Contains(endMPD, "minimumUpdatePeriod") || !strings.Contains(endMPD, "mediaPresentationDuration") {
		t.Errorf("ended stream's MPD does not signal the end:\n%s", endMPD)
	}
	if !strings.Contains(endMPD, `availabilityStartTime="1970-01-01T00:00:00Z"`) {
		t.Errorf("MPD availabilityStartTime moved:\n%s", endMPD)
	}

	// No segment URL was ever served with other bytes.
	for s, sum := range seen {
		code, _, body := get(t, a.base+"/live/"+name+"/"+s)
		if code == http.StatusOK && sha256.Sum256(body) != sum {
			t.Errorf("%s served with different bytes", s)
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct segments seen", len(seen))
	}

	checkMetrics(t, a, name)
	var api struct {
		Streams []packager.StreamInfo `json:"streams"`
	}
	if err := json.Unmarshal(mustGet(t, a.admin+"/api/v1/streams"), &api); err != nil || len(api.Streams) != 1 || api.Streams[0].Name != name {
		t.Errorf("/api/v1/streams: %+v %v", api, err)
	}
}

func checkMetrics(t *testing.T, a *testApp, name string) {
	t.Helper()
	text := mustGet(t, a.admin+"/metrics")
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// docs/metrics.md lists every series liveorigin exports.
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (liveorigin_\w+)`).FindAllSubmatch(text, -1) {
		if !bytes.Contains(doc, []byte("`"+string(m[1])+"`")) {
			t.Errorf("docs/metrics.md does not document %s", m[1])
		}
	}
	for _, want := range []string{
		`liveorigin_ingest_frames_total{kind="video",stream="` + name + `"}`,
		`liveorigin_packager_segments_total{kind="audio",stream="` + name + `"}`,
		`liveorigin_http_requests_total{code="200",kind="segment"}`,
		`liveorigin_rtmp_connections_total`,
	} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// SIGTERM (here: the context) ends every stream cleanly before HTTP stops.
func TestShutdownEndsStreams(t *testing.T) {
	requireTools(t, "ffmpeg")
	a := startApp(t, func(c *Config) { c.SegmentTarget = time.Second })
	publish(t, a.rtmpURL+"bye", 30)
	waitFor(t, a, "bye", 20*time.Second, "a segment", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) > 0 && len(tl.Tracks[1].Segments) > 0
	})
	a.stop(t)
	tl, err := a.registry.Timeline("bye")
	if err != nil {
		t.Fatal(err)
	}
	if !tl.Ended {
		t.Error("stream not ended by shutdown")
	}
	if resp, err := http.Get(a.admin + "/readyz"); err == nil {
		resp.Body.Close()
		t.Error("admin listener still answers after shutdown")
	}
}

// playerReport is what test/players/check.mjs prints.
type playerReport struct {
	StartupMs     int      `json:"startupMs"`
	Played        float64  `json:"played"`
	Wall          float64  `json:"wall"`
	Waiting       int      `json:"waiting"`
	Errors        []string `json:"errors"`
	Warnings      []string `json:"warnings"`
	Latency       float64  `json:"latency"`
	LatencyMedian float64  `json:"latencyMedian"`
	LatencyMax    float64  `json:"latencyMax"`
	TargetLatency float64  `json:"targetLatency"`
	Width         int      `json:"width"`
	Height        int      `json:"height"`
	DecodedFrames int      `json:"decodedFrames"`
	Console       []string `json:"console"`
}

// playInBrowser plays url with hls.js or dash.js in headless Chromium for
// the given wall-clock seconds. It may run on another goroutine.
func playInBrowser(kind, url string, seconds int) (playerReport, error) {
	cmd := exec.Command("node", "../../test/players/check.mjs", kind, url, strconv.Itoa(seconds))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var r playerReport
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%s player: %v\n%s", kind, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%s player output %q: %v", kind, stdout.String(), err)
	}
	return r, nil
}

// Real players in a real browser: hls.js and dash.js play the stream and
// keep playing through a publisher's reconnect (a discontinuity in HLS, a new
// Period in DASH).
func TestPlayersInBrowser(t *testing.T) {
	requireTools(t, "ffmpeg", "node", "chromium")
	if _, err := os.Stat("../../test/players/node_modules/playwright-core"); err != nil {
		t.Fatal("player libraries missing: run `make deps` (npm ci in test/players)")
	}
	// hls.js plays LL-HLS across the reconnect. dash.js plays the regular
	// DASH MPD: with low-latency DASH it can stall at the new Period (seen
	// once in CI: 5 s played in 20 s), a known limitation
	// (docs/low-latency.md); LL-DASH without a reconnect is
	// TestLowLatencyInBrowser.
	ll := startApp(t, func(c *Config) { c.SegmentTarget = time.Second })
	regular := startApp(t, func(c *Config) { c.SegmentTarget = time.Second; c.LowLatency = false })
	for _, tc := range []struct {
		kind, path string
		a          *testApp
	}{{"hls", "index.m3u8", ll}, {"dash", "manifest.mpd", regular}} {
		a := tc.a
		t.Run(tc.kind, func(t *testing.T) {
			name := "browser-" + tc.kind
			pub := publish(t, a.rtmpURL+name, 8)
			waitFor(t, a, name, 20*time.Second, "three segments", func(tl *packager.Timeline) bool {
				return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 3 && len(tl.Tracks[1].Segments) >= 3
			})
			type result struct {
				r   playerReport
				err error
			}
			done := make(chan result, 1)
			go func() {
				r, err := playInBrowser(tc.kind, a.base+"/live/"+name+"/"+tc.path, 20)
				done <- result{r, err}
			}()
			// The publisher stops while the player plays; another one
			// continues the stream within the reconnect grace.
			if err := pub.Wait(); err != nil {
				t.Errorf("first publisher: %v", err)
			}
			publish(t, a.rtmpURL+name, 20)
			res := <-done
			if res.err != nil {
				t.Fatal(res.err)
			}
			r := res.r
			t.Logf("%s: %+v", tc.kind, r)
			if len(r.Errors) > 0 {
				t.Errorf("%s reported errors: %v", tc.kind, r.Errors)
			}
			if r.Width != 320 || r.Height != 240 {
				t.Errorf("%s: picture %dx%d, want 320x240", tc.kind, r.Width, r.Height)
			}
			// 20 s of wall clock, less the start-up and the publisher's
			// gap of about a second: at least 12 s must have played.
			if r.Played < 12 {
				t.Errorf("%s played %.1f s of media in %v s", tc.kind, r.Played, r.Wall)
			}
			tl, err := a.registry.Timeline(name)
			if err != nil || len(tl.Periods) < 2 {
				t.Errorf("the stream did not go through a reconnect: %v", err)
			}
		})
	}
}

// publishArgs starts ffmpeg publishing with the given input and codec
// arguments over RTMP.
func publishArgs(t *testing.T, url string, args ...string) *exec.Cmd {
	t.Helper()
	return publishArgsTo(t, append(append([]string{"-hide_banner", "-nostdin", "-v", "error", "-re"}, args...), "-f", "flv", url))
}

func ffmpegCommand(args ...string) *exec.Cmd { return exec.Command("ffmpeg", args...) }

// publishArgsTo starts ffmpeg with the whole argument list and stops it with
// the test.
func publishArgsTo(t *testing.T, args []string) *exec.Cmd {
	t.Helper()
	url := args[len(args)-1]
	cmd := exec.Command("ffmpeg", args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ffmpeg publishing %s: %s", url, stderr.String())
		}
	})
	return cmd
}

// Audio-only and video-only publishers get a playable stream with one
// rendition, and a keyframe interval longer than the target still gives a
// valid playlist.
func TestAudioOnlyAndVideoOnly(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	a := startApp(t, func(c *Config) { c.SegmentTarget = time.Second })
	publishArgs(t, a.rtmpURL+"radio", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "20",
		"-c:a", "aac", "-ac", "2")
	// A 2.5 s keyframe interval against a 1 s segment target.
	publishArgs(t, a.rtmpURL+"silent", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "20",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "75", "-keyint_min", "75", "-sc_threshold", "0")
	for _, tc := range []struct {
		name, rendition, codec string
		segs                   int
	}{{"radio", "a0", "mp4a.40.2", 3}, {"silent", "v0", "avc1.", 2}} {
		waitFor(t, a, tc.name, 20*time.Second, tc.name+" segments", func(tl *packager.Timeline) bool {
			return len(tl.Tracks) == 1 && len(tl.Tracks[0].Segments) >= tc.segs
		})
		mv := string(mustGet(t, a.base+"/live/"+tc.name+"/index.m3u8"))
		if strings.Contains(mv, "EXT-X-MEDIA:") || !strings.Contains(mv, `CODECS="`+tc.codec) || !strings.Contains(mv, "\n"+tc.rendition+".m3u8\n") {
			t.Errorf("%s multivariant playlist:\n%s", tc.name, mv)
		}
		media := string(mustGet(t, a.base+"/live/"+tc.name+"/"+tc.rendition+".m3u8"))
		target, _ := strconv.Atoi(reTarget.FindStringSubmatch(media)[1])
		for _, m := range reExtinf.FindAllStringSubmatch(media, -1) {
			if d, _ := strconv.ParseFloat(m[1], 64); int(d+0.5) > target {
				t.Errorf("%s: EXTINF %s exceeds TARGETDURATION %d", tc.name, m[1], target)
			}
		}
		if tc.name == "silent" && target != 3 {
			t.Errorf("2.5 s keyframe interval: TARGETDURATION %d, want 3\n%s", target, media)
		}
		segs := reSeg.FindAllString(media, -1)
		init := mustGet(t, a.base+"/live/"+tc.name+"/"+reMap.FindStringSubmatch(media)[1])
		st := probe(t, init, mustGet(t, a.base+"/live/"+tc.name+"/"+segs[len(segs)-1]))
		if want := map[string]string{"radio": "aac", "silent": "h264"}[tc.name]; st["codec_name"] != want {
			t.Errorf("%s: ffprobe says %v", tc.name, st)
		}
		if code, _, body := get(t, a.base+"/live/"+tc.name+"/manifest.mpd"); code != http.StatusOK || strings.Count(string(body), "<AdaptationSet") != 1 {
			t.Errorf("%s MPD: %d\n%s", tc.name, code, body)
		}
	}
}
