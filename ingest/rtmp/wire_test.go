package rtmp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestPublishFLV publishes an ffmpeg-made FLV (H.264 with B-frames, AAC,
// onMetaData) tag by tag and checks every access unit against the file.
func TestPublishFLV(t *testing.T) {
	ts := startServer(t, Options{})
	tags := readFLV(t, "h264_aac.flv")
	c := publish(t, ts.addr, "live", "demo?key=secret")
	s := ts.pub.nextSession(t)
	c.sendFLV(t, tags)
	if err := c.unpublish(); err != nil {
		t.Fatal(err)
	}
	if cause := s.waitClosed(t); cause != nil {
		t.Errorf("session closed with %v, want a clean unpublish", cause)
	}
	if s.info.Name != "demo" {
		t.Errorf("stream name %q, want the key without its query", s.info.Name)
	}

	starts, aus := s.snapshot()
	if len(starts) != 1 || trackKinds(starts[0]) != "va" {
		t.Fatalf("Start calls %+v, want one with video and audio", starts)
	}
	v, a := starts[0][0], starts[0][1]
	if v.CodecString != "avc1.64000D" || v.Width != 320 || v.Height != 240 {
		t.Errorf("video track %s %dx%d", v.CodecString, v.Width, v.Height)
	}
	if a.CodecString != "mp4a.40.2" || a.SampleRate != 44100 || a.Channels != 2 {
		t.Errorf("audio track %s %d Hz %d ch", a.CodecString, a.SampleRate, a.Channels)
	}

	// Expected access units, straight from the file.
	var want []ingest.AccessUnit
	for _, tag := range tags {
		switch {
		case tag.typ == 9 && tag.body[1] == 1:
			cts := si24(tag.body[2:5])
			want = append(want, ingest.AccessUnit{Track: 0, DTS: int64(tag.ts), PTS: int64(tag.ts) + int64(cts), Key: tag.body[0]>>4 == 1, Data: tag.body[5:]})
		case tag.typ == 8 && tag.body[1] == 1:
			want = append(want, ingest.AccessUnit{Track: 1, DTS: int64(tag.ts), PTS: int64(tag.ts), Key: true, Data: tag.body[2:]})
		}
	}
	// Audio and video travel on separate chunk streams, so they interleave
	// differently on the wire than in the file: compare per track.
	if len(aus) != len(want) {
		t.Fatalf("%d access units, want %d", len(aus), len(want))
	}
	keys, bframes := 0, 0
	for track := range 2 {
		g, w := auFilter(aus, track), auFilter(want, track)
		for i := range w {
			if g[i].DTS != w[i].DTS || g[i].PTS != w[i].PTS || g[i].Key != w[i].Key || !bytes.Equal(g[i].Data, w[i].Data) {
				t.Fatalf("track %d AU %d: DTS %d PTS %d key %v %d bytes; want DTS %d PTS %d key %v %d bytes",
					track, i, g[i].DTS, g[i].PTS, g[i].Key, len(g[i].Data), w[i].DTS, w[i].PTS, w[i].Key, len(w[i].Data))
			}
			if track == 0 && g[i].Key {
				keys++
			}
			if g[i].PTS != g[i].DTS {
				bframes++
			}
		}
	}
	if keys != 2 || bframes == 0 {
		t.Errorf("%d key frames, %d AUs with PTS != DTS; want 2 (GOP 15 over 30 frames) and some", keys, bframes)
	}
	_ = c.cc.Close()
	if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
		t.Errorf("connection ended with %q: %v", e.reason, e.cause)
	}
}

// TestPublishEnhanced publishes HEVC and AV1 over enhanced RTMP, with real
// configuration records and frames from ffmpeg-made MP4 files.
func TestPublishEnhanced(t *testing.T) {
	for _, tc := range []struct {
		file, fourCC string
		codec        ingest.Codec
		codecString  string
	}{
		{"hevc.mp4", "hvc1", ingest.H265, "hvc1.1.6.L60.90"},
		{"av1.mp4", "av01", ingest.AV1, "av01.0.00M.08.0.110.02.02.02.0"},
	} {
		t.Run(tc.fourCC, func(t *testing.T) {
			ts := startServer(t, Options{})
			rec, samples := readMP4Video(t, tc.file)
			c := publish(t, ts.addr, "live", "enhanced")
			s := ts.pub.nextSession(t)
			meta := join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(fourCCNum(tc.fourCC)))))
			if err := c.metadata(meta); err != nil {
				t.Fatal(err)
			}
			if err := c.video(0, exSequenceStartTag(tc.fourCC, rec)); err != nil {
				t.Fatal(err)
			}
			for _, smp := range samples {
				if err := c.video(uint32(smp.dts), exFrameTag(tc.fourCC, smp)); err != nil {
					t.Fatal(err)
				}
			}
			s.waitFor(t, "all frames", func(s *fakeSession) bool { return len(s.aus) == len(samples) })
			starts, aus := s.snapshot()
			if len(starts) != 1 || len(starts[0]) != 1 {
				t.Fatalf("Start calls %+v, want one with the video track", starts)
			}
			if tr := starts[0][0]; tr.Codec != tc.codec || tr.CodecString != tc.codecString || tr.Width != 320 || tr.Height != 240 {
				t.Errorf("track %s %s %dx%d", tr.Codec, tr.CodecString, tr.Width, tr.Height)
			}
			for i, smp := range samples {
				g := aus[i]
				if g.DTS != smp.dts || g.PTS != smp.pts || g.Key != smp.key || !bytes.Equal(g.Data, smp.data) {
					t.Errorf("AU %d: DTS %d PTS %d key %v %d bytes; want %d %d %v %d bytes",
						i, g.DTS, g.PTS, g.Key, len(g.Data), smp.dts, smp.pts, smp.key, len(smp.data))
				}
			}
		})
	}
}

func auFilter(aus []ingest.AccessUnit, track int) []ingest.AccessUnit {
	var out []ingest.AccessUnit
	for _, au := range aus {
		if au.Track == track {
			out = append(out, au)
		}
	}
	return out
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0x0f])
	}
	return string(out)
}

// TestPublishRefused: a refused publish ends its connection, is counted,
// and never reaches the Publisher.
func TestPublishRefused(t *testing.T) {
	for _, tc := range []struct {
		name, app, key, reason string
	}{
		{"unknown app", "other", "demo", refuseBadApp},
		{"app with a path", "live/x", "demo", refuseBadApp},
		{"bad name", "live", "no/slash", refuseBadName},
		{"empty name", "live", "?key=x", refuseBadName},
		{"dot name", "live", ".hidden", refuseBadName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Options{})
			publish(t, ts.addr, tc.app, tc.key)
			if e := ts.nextEnd(t); e.reason != "" || e.cause != nil {
				t.Errorf("connection end %+v, want a refusal without error", e)
			}
			if got := metricValue(t, ts.metrics.publishRefused.WithLabelValues(tc.reason)); got != 1 {
				t.Errorf("publish_refused_total{reason=%q} = %v, want 1", tc.reason, got)
			}
			select {
			case s := <-ts.pub.sessions:
				t.Errorf("Publisher was asked for %q", s.info.Name)
			default:
			}
		})
	}
}

// TestAppVariants: OBS sends "live", some clients "live/" or the key on
// the app.
func TestAppVariants(t *testing.T) {
	ts := startServer(t, Options{})
	for _, app := range []string{"live/", "live?key=abc"} {
		c := publish(t, ts.addr, app, "demo")
		s := ts.pub.nextSession(t)
		if s.info.Name != "demo" {
			t.Errorf("app %q: name %q", app, s.info.Name)
		}
		_ = c.cc.Close()
		s.waitClosed(t)
		ts.nextEnd(t)
	}
}

// TestDuplicatePublisher: a second publisher for a live name is refused at
// once, and the first one keeps flowing.
func TestDuplicatePublisher(t *testing.T) {
	ts := startServer(t, Options{})
	avc, aac := flvConfigs(t)
	first := publish(t, ts.addr, "live", "demo")
	s := ts.pub.nextSession(t)
	send := func(c *testClient, from, n int) {
		for i := from; i < from+n; i++ {
			if err := c.video(uint32(i*33), idrTag); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, b := range [][]byte{avc} {
		if err := first.video(0, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.audio(0, aac); err != nil {
		t.Fatal(err)
	}
	send(first, 0, 5)
	s.waitFor(t, "5 AUs", func(s *fakeSession) bool { return len(s.aus) == 5 })

	publish(t, ts.addr, "live", "demo")
	e := ts.nextEnd(t)
	if e.reason != "" {
		t.Errorf("second publisher ended with %q: %v", e.reason, e.cause)
	}
	if got := metricValue(t, ts.metrics.publishRefused.WithLabelValues(refuseAlreadyPublishing)); got != 1 {
		t.Errorf("publish_refused_total{already_publishing} = %v, want 1", got)
	}

	send(first, 5, 5)
	s.waitFor(t, "10 AUs", func(s *fakeSession) bool { return len(s.aus) == 10 })
	select {
	case <-s.done:
		t.Error("the first session was closed")
	default:
	}
}

// rawConn dials without go-rtmp, to send what no client would.
func rawConn(t *testing.T, addr string, doHandshake bool) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if doHandshake {
		if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{}); err != nil {
			t.Fatal(err)
		}
	}
	return nc
}

func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBadInput: malformed input ends that one connection with a reason,
// counted in liveorigin_rtmp_errors_total; the server keeps serving.
func TestBadInput(t *testing.T) {
	avc, aac := flvConfigs(t)
	published := func(f func(c *testClient) error) func(t *testing.T, ts *testServer) {
		return func(t *testing.T, ts *testServer) {
			c := publish(t, ts.addr, "live", "bad")
			ts.pub.nextSession(t)
			if err := f(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		send    func(t *testing.T, ts *testServer)
		reasons []string // any of
	}{
		{"garbage during the handshake", Options{}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, false)
			_, _ = nc.Write(garbage(100))
			_ = nc.(*net.TCPConn).CloseWrite()
		}, []string{reasonHandshake}},
		{"garbage instead of RTMP", Options{}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, false)
			_, _ = nc.Write(garbage(20000))
		}, []string{reasonProtocol, reasonPanic}},
		{"handshake then garbage", Options{}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, true)
			_, _ = nc.Write(garbage(5000))
		}, []string{reasonProtocol, reasonPanic}},
		{"chunk that panics go-rtmp", Options{}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, true)
			// fmt 0 on chunk stream 3, message length 0: go-rtmp panics.
			_, _ = nc.Write(cat("03 000000 000000 14 00000000"))
		}, []string{reasonPanic}},
		{"AMF0 allocation bomb", Options{}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, true)
			// A strict array of 2^31-1 elements: go-amf0 would allocate
			// 32 GiB, and the runtime end the process (found by FuzzConn).
			_, _ = nc.Write(rtmpMessage(csidData, 18, 0, join(amfStr("onTextData"), cat("0a 7fffffff"))))
		}, []string{reasonProtocol}},
		{"AMF0 nested 100000 deep", Options{}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, true)
			_, _ = nc.Write(rtmpMessage(csidData, 18, 0, join(amfStr("onTextData"), nested(100000))))
		}, []string{reasonProtocol}},
		{"malformed publish command", Options{}, func(t *testing.T, ts *testServer) {
			c := dial(t, ts.addr, "live")
			if err := c.command("publish", join([]byte{amfNull}, amfNum(42))); err != nil {
				t.Fatal(err)
			}
		}, []string{reasonProtocol}},
		{"handshake timeout", Options{HandshakeTimeout: 200 * time.Millisecond}, func(t *testing.T, ts *testServer) {
			nc := rawConn(t, ts.addr, false)
			_, _ = nc.Write([]byte{3})
		}, []string{reasonHandshake}},
		{"read timeout", Options{ReadTimeout: 200 * time.Millisecond}, published(func(c *testClient) error {
			return c.video(0, avc) // then nothing
		}), []string{reasonReadTimeout}},
		{"truncated tag", Options{}, published(func(c *testClient) error {
			return c.video(0, cat("17 01 00"))
		}), []string{reasonBadTag}},
		{"lying NALU length", Options{}, published(func(c *testClient) error {
			_ = c.video(0, avc)
			_ = c.audio(0, aac)
			return c.video(0, cat("17 01 000000 00ffffff 65"))
		}), []string{reasonBadTag}},
		{"broken sequence header", Options{}, published(func(c *testClient) error {
			return c.video(0, cat("17 00 000000 01 64 00 1f ff e1 00 04 67"))
		}), []string{reasonBadSequenceHeader}},
		{"unsupported codec", Options{}, published(func(c *testClient) error {
			return c.audio(0, cat("2f fffb 9000"))
		}), []string{reasonUnsupportedCodec}},
		{"oversize tag", Options{MaxTagSize: 4096}, published(func(c *testClient) error {
			return c.video(0, append(cat("27 01 000000 00001ffb"), make([]byte, 8187)...))
		}), []string{reasonOversizeTag}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.opts)
			tc.send(t, ts)
			e := ts.nextEnd(t)
			ok := false
			for _, r := range tc.reasons {
				ok = ok || e.reason == r
			}
			if !ok || e.cause == nil {
				t.Fatalf("connection ended with reason %q (%v), want one of %v", e.reason, e.cause, tc.reasons)
			}
			t.Logf("%s: %v", e.reason, e.cause)
			if got := metricValue(t, ts.metrics.errors.WithLabelValues(e.reason)); got != 1 {
				t.Errorf("errors_total{reason=%q} = %v, want 1", e.reason, got)
			}
			// The server is unaffected: a good publisher gets through.
			c := publish(t, ts.addr, "live", "good")
			s := ts.pub.nextSession(t)
			_ = c.video(0, avc)
			_ = c.audio(0, aac)
			_ = c.video(0, idrTag)
			s.waitFor(t, "an AU from the good publisher", func(s *fakeSession) bool { return len(s.aus) == 1 })
		})
	}
}

// TestWriteAUError: a session that fails ends the connection.
func TestWriteAUError(t *testing.T) {
	ts := startServer(t, Options{})
	ts.pub.writeErr = errors.New("packager says no")
	avc, aac := flvConfigs(t)
	c := publish(t, ts.addr, "live", "demo")
	s := ts.pub.nextSession(t)
	_ = c.video(0, avc)
	_ = c.audio(0, aac)
	_ = c.video(0, idrTag)
	e := ts.nextEnd(t)
	if e.reason != reasonSession {
		t.Errorf("reason %q (%v), want %q", e.reason, e.cause, reasonSession)
	}
	if cause := s.waitClosed(t); cause == nil {
		t.Error("session closed without a cause")
	}
}

// TestCloseWhilePublishing: Close ends every publisher and waits for every
// goroutine (TestMain checks with goleak).
func TestCloseWhilePublishing(t *testing.T) {
	ts := startServer(t, Options{})
	avc, aac := flvConfigs(t)
	var sessions []*fakeSession
	for _, name := range []string{"one", "two"} {
		c := publish(t, ts.addr, "live", name)
		s := ts.pub.nextSession(t)
		_ = c.video(0, avc)
		_ = c.audio(0, aac)
		_ = c.video(0, idrTag)
		s.waitFor(t, "an AU", func(s *fakeSession) bool { return len(s.aus) == 1 })
		sessions = append(sessions, s)
	}
	rawConn(t, ts.addr, true) // connected, never publishes
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if cause := s.waitClosed(t); !errors.Is(cause, ingest.ErrClosed) {
			t.Errorf("session %s closed with %v, want ErrClosed", s.info.Name, cause)
		}
	}
	if got := metricValue(t, ts.metrics.connectionsActive); got != 0 {
		t.Errorf("connections_active = %v after Close", got)
	}
	if got := metricValue(t, ts.metrics.connections); got != 3 {
		t.Errorf("connections_total = %v, want 3", got)
	}
	if got := metricValue(t, ts.metrics.bytesReceived); got == 0 {
		t.Error("bytes_received_total = 0")
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("still accepting after Close")
	}
}
