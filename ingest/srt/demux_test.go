package srt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// fakeConn delivers data as SRT messages of chunk bytes, then io.EOF, as a
// caller that sends a capture and disconnects.
type fakeConn struct {
	data  []byte
	chunk int
}

func (c *fakeConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *fakeConn) interrupt()                { c.data = nil }
func (c *fakeConn) close()                    {}
func (c *fakeConn) stats() (linkStats, error) { return linkStats{}, nil }

// connResult is what a connection did with its input.
type connResult struct {
	sess   *fakeSession
	reason string // errors_total label; "" for a clean end
	cause  error
}

// runConnection runs data through the connection code (message reads, the
// TS check, the demuxer) into a fake session, as if an SRT caller had sent
// it in messages of chunk bytes.
func runConnection(t testing.TB, data []byte, chunk int) connResult {
	t.Helper()
	srv, err := New(Options{Publisher: newFakePublisher()})
	if err != nil {
		t.Fatal(err)
	}
	return runConnectionOn(srv, data, chunk)
}

// runConnectionOn is runConnection on a given server (which it uses, one
// connection at a time).
func runConnectionOn(srv *Server, data []byte, chunk int) connResult {
	var res connResult
	srv.onConnEnd = func(_, reason string, cause error, _ int64) { res.reason, res.cause = reason, cause }
	res.sess = newFakeSession(ingest.PublishInfo{Name: "test", Protocol: "srt"})
	c := newConnection(srv, &caller{
		conn:   &fakeConn{data: data, chunk: chunk},
		remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234},
		adm:    admission{id: streamID{mode: modePublish, app: "live", name: "test"}},
		pub:    publication{sess: res.sess, cancel: func() {}, release: func() {}},
	})
	c.run()
	return res
}

func TestDemuxCaptures(t *testing.T) {
	type want struct {
		codecs      []ingest.Codec
		width       int
		channels    int
		video       int // video access units
		keys        int
		audioMin    int // audio access units, at least
		bFrames     bool
		wrapped     bool // DTS extends past 2^33
		starts      int
		firstKeyGOP bool
	}
	for _, tc := range []struct {
		name   string
		file   string
		offset int // start of the data in the file (a caller joining late)
		chunk  int
		want   want
	}{
		{"h264 aac ffmpeg messages", "h264_aac.ts", 0, 1316,
			want{codecs: []ingest.Codec{ingest.H264, ingest.AAC}, width: 160, channels: 2, video: 60, keys: 2, audioMin: 93, bFrames: true, starts: 1}},
		{"h264 aac srt-live-transmit messages", "h264_aac.ts", 0, 1456,
			want{codecs: []ingest.Codec{ingest.H264, ingest.AAC}, width: 160, channels: 2, video: 60, keys: 2, audioMin: 93, bFrames: true, starts: 1}},
		{"h265 aac", "h265_aac.ts", 0, 1316,
			want{codecs: []ingest.Codec{ingest.H265, ingest.AAC}, width: 160, channels: 1, video: 60, keys: 2, audioMin: 93, bFrames: true, starts: 1}},
		{"h264 opus", "h264_opus.ts", 0, 1316,
			want{codecs: []ingest.Codec{ingest.H264, ingest.Opus}, width: 160, channels: 2, video: 60, keys: 2, audioMin: 100, starts: 1}},
		{"33-bit wrap", "h264_aac_wrap.ts", 0, 1316,
			want{codecs: []ingest.Codec{ingest.H264, ingest.AAC}, width: 160, channels: 1, video: 60, keys: 2, audioMin: 93, wrapped: true, starts: 1}},
		// Joining in the middle of the first GOP (and of a TS packet): the
		// video starts at the second keyframe.
		{"mid-GOP", "h264_aac.ts", 30001, 1316,
			want{codecs: []ingest.Codec{ingest.H264, ingest.AAC}, width: 160, channels: 2, video: 30, keys: 1, audioMin: 30, bFrames: true, starts: 1}},
		{"audio only", "aac_only.ts", 0, 1316,
			want{codecs: []ingest.Codec{ingest.AAC}, channels: 1, audioMin: 46, starts: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runConnection(t, readCapture(t, tc.file)[tc.offset:], tc.chunk)
			if res.reason != "" || res.cause != nil {
				t.Fatalf("connection ended with %q: %v", res.reason, res.cause)
			}
			starts, aus, violated := res.sess.snapshot()
			if violated != nil {
				t.Fatalf("session contract: %v", violated)
			}
			if len(starts) != tc.want.starts {
				t.Fatalf("%d Start calls, want %d", len(starts), tc.want.starts)
			}
			tracks := starts[0]
			if len(tracks) != len(tc.want.codecs) {
				t.Fatalf("tracks %+v, want codecs %v", tracks, tc.want.codecs)
			}
			audio := len(tracks) - 1
			for i, c := range tc.want.codecs {
				if tracks[i].Codec != c || tracks[i].ClockRate != tsClockRate {
					t.Errorf("track %d: %s at %d Hz, want %s at 90 kHz", i, tracks[i].Codec, tracks[i].ClockRate, c)
				}
			}
			if a := tracks[audio]; a.Channels != tc.want.channels || a.SampleRate != 48000 {
				t.Errorf("audio track: %d channels at %d Hz, want %d at 48000", a.Channels, a.SampleRate, tc.want.channels)
			}
			if tc.want.video > 0 {
				if v := tracks[0]; v.Width != tc.want.width || v.Height != tc.want.width*3/4 || len(v.SPS) == 0 || len(v.PPS) == 0 {
					t.Errorf("video track %dx%d with %d SPS, %d PPS", v.Width, v.Height, len(v.SPS), len(v.PPS))
				}
				v := statsOf(aus, 0)
				if v.count != tc.want.video || v.keys != tc.want.keys || !v.firstKey {
					t.Errorf("video: %d access units (%d key, first key %v), want %d (%d key, first key)",
						v.count, v.keys, v.firstKey, tc.want.video, tc.want.keys)
				}
				if (v.bFrames > 0) != tc.want.bFrames {
					t.Errorf("video: %d access units with PTS > DTS, want B-frames: %v", v.bFrames, tc.want.bFrames)
				}
				for _, au := range aus {
					if au.Track == 0 && !sampleFramingOK(tracks[0].Codec, au.Data) {
						t.Fatalf("video access unit at DTS %d is not length-prefixed NAL units without parameter sets: % x", au.DTS, au.Data[:min(16, len(au.Data))])
					}
				}
			}
			a := statsOf(aus, audio)
			if a.count < tc.want.audioMin {
				t.Errorf("audio: %d access units, want at least %d", a.count, tc.want.audioMin)
			}
			if wrapped := statsOf(aus, 0).maxDTS >= tsWrap; wrapped != tc.want.wrapped {
				t.Errorf("DTS past 2^33: %v, want %v", wrapped, tc.want.wrapped)
			}
		})
	}
}

// sampleFramingOK checks a CMAF video sample: 4-byte length-prefixed NAL
// units, none of them a parameter set (those are in the Track).
func sampleFramingOK(codec ingest.Codec, b []byte) bool {
	for len(b) > 0 {
		if len(b) < 5 {
			return false
		}
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n == 0 || n > len(b)-4 {
			return false
		}
		nalu := b[4 : 4+n]
		if vps, sps, pps, _ := ingest.SplitParameterSets(codec, [][]byte{nalu}); len(vps)+len(sps)+len(pps) > 0 {
			return false
		}
		b = b[4+n:]
	}
	return true
}

// TestDemuxNewParameterSets: an encoder that changes its resolution in the
// middle of the stream (here: a second capture appended, whose timestamps
// also jump back) starts a new period with the new track.
func TestDemuxNewParameterSets(t *testing.T) {
	data := append(readCapture(t, "h264_aac.ts"), readCapture(t, "h264_aac_320x240.ts")...)
	res := runConnection(t, data, 1316)
	if res.reason != "" {
		t.Fatalf("connection ended with %q: %v", res.reason, res.cause)
	}
	starts, aus, violated := res.sess.snapshot()
	if violated != nil {
		t.Fatal(violated)
	}
	if len(starts) != 2 {
		t.Fatalf("%d Start calls, want 2", len(starts))
	}
	if w0, w1 := starts[0][0].Width, starts[1][0].Width; w0 != 160 || w1 != 320 {
		t.Errorf("widths %d then %d, want 160 then 320", w0, w1)
	}
	if starts[1][1].Codec != ingest.AAC {
		t.Errorf("audio track after the change: %+v", starts[1][1])
	}
	// The continuity counters jump at the seam, so the TS reader may drop
	// the first capture's last frame, as with a real encoder restart.
	if v := statsOf(aus, 0); v.count < 89 || v.count > 90 || v.keys != 3 {
		t.Errorf("video: %d access units (%d key), want 90 (3 key)", v.count, v.keys)
	}
}

// TestDemuxBadInput: input that is not usable MPEG-TS ends the connection
// with a reason.
func TestDemuxBadInput(t *testing.T) {
	random := make([]byte, 256<<10)
	for i := range random {
		random[i] = byte(rand.Uint32()) //nolint:gosec // test data
	}
	nullPackets := bytes.Repeat(append([]byte{0x47, 0x1f, 0xff, 0x10}, make([]byte, 184)...), maxProbeBytes/188+16)
	for _, tc := range []struct {
		name   string
		data   []byte
		reason string
	}{
		{"random bytes", random, reasonNotTS},
		{"text", bytes.Repeat([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 8<<10), reasonNotTS},
		{"TS without a program", nullPackets, reasonNoProgram},
		{"MPEG-2 video and MP2 audio", readCapture(t, "mpeg2_mp2.ts"), reasonUnsupportedCodec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runConnection(t, tc.data, 1316)
			if res.reason != tc.reason {
				t.Fatalf("ended with %q (%v), want %q", res.reason, res.cause, tc.reason)
			}
			var de *demuxError
			if !errors.As(res.sess.closeErr, &de) || de.reason != tc.reason {
				t.Errorf("session closed with %v, want the %s failure", res.sess.closeErr, tc.reason)
			}
			if starts, _, _ := res.sess.snapshot(); len(starts) != 0 {
				t.Errorf("Start called: %+v", starts)
			}
		})
	}
}

// TestDemuxTruncated: a caller that goes away in the middle of the program
// search ends cleanly.
func TestDemuxTruncated(t *testing.T) {
	res := runConnection(t, readCapture(t, "h264_aac.ts")[:100], 1316)
	if res.reason != "" || res.cause != nil {
		t.Errorf("ended with %q (%v), want a clean end", res.reason, res.cause)
	}
}

func FuzzTSDemux(f *testing.F) {
	for _, name := range []string{"h264_aac.ts", "h265_aac.ts", "h264_opus.ts", "h264_aac_wrap.ts", "aac_only.ts", "mpeg2_mp2.ts"} {
		b := readCapture(f, name)
		// Small seeds keep the fuzzer fast (it minimises every new input
		// byte by byte): the program and the start of the first keyframe,
		// and a piece from the middle.
		f.Add(b[:min(len(b), 6<<10)], uint16(1316))
		f.Add(b[len(b)/2:min(len(b), len(b)/2+3<<10)], uint16(1456))
	}
	srv, err := New(Options{Publisher: newFakePublisher()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		res := runConnectionOn(srv, data, int(chunk%messageBufferSize)+1)
		if res.reason == reasonPanic {
			t.Fatalf("panic: %v", res.cause)
		}
		starts, aus, violated := res.sess.snapshot()
		if violated != nil {
			t.Fatalf("session contract: %v", violated)
		}
		for _, au := range aus {
			if tr := starts[len(starts)-1][au.Track]; tr.Kind == ingest.Video && !sampleFramingOK(tr.Codec, au.Data) {
				t.Fatalf("malformed video sample % x", au.Data)
			}
		}
	})
}

// BenchmarkDemux measures the path of an SRT connection's bytes: message
// reads, the TS check, demuxing and access units into a session.
func BenchmarkDemux(b *testing.B) {
	for _, file := range []string{"h264_aac.ts", "h265_aac.ts"} {
		b.Run(file, func(b *testing.B) {
			data := readCapture(b, file)
			srv, err := New(Options{Publisher: newFakePublisher()})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c := newConnection(srv, &caller{
					conn: &fakeConn{data: data, chunk: 1316},
					adm:  admission{id: streamID{mode: modePublish, app: "live", name: "bench"}},
					pub:  publication{sess: nopSession{}, cancel: func() {}, release: func() {}},
				})
				c.run()
			}
		})
	}
}

// nopSession takes everything and keeps nothing.
type nopSession struct{}

func (nopSession) Start([]ingest.Track) error      { return nil }
func (nopSession) WriteAU(ingest.AccessUnit) error { return nil }
func (nopSession) Close(error)                     {}
