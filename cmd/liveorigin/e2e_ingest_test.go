package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// SRT (H.265 + AAC, with a stream passphrase) and RTSP (H.264 + Opus over
// TCP) publishers, read back as HLS and DASH with ffmpeg and checked with
// ffprobe.
func TestSRTAndRTSPEndToEnd(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	const secret = "liveorigin-e2e-secret"
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.SRTStreamPassphrases = map[string]string{"hevc": secret}
		// ffmpeg's DASH reader and LL-DASH's growing segments do not mix
		// (docs/low-latency.md): regular HLS and DASH, as in
		// TestEndToEndRTMPToHLSAndDASH.
		c.LowLatency = false
	})
	srtURL := "srt://" + a.srt.Addr().String() + "?streamid=publish:live/hevc&pkt_size=1316&passphrase=" + secret + "&pbkeylen=16"
	publishArgsTo(t, []string{"-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "20",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=30:min-keyint=30:open-gop=0:log-level=error",
		"-c:a", "aac", "-f", "mpegts", srtURL})
	publishArgsTo(t, []string{"-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "20",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2", "-c:a", "libopus", "-b:a", "64k",
		"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://" + a.rtsp.Addr().String() + "/live/cam"})

	for _, tc := range []struct {
		name, vcodec, acodec, vprobe, aprobe string
	}{
		{"hevc", "hvc1.", "mp4a.40.2", "hevc", "aac"},
		{"cam", "avc1.", "opus", "h264", "opus"},
	} {
		waitFor(t, a, tc.name, 30*time.Second, tc.name+": three segments of each track", func(tl *packager.Timeline) bool {
			return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 3 && len(tl.Tracks[1].Segments) >= 3
		})
		base := a.base + "/live/" + tc.name + "/"
		mv := string(mustGet(t, base+"index.m3u8"))
		if !strings.Contains(mv, `CODECS="`+tc.vcodec) || !strings.Contains(mv, ","+tc.acodec+`"`) {
			t.Errorf("%s multivariant playlist:\n%s", tc.name, mv)
		}
		mpd := string(mustGet(t, base+"manifest.mpd"))
		if !strings.Contains(mpd, `codecs="`+tc.vcodec) || !strings.Contains(mpd, `codecs="`+tc.acodec+`"`) {
			t.Errorf("%s MPD:\n%s", tc.name, mpd)
		}
		for rendition, want := range map[string]string{"v0": tc.vprobe, "a0": tc.aprobe} {
			media := string(mustGet(t, base+rendition+".m3u8"))
			segs := reSeg.FindAllString(media, -1)
			init := mustGet(t, base+reMap.FindStringSubmatch(media)[1])
			st := probe(t, init, mustGet(t, base+segs[len(segs)-1]))
			if st["codec_name"] != want {
				t.Errorf("%s %s: ffprobe says %v, want %s", tc.name, rendition, st, want)
			}
			if rendition == "v0" && (st["width"] != float64(320) || st["height"] != float64(240)) {
				t.Errorf("%s video: ffprobe says %v", tc.name, st)
			}
		}
	}

	// Both streams play as HLS and DASH.
	var wg sync.WaitGroup
	for _, name := range []string{"hevc", "cam"} {
		for _, doc := range []string{"index.m3u8", "manifest.mpd"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n := play(t, a.base+"/live/"+name+"/"+doc, 4); n < 4*30*8/10 {
					t.Errorf("%s %s: %d frames decoded in 4 s", name, doc, n)
				}
			}()
		}
	}
	wg.Wait()

	// A caller with the wrong passphrase is refused; the stream goes on.
	bad := "srt://" + a.srt.Addr().String() + "?streamid=publish:live/hevc2&passphrase=wrong-passphrase-1&pbkeylen=16"
	cmd := ffmpegCommand("-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "2",
		"-c:v", "libx264", "-f", "mpegts", bad)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("a wrong passphrase was accepted: %s", out)
	}
	if _, err := a.registry.Timeline("hevc2"); err == nil {
		t.Error("a stream exists for the refused caller")
	}
	var api struct {
		Streams []packager.StreamInfo `json:"streams"`
	}
	if err := json.Unmarshal(mustGet(t, a.admin+"/api/v1/streams"), &api); err != nil {
		t.Fatal(err)
	}
	protocols := map[string]string{}
	for _, st := range api.Streams {
		protocols[st.Name] = st.Protocol
		// The SRT link statistics, while the SRT publisher is connected.
		if (st.Link != nil) != (st.Protocol == "srt" && st.Live) {
			t.Errorf("%s (%s, live %v): link statistics %+v", st.Name, st.Protocol, st.Live, st.Link)
		}
	}
	if protocols["hevc"] != "srt" || protocols["cam"] != "rtsp" {
		t.Errorf("/api/v1/streams protocols: %v", protocols)
	}
}
