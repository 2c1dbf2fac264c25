package rtmp

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

const ffmpegPath = "/usr/bin/ffmpeg"

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(ffmpegPath); err != nil {
		t.Skipf("%s not installed (the Makefile installs it): %v", ffmpegPath, err)
	}
}

// runFFmpeg publishes a test pattern and a sine tone to url.
func runFFmpeg(t *testing.T, url string, seconds string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpegPath, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-f", "flv", url)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestFFmpegPublish: a real ffmpeg publishes H.264 + AAC with metadata.
func TestFFmpegPublish(t *testing.T) {
	needFFmpeg(t)
	ts := startServer(t, Options{})
	out, err := runFFmpeg(t, "rtmp://"+ts.addr+"/live/demo", "2")
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	s := ts.pub.nextSession(t)
	if cause := s.waitClosed(t); cause != nil {
		t.Errorf("session closed with %v, want a clean unpublish", cause)
	}
	if s.info.Name != "demo" || s.info.Protocol != "rtmp" {
		t.Errorf("publish info %+v", s.info)
	}
	starts, aus := s.snapshot()
	if len(starts) != 1 || len(starts[0]) != 2 {
		t.Fatalf("Start calls %+v, want one with 2 tracks", starts)
	}
	v, a := starts[0][0], starts[0][1]
	if v.Codec != ingest.H264 || v.Width != 320 || v.Height != 240 || v.ClockRate != 1000 {
		t.Errorf("video track %+v", v)
	}
	if a.Codec != ingest.AAC || a.SampleRate != 44100 || a.Channels != 1 {
		t.Errorf("audio track %+v", a)
	}
	var video, audio, keys int
	for _, au := range aus {
		if au.Track == 0 {
			video++
			if au.Key {
				keys++
			}
		} else {
			audio++
		}
	}
	// 2 s at 30 fps with a keyframe every 30 frames; 44.1 kHz AAC frames of 1024 samples.
	if video != 60 || keys != 2 || audio < 80 {
		t.Errorf("%d video AUs (%d key), %d audio AUs; want 60 (2 key) and about 86", video, keys, audio)
	}
	if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
		t.Errorf("connection end %+v, want clean", e)
	}
}

// TestFFmpegRefused: ffmpeg shows our reason for a refusal.
func TestFFmpegRefused(t *testing.T) {
	needFFmpeg(t)
	ts := startServer(t, Options{})
	for _, tc := range []struct{ url, want string }{
		{"/live/bad%20name", "invalid stream name"},
		{"/other/demo", `unknown application "other"`},
	} {
		out, err := runFFmpeg(t, "rtmp://"+ts.addr+tc.url, "1")
		if err == nil {
			t.Errorf("%s: ffmpeg succeeded", tc.url)
		}
		if !strings.Contains(out, "Server error: ") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: ffmpeg output does not show the reason %q:\n%s", tc.url, tc.want, out)
		}
		ts.nextEnd(t)
	}
}
