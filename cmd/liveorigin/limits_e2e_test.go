package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/limits"
	"github.com/liveorigin/liveorigin/packager"
)

// limitHits is liveorigin_limit_hits_total{limit} of the app.
func limitHits(t *testing.T, a *app, limit string) float64 {
	t.Helper()
	return a.hits.Count(limit)
}

func hasSegment(tl *packager.Timeline) bool {
	return len(tl.Tracks) > 0 && len(tl.Tracks[0].Segments) >= 1
}

// max-publishers-per-address with real ffmpeg publishers from one address
// over RTMP and SRT: the third is refused (logged, counted) while the two
// go on; a reload raises the maximum and the third gets in.
func TestPublishersPerAddressWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	base := listeners + "segment-target: 1s\nreconnect-grace: 1s\n"
	a := startFromFile(t, base+"max-publishers-per-address: 2\n", nil)
	rtmpOne := publish(t, a.rtmpURL+"one", 30)
	srtTwo := publishArgsTo(t, []string{"-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "30",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-f", "mpegts",
		"srt://" + a.srt.Addr().String() + "?streamid=publish:live/two&pkt_size=1316"})
	waitFor(t, a.testApp, "one", 20*time.Second, "a segment of the RTMP stream", hasSegment)
	waitFor(t, a.testApp, "two", 20*time.Second, "a segment of the SRT stream", hasSegment)

	if err := waitExit(t, publish(t, a.rtmpURL+"three", 5)); err == nil {
		t.Error("a third publisher from 127.0.0.1 published")
	}
	if _, err := a.registry.Timeline("three"); !errors.Is(err, packager.ErrNotFound) {
		t.Errorf("the refused stream exists: %v", err)
	}
	a.lines.wait(t, 0, `"limit":"publishers_per_address"`)
	line, _ := a.lines.wait(t, 0, `"limit":"publishers_per_address"`)
	if !strings.Contains(line, `"stream":"three"`) || !strings.Contains(line, `"remote":"127.0.0.1:`) {
		t.Errorf("log line without the stream and the address: %s", line)
	}
	if got := limitHits(t, a.app, "publishers_per_address"); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}

	writeConfig(t, a.file, base+"max-publishers-per-address: 3\n")
	res, err := a.reloadConfig()
	if err != nil || !strings.Contains(strings.Join(res.Applied, ","), "max-publishers-per-address") {
		t.Fatalf("reload: %+v %v", res, err)
	}
	publish(t, a.rtmpURL+"three", 30)
	waitFor(t, a.testApp, "three", 20*time.Second, "a segment of the third stream after the reload", hasSegment)
	for _, cmd := range []interface{ Kill() error }{rtmpOne.Process, srtTwo.Process} {
		_ = cmd.Kill()
	}
}

// max-ingest-bitrate with real ffmpeg: a lossless publisher (tens of
// Mbit/s) is cut off within a few seconds with a clear log line, while one
// below the limit publishing at the same time goes on.
func TestIngestBitrateWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.MaxIngestBitrate = 2000
		c.IngestBitrateWindow = 2 * time.Second
	})
	publishArgs(t, a.rtmpURL+"slow", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "30",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-b:v", "400k", "-maxrate", "400k", "-bufsize", "400k")
	waitFor(t, a, "slow", 20*time.Second, "a segment of the slow stream", hasSegment)

	start := time.Now()
	fast := publishArgs(t, a.rtmpURL+"fast", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "30",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "30")
	if err := waitExit(t, fast); err == nil {
		t.Error("the publisher above max-ingest-bitrate ended without an error")
	}
	t.Logf("cut off after %s", time.Since(start))
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("cut off after %s", d)
	}
	if got := limitHits(t, a.app, "ingest_bitrate"); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "limit=ingest_bitrate") || !strings.Contains(logs, "above max-ingest-bitrate 2000 kbit/s") {
		t.Errorf("no log line of the cut-off publisher")
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "limit=ingest_bitrate") {
			t.Log(l)
		}
	}

	// The slow stream goes on: three more segments after the cut.
	tl, err := a.registry.Timeline("slow")
	if err != nil {
		t.Fatal(err)
	}
	seq := tl.Tracks[0].Segments[len(tl.Tracks[0].Segments)-1].Seq
	waitFor(t, a, "slow", 20*time.Second, "three more segments of the slow stream", func(tl *packager.Timeline) bool {
		segs := tl.Tracks[0].Segments
		return segs[len(segs)-1].Seq >= seq+3
	})
	if got := limitHits(t, a.app, "ingest_bitrate"); got != 1 {
		t.Errorf("hits = %v after the slow stream went on, want 1", got)
	}
}

// The HTTP limits of the playback listener as configured: manifest rate
// (429, no-store), header size (431), connections (503), a slowloris
// client cut off; each counted on /metrics.
func TestHTTPLimits(t *testing.T) {
	a := startApp(t, func(c *Config) {
		c.ManifestRateLimit = 2
		c.ManifestRateWindow = 10 * time.Second
		c.HTTPMaxHeaderBytes = 1024
		c.HTTPReadHeaderTimeout = 300 * time.Millisecond
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string, header http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, a.base+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 2; i++ {
		if resp := get("/live/nothing/index.m3u8", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("manifest request %d: %d", i+1, resp.StatusCode)
		}
	}
	if resp := get("/live/nothing/manifest.mpd", nil); resp.StatusCode != http.StatusTooManyRequests ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Retry-After") != "10" {
		t.Errorf("third manifest request: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get("/live/nothing/v0/0.m4s", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a segment request is not rate limited: %d", resp.StatusCode)
	}
	if resp := get("/time", http.Header{"X-Big": {strings.Repeat("a", 8<<10)}}); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 8 KiB header: %d, want 431", resp.StatusCode)
	}

	// Two connections held open (one of them a slowloris client), the
	// third refused. The maximum is set as a reload does, once the server
	// has seen the connections above close.
	waitActive(t, a.httpConns, 0)
	a.httpConns.SetMax(2)
	held, err := net.Dial("tcp", a.httpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	slow, err := net.Dial("tcp", a.httpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(held, "GET /time HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(held), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("held connection: %v", err)
	}
	if _, err := io.WriteString(slow, "GET /time HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	if resp := get("/time", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a third connection: %d, want 503", resp.StatusCode)
	}
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(slow); err != nil && isNetTimeout(err) {
		t.Errorf("the slowloris client was not cut off: %v", err)
	}

	for limit, want := range map[string]float64{"manifest_rate": 1, "http_header_size": 1, "http_connections": 1, "http_read_timeout": 1} {
		waitHits(t, a.hits, limit, want)
	}
	if m := string(mustGet(t, a.admin+"/metrics")); !strings.Contains(m, `liveorigin_limit_hits_total{limit="manifest_rate"} 1`) {
		t.Errorf("/metrics does not show the manifest rate hit")
	}
}

// waitActive waits until the server has n connections open (accepts and
// closes happen on the server's goroutines).
func waitActive(t *testing.T, ln *limits.Listener, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ln.AwaitActive(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// waitHits waits until limit has want hits (counted on the server's
// goroutines).
func waitHits(t *testing.T, h *limits.Hits, limit string, want float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Await(ctx, limit, want); err != nil {
		t.Fatal(err)
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The ingest timeouts as configured: publishers that stop sending (ffmpeg
// stopped with SIGSTOP) over RTMP, SRT and RTSP are cut off after their
// read timeout, and a connection that never speaks after
// rtmp-handshake-timeout and rtsp-read-timeout.
func TestIngestTimeouts(t *testing.T) {
	requireTools(t, "ffmpeg")
	// Long enough for a publisher to start sending: ffmpeg's encoder and
	// MPEG-TS muxer hold the first packets for most of a second.
	const readTimeout = 2 * time.Second
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.RTMPReadTimeout, c.SRTReadTimeout, c.RTSPReadTimeout = readTimeout, readTimeout, readTimeout
		c.RTMPHandshakeTimeout = 300 * time.Millisecond
	})
	for _, l := range []struct {
		name string
		addr net.Addr
		min  time.Duration
	}{{"rtmp", a.rtmp.Addr(), 300 * time.Millisecond}, {"rtsp", a.rtsp.Addr(), readTimeout}} {
		start := time.Now()
		c, err := net.Dial("tcp", l.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(c)
		c.Close()
		if d := time.Since(start); isNetTimeout(err) || d < l.min {
			t.Errorf("%s: a silent connection ended after %s (%v), want after %s", l.name, d, err, l.min)
		}
	}

	input := []string{"-hide_banner", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "30",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30"}
	publishers := map[string][]string{
		"rtmp": slices.Concat(input, []string{"-f", "flv", a.rtmpURL + "rtmp"}),
		"srt":  slices.Concat(input, []string{"-f", "mpegts", "srt://" + a.srt.Addr().String() + "?streamid=publish:live/srt&pkt_size=1316"}),
		"rtsp": slices.Concat(input, []string{"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://" + a.rtsp.Addr().String() + "/live/rtsp"}),
	}
	cmds := map[string]*exec.Cmd{}
	for name, args := range publishers {
		cmds[name] = publishArgsTo(t, args)
	}
	for name := range publishers {
		waitFor(t, a, name, 20*time.Second, name+": a segment", hasSegment)
	}
	stopped := time.Now()
	for _, cmd := range cmds {
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for name := range publishers {
		for live(a, name) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the stopped publisher was not cut off within 10s", name)
			}
			time.Sleep(20 * time.Millisecond) // the cut-off happens on the server's goroutines
		}
	}
	if d := time.Since(stopped); d < readTimeout {
		t.Errorf("cut off %s after they stopped sending, before the read timeout", d)
	}
	if n := strings.Count(a.logs.String(), "nothing received for 2s (ReadTimeout)"); n < 3 {
		t.Errorf("%d log lines of a read timeout, want one per protocol", n)
	}
}

// live reports whether the stream has a publisher.
func live(a *testApp, name string) bool {
	for _, st := range a.registry.Streams() {
		if st.Name == name {
			return st.Live
		}
	}
	return false
}

// A reload applies the live limits (manifest rate, connections, ingest
// limits) and reports the timeouts as needing a restart.
func TestLimitsReload(t *testing.T) {
	a := startFromFile(t, listeners+"manifest-rate-limit: 1\n", nil)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	status := func() int {
		t.Helper()
		resp, err := client.Get(a.base + "/live/nothing/index.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s1, s2 := status(), status(); s1 != http.StatusNotFound || s2 != http.StatusTooManyRequests {
		t.Fatalf("with manifest-rate-limit 1: %d then %d", s1, s2)
	}

	writeConfig(t, a.file, listeners+"manifest-rate-limit: 0\nmax-http-connections: 1\nmax-ingest-bitrate: 100\n"+
		"ingest-bitrate-window: 3s\nmax-publishers-per-address: 4\nhttp-write-timeout: 90s\n")
	res, err := a.reloadConfig()
	if err != nil {
		t.Fatal(err)
	}
	applied := strings.Join(res.Applied, ",")
	for _, o := range []string{"manifest-rate-limit", "max-http-connections", "max-ingest-bitrate", "ingest-bitrate-window", "max-publishers-per-address"} {
		if !strings.Contains(applied, o) {
			t.Errorf("reload did not apply %s: %+v", o, res)
		}
	}
	if strings.Join(res.NeedsRestart, ",") != "http-write-timeout" {
		t.Errorf("needs restart: %v, want http-write-timeout", res.NeedsRestart)
	}
	if got := a.limits.Limits(); got.MaxBitrate != 100_000 || got.BitrateWindow != 3*time.Second || got.MaxPerAddress != 4 {
		t.Errorf("ingest limits after the reload: %+v", got)
	}
	if s := status(); s != http.StatusNotFound {
		t.Errorf("manifest rate limit off: %d", s)
	}
	waitActive(t, a.httpConns, 0)
	held, err := net.Dial("tcp", a.httpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waitActive(t, a.httpConns, 1)
	if s := status(); s != http.StatusServiceUnavailable {
		t.Errorf("a second connection with max-http-connections 1: %d", s)
	}
}
