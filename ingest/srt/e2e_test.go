package srt

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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

// This file checks SRT end to end through the real components: ffmpeg
// publishes H.265 + AAC over SRT to the Server, the packager's Registry
// makes CMAF of it and the origin serves it; ffprobe then reads the stream
// back over HLS and over DASH, as a player would.

const ffprobePath = "/usr/bin/ffprobe"

func TestEndToEnd(t *testing.T) {
	needTool(t, ffmpegPath)
	needTool(t, ffprobePath)
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// A short grace ends the stream (EXT-X-ENDLIST, a static MPD) soon
	// after ffmpeg hangs up, so that ffprobe reads all of it and stops.
	reg, err := packager.NewRegistry(packager.Options{SegmentTarget: time.Second, ReconnectGrace: 200 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	ts := startServer(t, Options{Publisher: reg})
	o, err := origin.New(origin.Options{Streams: reg, SegmentTarget: time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(o.Handler())
	t.Cleanup(web.Close)

	// 3 s with a keyframe a second: three 1 s segments.
	src := ffmpegSource(3, "libx265", "aac")
	if out, err := runFFmpeg(t, append(src, srtURL(ts.addr, "#!::r=live/e2e,m=publish"))...); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
		t.Fatalf("connection end %+v, want clean", e)
	}
	waitEnded(t, reg, "e2e")

	// HLS: ffprobe decodes every segment of both renditions.
	for _, url := range []string{web.URL + "/live/e2e/index.m3u8"} {
		streams := probe(t, url)
		var video, audio *probedStream
		for i := range streams {
			switch streams[i].CodecType {
			case "video":
				video = &streams[i]
			case "audio":
				audio = &streams[i]
			}
		}
		if video == nil || audio == nil {
			t.Fatalf("%s: streams %+v, want video and audio", url, streams)
		}
		if video.CodecName != "hevc" || video.Width != 320 || video.Height != 240 {
			t.Errorf("%s: video %+v, want hevc 320x240", url, *video)
		}
		if n, _ := strconv.Atoi(video.Frames); n < 88 || n > 90 {
			t.Errorf("%s: %s video frames, want the 90 sent", url, video.Frames)
		}
		if audio.CodecName != "aac" || audio.SampleRate != "48000" {
			t.Errorf("%s: audio %+v, want aac at 48000 Hz", url, *audio)
		}
		if n, _ := strconv.Atoi(audio.Frames); n < 130 {
			t.Errorf("%s: %s audio frames, want about 140", url, audio.Frames)
		}
	}
	// DASH serves the same CMAF segments. ffmpeg 5.1 treats the ended
	// stream's MPD (still type="dynamic", as DASH-IF IOP wants) as live and
	// waits for more, so the MPD itself is checked.
	resp, err := web.Client().Get(web.URL + "/live/e2e/manifest.mpd")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mpd, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`codecs="hvc1.`, `codecs="mp4a.40.2"`, `width="320"`, `height="240"`, `mediaPresentationDuration="`} {
		if !strings.Contains(string(mpd), want) {
			t.Errorf("MPD lacks %s:\n%s", want, mpd)
		}
	}
}

// waitEnded waits until the stream exists (polled: the Registry has no
// event for a new name) and then, on its snapshots, until it has ended.
func waitEnded(t *testing.T, reg *packager.Registry, name string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		tl, err := reg.Timeline(name)
		switch {
		case errors.Is(err, packager.ErrNotFound):
			select {
			case <-tick.C:
				continue
			case <-deadline.C:
				t.Fatalf("stream %s never appeared", name)
			}
		case err != nil:
			t.Fatal(err)
		case tl.Ended:
			return
		}
		select {
		case <-tl.Changed():
		case <-deadline.C:
			t.Fatalf("stream %s did not end", name)
		}
	}
}

type probedStream struct {
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	SampleRate string `json:"sample_rate"`
	Frames     string `json:"nb_read_frames"`
}

// probe decodes every frame of url with ffprobe.
func probe(t *testing.T, url string) []probedStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobePath, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,width,height,sample_rate,nb_read_frames", "-of", "json", url).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %s: %v\n%s", url, err, ee.Stderr)
		}
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	var res struct{ Streams []probedStream }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	return res.Streams
}
