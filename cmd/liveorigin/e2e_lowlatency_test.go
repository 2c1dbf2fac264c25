package main

// End-to-end low latency (docs/low-latency.md) with real peers: ffmpeg
// publishes RTMP; the gohlslib client (a third-party LL-HLS client: preload
// hints, blocking reloads, delta updates) plays LL-HLS; ffmpeg reads the
// DASH MPD whose newest segment is sent while it grows; hls.js and dash.js
// in headless Chromium hold their distance from the live edge.

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/liveorigin/liveorigin/packager"
)

// publishLive publishes what an encoder set for low latency sends: H.264
// without B-frames and a key frame every 2 s (the default segment target),
// AAC, in real time.
func publishLive(t *testing.T, url string, seconds int) *exec.Cmd {
	t.Helper()
	return publishArgs(t, url,
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k")
}

// twoSegments: both tracks have two complete segments and a part of the
// next one.
func twoSegments(tl *packager.Timeline) bool {
	if len(tl.Tracks) != 2 {
		return false
	}
	for _, tr := range tl.Tracks {
		if len(tr.Segments) < 2 || len(tr.Pending) == 0 {
			return false
		}
	}
	return true
}

var (
	rePreloadHint = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"`)
	rePart        = regexp.MustCompile(`#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)"`)
)

func TestLowLatencyEndToEnd(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	a := startApp(t, nil) // make run's defaults: LL-HLS on, 2 s segments, 1/3 s parts
	const name = "ll"
	publishLive(t, a.rtmpURL+name, 60)
	waitFor(t, a, name, 20*time.Second, "two segments and a part", twoSegments)
	base := a.base + "/live/" + name + "/"

	t.Run("playlist", func(t *testing.T) {
		media := string(mustGet(t, base+"v0.m3u8"))
		for _, want := range []string{
			"#EXT-X-PART-INF:PART-TARGET=0.334\n",
			"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,HOLD-BACK=6.000,PART-HOLD-BACK=1.002\n",
			"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"v0/part-",
			"#EXT-X-RENDITION-REPORT:URI=\"a0.m3u8\",LAST-MSN=",
		} {
			if !strings.Contains(media, want) {
				t.Errorf("media playlist lacks %q:\n%s", want, media)
			}
		}
		parts := rePart.FindAllStringSubmatch(media, -1)
		if len(parts) < 6 {
			t.Fatalf("%d parts in the playlist, want the parts of the last segments:\n%s", len(parts), media)
		}
		// A part is an object of its own; ffprobe decodes the first part
		// of a segment (independent) after the init segment.
		initURI := reMap.FindStringSubmatch(media)[1]
		var first string
		for _, line := range strings.Split(media, "\n") {
			if strings.HasPrefix(line, "#EXT-X-PART:") && strings.Contains(line, "INDEPENDENT=YES") {
				first = rePart.FindStringSubmatch(line)[2]
				break
			}
		}
		st := probe(t, mustGet(t, base+initURI), mustGet(t, base+first))
		if st["codec_name"] != "h264" || st["nb_read_frames"] != "10" {
			t.Errorf("ffprobe of part %s: %v, want 10 h264 frames (1/3 s at 30 fps)", first, st)
		}
	})

	t.Run("gohlslib", func(t *testing.T) {
		var mu sync.Mutex
		var video, audio, parts, decodeErrs int
		var distances []time.Duration
		enough := make(chan struct{})
		var once sync.Once
		c := &gohlslib.Client{
			URI:                       base + "index.m3u8",
			OnDownloadPrimaryPlaylist: func(string) {},
			OnDownloadStreamPlaylist:  func(string) {},
			OnDownloadSegment:         func(string) {},
			OnDownloadPart: func(string) {
				mu.Lock()
				parts++
				mu.Unlock()
			},
			OnDecodeError: func(err error) {
				mu.Lock()
				decodeErrs++
				mu.Unlock()
				t.Logf("gohlslib decode error: %v", err)
			},
		}
		c.OnTracks = func(tracks []*gohlslib.Track) error {
			for _, tr := range tracks {
				switch tr.Codec.(type) {
				case *codecs.H264:
					c.OnDataH26x(tr, func(_, _ int64, au [][]byte) {
						ntp, ok := c.AbsoluteTime(tr)
						mu.Lock()
						video++
						if ok {
							distances = append(distances, time.Since(ntp))
						}
						if video == 240 { // 8 s at 30 fps
							once.Do(func() { close(enough) })
						}
						mu.Unlock()
					})
				case *codecs.MPEG4Audio:
					c.OnDataMPEG4Audio(tr, func(_ int64, aus [][]byte) {
						mu.Lock()
						audio += len(aus)
						mu.Unlock()
					})
				default:
					return fmt.Errorf("unexpected track %T", tr.Codec)
				}
			}
			return nil
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		failed := make(chan error, 1)
		go func() { failed <- c.Wait2() }()
		select {
		case <-enough:
		case err := <-failed:
			t.Fatalf("gohlslib stopped: %v", err)
		case <-time.After(30 * time.Second):
			t.Error("gohlslib did not play 8 s of video within 30 s")
		}
		c.Close()
		<-failed
		mu.Lock()
		defer mu.Unlock()
		if parts == 0 || decodeErrs > 0 || audio == 0 {
			t.Errorf("gohlslib: %d parts downloaded, %d decode errors, %d audio frames", parts, decodeErrs, audio)
		}
		// Its distance from the live edge: the wall clock minus the
		// PROGRAM-DATE-TIME of each frame it hands out (liveorigin anchors
		// it to the frame's arrival). Three parts of hold-back and one
		// part in production: about 1.3 s; a player of whole segments
		// would be 4 s or more behind.
		sort.Slice(distances, func(i, j int) bool { return distances[i] < distances[j] })
		med := distances[len(distances)/2]
		t.Logf("gohlslib: %d video frames, %d audio frames, %d parts; distance from live: median %v, max %v",
			video, audio, parts, med.Round(time.Millisecond), distances[len(distances)-1].Round(time.Millisecond))
		if med > 2500*time.Millisecond {
			t.Errorf("gohlslib plays %v behind live, want under 2.5 s with 1/3 s parts", med)
		}
	})

	t.Run("blocking", func(t *testing.T) {
		tl := waitFor(t, a, name, 10*time.Second, "a part", twoSegments)
		v := tl.Tracks[0]
		next := fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", v.PendingSeq, len(v.Pending))
		for _, tc := range []struct {
			query string
			code  int
		}{
			{"_HLS_part=1", http.StatusBadRequest},
			{"_HLS_msn=abc", http.StatusBadRequest},
			{fmt.Sprintf("_HLS_msn=%d", v.Segments[len(v.Segments)-1].Seq+3), http.StatusBadRequest},
			{fmt.Sprintf("_HLS_msn=%d&_HLS_part=40", v.PendingSeq+1), http.StatusBadRequest},
			{next, http.StatusOK},
		} {
			code, h, body := get(t, base+"v0.m3u8?"+tc.query)
			if code != tc.code {
				t.Errorf("?%s: %d, want %d\n%s", tc.query, code, tc.code, body)
			}
			if code == http.StatusOK {
				// Held until that part existed: it is in the answer.
				if !strings.Contains(string(body), packager.PartName(v.Pending[len(v.Pending)-1].End())) {
					t.Errorf("?%s answered without the part it asked for:\n%s", tc.query, body)
				}
				if cc := h.Get("Cache-Control"); !strings.Contains(cc, "max-age=12") {
					t.Errorf("?%s: Cache-Control %q, want a CDN-cacheable answer", tc.query, cc)
				}
			}
		}
		// The hinted part is held until it exists, then served whole.
		media := string(mustGet(t, base+"v0.m3u8"))
		hint := rePreloadHint.FindStringSubmatch(media)[1]
		code, h, body := get(t, base+hint)
		if code != http.StatusOK || len(body) == 0 || h.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("preload-hinted part %s: %d, %d bytes, Content-Length %q", hint, code, len(body), h.Get("Content-Length"))
		}
	})

	t.Run("growing segment", func(t *testing.T) {
		// The segment being produced is sent as it grows (chunked), and the
		// body is then exactly the complete segment.
		tl := waitFor(t, a, name, 10*time.Second, "a new segment with one part", func(tl *packager.Timeline) bool {
			return twoSegments(tl) && len(tl.Tracks[0].Pending) == 1
		})
		v := tl.Tracks[0]
		url := fmt.Sprintf("%sv0/%d.m4s", base, v.PendingStart)
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		grown, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s while it grows: %d, %v", url, resp.StatusCode, err)
		}
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("growing segment sent with Transfer-Encoding %v, want chunked", resp.TransferEncoding)
		}
		whole := mustGet(t, url)
		if string(grown) != string(whole) {
			t.Errorf("the segment sent while it grew (%d bytes) differs from the complete segment (%d bytes)", len(grown), len(whole))
		}
		initURI := reMap.FindStringSubmatch(string(mustGet(t, base+"v0.m3u8")))[1]
		if st := probe(t, mustGet(t, base+initURI), grown); st["nb_read_frames"] != "60" {
			t.Errorf("ffprobe of the segment sent while it grew: %v, want 60 frames", st)
		}
	})

	t.Run("ffmpeg DASH", func(t *testing.T) {
		mpd := string(mustGet(t, base+"manifest.mpd"))
		for _, want := range []string{`availabilityTimeComplete="false"`, "<ServiceDescription", "<ProducerReferenceTime", "<UTCTiming"} {
			if !strings.Contains(mpd, want) {
				t.Errorf("MPD lacks %s:\n%s", want, mpd)
			}
		}
		if frames := play(t, base+"manifest.mpd", 6); frames < 150 {
			t.Errorf("ffmpeg decoded %d video frames of 6 s of DASH", frames)
		}
	})
}

// A blocking request for a segment that never comes (the publisher stalls
// without disconnecting) gets 503 after three target durations
// (rfc8216bis 6.2.5.2). (A request waiting when the stream ends is
// answered at once: origin's TestBlockingReloadEnds.)
func TestBlockingReloadTimeout(t *testing.T) {
	requireTools(t, "ffmpeg")
	a := startApp(t, func(c *Config) { c.ReconnectGrace = 30 * time.Second })
	const name = "stall"
	pub := publishLive(t, a.rtmpURL+name, 60)
	tl := waitFor(t, a, name, 20*time.Second, "two segments and a part", twoSegments)
	if err := pub.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pub.Process.Signal(syscall.SIGCONT) }()
	v := tl.Tracks[0]
	msn := v.Segments[len(v.Segments)-1].Seq + 2
	start := time.Now()
	code, h, body := get(t, fmt.Sprintf("%s/live/%s/v0.m3u8?_HLS_msn=%d", a.base, name, msn))
	waited := time.Since(start)
	td := tl.TargetDuration
	if code != http.StatusServiceUnavailable || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("blocking request for MSN %d with the publisher stalled: %d (Cache-Control %q) after %v\n%s",
			msn, code, h.Get("Cache-Control"), waited, body)
	}
	// The segment being produced may complete (it had frames in flight);
	// the one after it cannot. The answer comes 3 target durations after
	// the request, give or take the scheduler.
	if waited < 3*td-100*time.Millisecond || waited > 3*td+2*time.Second {
		t.Errorf("503 after %v, want 3 × %v", waited, td)
	}
	t.Logf("503 after %v (target duration %v)", waited.Round(time.Millisecond), td)
}

// hls.js and dash.js in headless Chromium with their low-latency settings
// as shipped (hls.js: lowLatencyMode, on by default; dash.js: low latency
// from the MPD's ServiceDescription): both play without a stall and stay
// well under the 3+ s a player of whole segments keeps.
func TestLowLatencyInBrowser(t *testing.T) {
	requireTools(t, "ffmpeg", "node", "chromium")
	if _, err := os.Stat("../../test/players/node_modules/playwright-core"); err != nil {
		t.Fatal("player libraries missing: run `make deps` (npm ci in test/players)")
	}
	a := startApp(t, nil)
	const name = "llbrowser"
	publishLive(t, a.rtmpURL+name, 60)
	waitFor(t, a, name, 20*time.Second, "two segments and a part", twoSegments)
	for _, tc := range []struct {
		kind, path string
		max        float64
	}{{"hls", "index.m3u8", 2.5}, {"dash", "manifest.mpd", 2.0}} {
		const segments = `liveorigin_http_requests_total{code="200",kind="segment"}`
		before := metricValue(t, a, segments)
		r, err := playInBrowser(tc.kind, a.base+"/live/"+name+"/"+tc.path, 16)
		if err != nil {
			t.Fatal(err)
		}
		if tc.kind == "dash" {
			// dash.js fetches each segment once, while it grows: two tracks,
			// 2 s segments, and the ones it starts with. When the MPD listed
			// the growing segment with its duration so far, it fetched each
			// three times.
			got, most := metricValue(t, a, segments)-before, 2*(math.Ceil(r.Played/2)+3)
			if got > most {
				t.Errorf("dash.js fetched %.0f segments to play %.1f s, want at most %.0f", got, r.Played, most)
			}
		}
		t.Logf("%s: latency median %.3f s, max %.3f s (target %.3f s), %d waiting events, played %.1f s in %v s",
			tc.kind, r.LatencyMedian, r.LatencyMax, r.TargetLatency, r.Waiting, r.Played, r.Wall)
		if len(r.Errors) > 0 {
			t.Errorf("%s reported errors: %v", tc.kind, r.Errors)
		}
		if r.Played < 14 {
			t.Errorf("%s played %.1f s of media in %v s", tc.kind, r.Played, r.Wall)
		}
		if r.LatencyMedian <= 0 || r.LatencyMedian > tc.max {
			t.Errorf("%s held %.3f s behind live, want under %.1f s", tc.kind, r.LatencyMedian, tc.max)
		}
	}
}
