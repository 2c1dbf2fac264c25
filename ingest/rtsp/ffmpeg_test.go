package rtsp

import (
	"strings"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestFFmpegPush: a real ffmpeg publishes over TCP and UDP, with H.264
// (B-frames), H.265 and AAC or Opus; the session gets the tracks, every
// frame, keyframes where the encoder put them, and sane timestamps.
func TestFFmpegPush(t *testing.T) {
	needFFmpeg(t)
	for _, tc := range []struct {
		name      string
		transport string
		video     []string // encoder arguments
		audio     []string
		codecs    []ingest.Codec
		bframes   bool
		rate      int // audio sample rate
	}{
		{"h264_aac_tcp", "tcp", []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "2"}, []string{"-c:a", "aac"},
			[]ingest.Codec{ingest.H264, ingest.AAC}, true, 44100},
		{"h264_aac_udp", "udp", []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "2"}, []string{"-c:a", "aac"},
			[]ingest.Codec{ingest.H264, ingest.AAC}, true, 44100},
		{"h265_aac_tcp", "tcp", []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=30:bframes=2"}, []string{"-c:a", "aac"},
			[]ingest.Codec{ingest.H265, ingest.AAC}, true, 44100},
		{"h264_opus_udp", "udp", []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "0"}, []string{"-c:a", "libopus"},
			[]ingest.Codec{ingest.H264, ingest.Opus}, false, 48000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := Options{}
			if tc.transport == "udp" {
				o.UDPRTPAddr, o.UDPRTCPAddr = freeUDPPair(t)
			}
			ts := startServer(t, o)
			args := append([]string{"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine", "-t", "2"}, tc.video...)
			args = append(append(args, tc.audio...), "-f", "rtsp", "-rtsp_transport", tc.transport, "rtsp://"+ts.addr+"/live/"+tc.name)
			if out, err := runFFmpeg(t, args...); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			s := ts.pub.nextSession(t)
			if cause := s.waitClosed(t); cause != nil {
				t.Errorf("session closed with %v, want a clean TEARDOWN", cause)
			}
			if e := ts.nextEnd(t); e.reason != "" {
				t.Errorf("session ended with reason %q: %v", e.reason, e.cause)
			}
			if s.info.Name != tc.name || s.info.Protocol != "rtsp" || !strings.HasPrefix(s.info.RemoteAddr, "127.0.0.1:") {
				t.Errorf("publish info %+v", s.info)
			}
			starts, aus, errs := s.snapshot()
			for _, e := range errs {
				t.Error(e)
			}
			if len(starts) != 1 || len(starts[0]) != 2 {
				t.Fatalf("Start calls %+v, want one with 2 tracks", starts)
			}
			v, a := starts[0][0], starts[0][1]
			if v.Codec != tc.codecs[0] || v.Width != 320 || v.Height != 240 || v.ClockRate != 90000 {
				t.Errorf("video track %+v", v)
			}
			if a.Codec != tc.codecs[1] || a.SampleRate != tc.rate || a.Channels != 1 {
				t.Errorf("audio track %+v", a)
			}
			vs, as := statsOf(aus, 0), statsOf(aus, 1)
			// 2 s at 30 fps, a keyframe every 30 frames (x265: an IDR
			// every keyint, its open-GOP CRAs count too); AAC frames of
			// 1024 samples at 44.1 kHz (86), Opus packets of 20 ms (100),
			// less the audio before the first keyframe, which the
			// encoder's latency delays on a loaded machine. Over UDP the
			// packets still in flight when the TEARDOWN arrives are lost.
			minVideo, minAudio := 60, 60
			if tc.transport == "udp" {
				minVideo = 45
			}
			lost := metricValue(t, ts.metrics.packetsLost)
			if vs.count < minVideo || vs.count > 60 || vs.keys < 2 || !vs.firstKey {
				t.Errorf("video: %d AUs, %d keys, first key %v; want %d to 60, at least 2 keys, key first (%v RTP packets lost)", vs.count, vs.keys, vs.firstKey, minVideo, lost)
			}
			if tc.bframes != (vs.reordered > 0) {
				t.Errorf("video: %d AUs with PTS > DTS; B-frames: %v", vs.reordered, tc.bframes)
			}
			if as.count < minAudio {
				t.Errorf("audio: %d AUs, want at least %d (%v RTP packets lost)", as.count, minAudio, lost)
			}
		})
	}
}
