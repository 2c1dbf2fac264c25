package srt

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

const (
	ffmpegPath = "/usr/bin/ffmpeg"
	sltPath    = "/usr/bin/srt-live-transmit"
)

func needTool(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath(path); err != nil {
		t.Skipf("%s not installed (the Makefile installs it): %v", path, err)
	}
}

// srtURL is an ffmpeg SRT URL for a stream id and extra options. ffmpeg
// 5.1 passes the stream id on as it is written, '#' and all.
func srtURL(addr, streamID string, opts ...string) string {
	q := append([]string{"streamid=" + streamID, "pkt_size=1316", "linger=1"}, opts...)
	return "srt://" + addr + "?" + strings.Join(q, "&")
}

// ffmpegSource is ffmpeg's input and encoder arguments for a test pattern
// and a tone: seconds of 30 fps video with a keyframe every 30 frames.
func ffmpegSource(seconds int, videoCodec, audioCodec string) []string {
	args := []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p", "-c:v", videoCodec, "-g", "30"}
	switch videoCodec {
	case "libx264":
		args = append(args, "-preset", "veryfast", "-bf", "2")
	case "libx265":
		args = append(args, "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=30")
	}
	// No mux delay: ffmpeg would otherwise send its last 0.7 s in a burst
	// when the input ends and close the socket before it is delivered.
	return append(args, "-c:a", audioCodec, "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts")
}

// runFFmpeg runs ffmpeg with the source and output arguments.
func runFFmpeg(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpegPath, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkPublished checks the tracks and access units of 2 s of 30 fps video
// with a keyframe a second and 48 kHz audio.
func checkPublished(t *testing.T, s *fakeSession, video, audio ingest.Codec) {
	t.Helper()
	starts, aus, violated := s.snapshot()
	if violated != nil {
		t.Fatalf("session contract: %v", violated)
	}
	if len(starts) != 1 || len(starts[0]) != 2 {
		t.Fatalf("Start calls %+v, want one with 2 tracks", starts)
	}
	v, a := starts[0][0], starts[0][1]
	if v.Codec != video || v.Width != 320 || v.Height != 240 || v.ClockRate != tsClockRate {
		t.Errorf("video track %+v", v)
	}
	if a.Codec != audio || a.SampleRate != 48000 || a.ClockRate != tsClockRate {
		t.Errorf("audio track %+v", a)
	}
	vs, as := statsOf(aus, 0), statsOf(aus, 1)
	// ffmpeg closes the connection right after its last packet, so the
	// last frames may not be delivered.
	if vs.count < 55 || vs.count > 60 || vs.keys != 2 || !vs.firstKey {
		t.Errorf("video: %d access units (%d key, first key %v), want about 60 (2 key, first key)", vs.count, vs.keys, vs.firstKey)
	}
	// AAC frames last 1024 samples, Opus packets 20 ms: about 94 or 100.
	if as.count < 85 {
		t.Errorf("audio: %d access units, want about 94 to 100", as.count)
	}
	// 2 s of media: the timestamps span about that.
	if span := time.Duration(vs.maxDTS-vs.minDTS) * time.Second / tsClockRate; span < 1700*time.Millisecond || span > 2100*time.Millisecond {
		t.Errorf("video DTS span %s, want about 2s", span)
	}
}

// TestFFmpegPublish: ffmpeg (libsrt) as an SRT caller, in the codec
// combinations, stream id forms and key lengths encoders use.
func TestFFmpegPublish(t *testing.T) {
	needTool(t, ffmpegPath)
	const passphrase = "ffmpeg-passphrase"
	for _, tc := range []struct {
		name         string
		streamID     string
		opts         []string
		video, audio string
		want         [2]ingest.Codec
	}{
		{"h264 aac", "publish:live/h264", nil, "libx264", "aac", [2]ingest.Codec{ingest.H264, ingest.AAC}},
		{"h265 aac access control", "#!::r=live/hevc,m=publish", nil, "libx265", "aac", [2]ingest.Codec{ingest.H265, ingest.AAC}},
		{"h264 opus", "live/opus", nil, "libx264", "libopus", [2]ingest.Codec{ingest.H264, ingest.Opus}},
		{"AES-128", "publish:live/secret", []string{"passphrase=" + passphrase, "pbkeylen=16"}, "libx264", "aac", [2]ingest.Codec{ingest.H264, ingest.AAC}},
		{"AES-192", "publish:live/secret", []string{"passphrase=" + passphrase, "pbkeylen=24"}, "libx264", "aac", [2]ingest.Codec{ingest.H264, ingest.AAC}},
		{"AES-256", "publish:live/secret", []string{"passphrase=" + passphrase, "pbkeylen=32"}, "libx264", "aac", [2]ingest.Codec{ingest.H264, ingest.AAC}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // ffmpeg runs in real time; a server each keeps the events apart
			ts := startServer(t, Options{StreamPassphrases: map[string]string{"secret": passphrase}})
			args := append(ffmpegSource(2, tc.video, tc.audio), srtURL(ts.addr, tc.streamID, tc.opts...))
			if out, err := runFFmpeg(t, args...); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			s := ts.pub.nextSession(t)
			if cause := s.waitClosed(t); cause != nil {
				t.Errorf("session closed with %v, want a clean end", cause)
			}
			if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
				t.Errorf("connection end %+v, want clean", e)
			}
			checkPublished(t, s, tc.want[0], tc.want[1])
		})
	}
}

// TestFFmpegRefused: ffmpeg is refused in the handshake, and no session
// starts.
func TestFFmpegRefused(t *testing.T) {
	needTool(t, ffmpegPath)
	ts := startServer(t, Options{Passphrase: "the-right-passphrase"})
	for _, tc := range []struct {
		name   string
		url    string
		reason string // the refusal we count; "" when libsrt refuses on its own
	}{
		{"wrong passphrase", srtURL(ts.addr, "publish:live/x", "passphrase=the-wrong-passphrase", "pbkeylen=16"), refuseBadPassphrase},
		{"missing passphrase", srtURL(ts.addr, "publish:live/x"), refuseBadPassphrase},
		{"read mode", srtURL(ts.addr, "#!::r=live/x,m=request", "passphrase=the-right-passphrase"), refuseReadMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runFFmpeg(t, append(ffmpegSource(2, "libx264", "aac"), tc.url)...)
			if err == nil {
				t.Fatalf("ffmpeg succeeded:\n%s", out)
			}
			// ffmpeg 5.1 does not print the rejection reason.
			if !strings.Contains(out, "Connection to srt://") || !strings.Contains(out, "failed") {
				t.Errorf("ffmpeg does not say it was refused:\n%s", out)
			}
			if tc.reason == refuseBadPassphrase && transportName == "libsrt" {
				return // libsrt refuses it without asking us
			}
			if r := ts.nextRefusal(t); r != tc.reason {
				t.Errorf("refusal %q, want %q", r, tc.reason)
			}
		})
	}
	select {
	case s := <-ts.pub.sessions:
		t.Errorf("a session started: %+v", s.info)
	default:
	}
}

// TestSRTLiveTransmit: srt-live-transmit as a second caller implementation,
// relaying ffmpeg's TS from stdin in 1456-byte messages, which split TS
// packets.
func TestSRTLiveTransmit(t *testing.T) {
	needTool(t, ffmpegPath)
	needTool(t, sltPath)
	ts := startServer(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	enc := exec.CommandContext(ctx, ffmpegPath, append(append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"},
		ffmpegSource(2, "libx264", "aac")...), "-")...)
	slt := exec.CommandContext(ctx, sltPath, "-q", "-a:no", "-chunk:1456", "file://con",
		"srt://"+ts.addr+"?streamid=live/relay")
	pipe, err := enc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	slt.Stdin = pipe
	var encErr, sltOut strings.Builder
	enc.Stderr = &encErr
	slt.Stdout, slt.Stderr = &sltOut, &sltOut
	if err := slt.Start(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Start(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Wait(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, encErr.String())
	}
	s := ts.pub.nextSession(t)
	// srt-live-transmit does not hang up at the end of its input: stop it
	// (it closes the connection on SIGINT) once the media has arrived.
	s.waitFor(t, "the relayed video", func(s *fakeSession) bool { return statsOf(s.aus, 0).count >= 59 })
	if err := slt.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = slt.Wait()
	if cause := s.waitClosed(t); cause != nil {
		t.Errorf("session closed with %v, want a clean end\nsrt-live-transmit: %s", cause, sltOut.String())
	}
	ts.nextEnd(t)
	checkPublished(t, s, ingest.H264, ingest.AAC)
}
