package rtsp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/origin"
	"github.com/liveorigin/liveorigin/packager"
)

const ffprobePath = "/usr/bin/ffprobe"

// TestEndToEnd pushes with ffmpeg over RTSP into the real packager and
// origin, and reads the result back over HLS with ffprobe: the codecs, the
// picture size and every frame that was sent, for H.265 with Opus over UDP
// and H.264 with B-frames and AAC over TCP. The MPD names the same codecs.
func TestEndToEnd(t *testing.T) {
	needFFmpeg(t)
	if _, err := exec.LookPath(ffprobePath); err != nil {
		t.Skipf("%s not installed: %v", ffprobePath, err)
	}
	for _, tc := range []struct {
		name, transport string
		args            []string
		video, audio    string // ffprobe codec names
		codecs          []string
	}{
		{"hevc_opus", "udp", []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=30:bframes=2", "-c:a", "libopus"},
			"hevc", "opus", []string{`codecs="hvc1.1.6.L`, `codecs="opus"`}},
		{"h264_aac", "tcp", []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "2", "-c:a", "aac"},
			"h264", "aac", []string{`codecs="avc1.`, `codecs="mp4a.40.2"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := slog.New(slog.DiscardHandler)
			if testing.Verbose() {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			reg, err := packager.NewRegistry(packager.Options{SegmentTarget: time.Second, ReconnectGrace: 200 * time.Millisecond, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(reg.Close)
			o := Options{Publisher: reg}
			if tc.transport == "udp" {
				o.UDPRTPAddr, o.UDPRTCPAddr = freeUDPPair(t)
			}
			ts := startServer(t, o)
			org, err := origin.New(origin.Options{Streams: reg, SegmentTarget: time.Second, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			web := httptest.NewServer(org.Handler())
			t.Cleanup(web.Close)

			args := append([]string{"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine", "-t", "3"}, tc.args...)
			args = append(args, "-f", "rtsp", "-rtsp_transport", tc.transport, "rtsp://"+ts.addr+"/live/"+tc.name)
			if out, err := runFFmpeg(t, args...); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
				t.Errorf("session ended with %q: %v", e.reason, e.cause)
			}
			waitEnded(t, reg, tc.name)

			base := web.URL + "/live/" + tc.name + "/"
			v := probe(t, base+"v0.m3u8")
			if v.CodecName != tc.video || v.Width != 320 || v.Height != 240 || v.frames() < 88 || v.frames() > 90 { // over UDP the last packets can trail the TEARDOWN
				t.Errorf("video %+v, want %s 320x240 with the 90 frames sent", v, tc.video)
			}
			a := probe(t, base+"a0.m3u8")
			if a.CodecName != tc.audio || a.frames() < 100 {
				t.Errorf("audio %+v, want %s with 3 s of frames", a, tc.audio)
			}
			mpd := httpGet(t, base+"manifest.mpd")
			for _, c := range tc.codecs {
				if !strings.Contains(mpd, c) {
					t.Errorf("MPD lacks %s:\n%s", c, mpd)
				}
			}
		})
	}
}

// waitEnded waits for the stream to end (its publisher gone for the grace).
func waitEnded(t *testing.T, reg *packager.Registry, name string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		tl, err := reg.Timeline(name)
		switch {
		case errors.Is(err, packager.ErrNotFound):
			// Polled: the Registry has no event for a new name.
			select {
			case <-time.After(10 * time.Millisecond):
				continue
			case <-deadline:
				t.Fatalf("stream %s never appeared", name)
			}
		case err != nil:
			t.Fatal(err)
		case tl.Ended:
			return
		}
		select {
		case <-tl.Changed():
		case <-deadline:
			t.Fatalf("stream %s did not end", name)
		}
	}
}

type probedStream struct {
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	NbReadFrames string `json:"nb_read_frames"`
}

func (p probedStream) frames() int {
	n, _ := strconv.Atoi(p.NbReadFrames)
	return n
}

// probe decodes a media playlist with ffprobe and counts its frames.
func probe(t *testing.T, url string) probedStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobePath, "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,width,height,nb_read_frames", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	var doc struct{ Streams []probedStream }
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	return doc.Streams[0]
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(b)
}
