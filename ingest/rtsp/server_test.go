package rtsp

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/prometheus/client_golang/prometheus"
)

// TestBadOptions: invalid options fail New with an error that says what to
// fix, naming the pull source ("rtsp-pull NAME").
func TestBadOptions(t *testing.T) {
	pub := newFakePublisher()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no publisher", Options{}, "Options.Publisher is required"},
		{"negative timeout", Options{Publisher: pub, ReadTimeout: -time.Second}, "ReadTimeout is negative"},
		{"retry max below min", Options{Publisher: pub, RetryMin: time.Minute, RetryMax: time.Second}, "RetryMax (1s) is less than RetryMin (1m0s)"},
		{"udp half set", Options{Publisher: pub, UDPRTPAddr: ":8000"}, "set both Options.UDPRTPAddr and UDPRTCPAddr"},
		{"udp odd port", Options{Publisher: pub, UDPRTPAddr: ":8001", UDPRTCPAddr: ":8002"}, "RTP needs an even port"},
		{"udp not consecutive", Options{Publisher: pub, UDPRTPAddr: ":8000", UDPRTCPAddr: ":8003"}, "RTCP the next one"},
		{"udp bad address", Options{Publisher: pub, UDPRTPAddr: "8000", UDPRTCPAddr: ":8001"}, `Options.UDPRTPAddr "8000"`},
		{"pull bad name", Options{Publisher: pub, Pulls: []Pull{{Name: "a b", URL: "rtsp://cam/x"}}}, "rtsp-pull a b: invalid stream name"},
		{"pull duplicate", Options{Publisher: pub, Pulls: []Pull{{Name: "cam", URL: "rtsp://a/x"}, {Name: "cam", URL: "rtsp://b/x"}}}, "rtsp-pull cam: the name is configured twice"},
		{"pull not rtsp", Options{Publisher: pub, Pulls: []Pull{{Name: "cam", URL: "http://u:secret@cam/x"}}}, "rtsp-pull cam: URL http://xxxxx:xxxxx@cam/x: want an rtsp://"},
		{"pull no host", Options{Publisher: pub, Pulls: []Pull{{Name: "cam", URL: "rtsp:///x"}}}, "rtsp-pull cam: URL rtsp:///x has no host"},
		{"pull unparsable", Options{Publisher: pub, Pulls: []Pull{{Name: "cam", URL: "rtsp://u:secret@cam:port/x"}}}, "rtsp-pull cam: invalid URL rtsp://xxxxx@cam:port/x"},
		{"pull bad transport", Options{Publisher: pub, Pulls: []Pull{{Name: "cam", URL: "rtsp://cam/x", Transport: "sctp"}}}, `rtsp-pull cam: transport "sctp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Publisher: pub, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Publisher: pub, Registerer: reg}); err == nil {
		t.Error("registering the metrics twice: no error")
	}
}

func TestCloseWithoutServe(t *testing.T) {
	rtp, rtcp := freeUDPPair(t)
	s, err := New(Options{Publisher: newFakePublisher(), Addr: "127.0.0.1:0", UDPRTPAddr: rtp, UDPRTCPAddr: rtcp})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil {
		t.Error("second Listen: no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still listening after Close")
	}
	pc, err := net.ListenPacket("udp", rtp)
	if err != nil {
		t.Errorf("the UDP port is still bound after Close: %v", err)
	} else {
		_ = pc.Close()
	}
}

// TestRefusals: what a publisher or a player is told, and what is counted.
func TestRefusals(t *testing.T) {
	ts := startServer(t, Options{})
	c := readCapture(t, "h264_aac.rtpcap")
	sdp := string(c.sdp)
	// A publisher holds "taken".
	holder := dialRaw(t, ts.addr, "/live/taken")
	if res, err := holder.record(sdp); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("record: %v %v", res, err)
	}
	first := ts.pub.nextSession(t)
	for _, tc := range []struct {
		name, method, path, sdp string
		status                  base.StatusCode
		message, reason         string
	}{
		{"bad app", "ANNOUNCE", "/other/demo", sdp, base.StatusNotFound, `unknown path "/other/demo": publish to rtsp://HOST/live/NAME`, refuseBadApp},
		{"no name", "ANNOUNCE", "/live", sdp, base.StatusNotFound, "invalid stream name: empty", refuseBadName},
		{"bad name", "ANNOUNCE", "/live/a%20b", sdp, base.StatusNotFound, "invalid stream name", refuseBadName},
		{"nested name", "ANNOUNCE", "/live/a/b", sdp, base.StatusNotFound, "invalid stream name", refuseBadName},
		{"duplicate", "ANNOUNCE", "/live/taken", sdp, statusConflict, "stream is already being published", refuseAlreadyPublishing},
		{"lying SDP", "ANNOUNCE", "/live/liar", strings.Replace(sdp, "sprop-parameter-sets=Z2QAC6zZQoR+XARAAAADAEAAAA8DxQplgA==", "sprop-parameter-sets=Z/////8=", 1),
			base.StatusBadRequest, "invalid codec configuration in the SDP", refuseBadSDP},
		{"no supported track", "ANNOUNCE", "/live/pcm", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:streamid=0\r\n",
			base.StatusUnsupportedMediaType, "no supported track (H.264, H.265, AAC and Opus are): media 0 (audio): PCMA/8000: unsupported codec", refuseNoSupportedTrack},
		{"describe", "DESCRIBE", "/live/taken", "", base.StatusMethodNotAllowed, "play the stream over HLS or DASH", refuseRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metricValue(t, ts.metrics.refused.WithLabelValues(tc.reason))
			p := dialRaw(t, ts.addr, tc.path)
			res, err := p.request(tc.method, p.url, nil, tc.sdp)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status || !strings.Contains(res.StatusMessage, tc.message) {
				t.Errorf("%d %q, want %d with %q", res.StatusCode, res.StatusMessage, tc.status, tc.message)
			}
			if got := metricValue(t, ts.metrics.refused.WithLabelValues(tc.reason)); got != before+1 {
				t.Errorf("refused_total{reason=%q} went from %v to %v", tc.reason, before, got)
			}
		})
	}
	// The first publisher was not disturbed.
	select {
	case <-first.done:
		t.Error("the first publisher's session was closed")
	default:
	}
	if _, err := holder.request("TEARDOWN", holder.url, nil, ""); err != nil {
		t.Fatal(err)
	}
	if cause := first.waitClosed(t); cause != nil {
		t.Errorf("first session closed with %v", cause)
	}
}

// TestFFmpegRefused: ffmpeg shows our reason.
func TestFFmpegRefused(t *testing.T) {
	needFFmpeg(t)
	ts := startServer(t, Options{})
	publishCapture(t, ts, "x") // warm up: the server works
	holder := dialRaw(t, ts.addr, "/live/taken")
	if res, err := holder.record(string(readCapture(t, "h264_aac.rtpcap").sdp)); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("record: %v %v", res, err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/live/bad%20name", "method ANNOUNCE failed: 404 invalid stream name"},
		{"/other/demo", `method ANNOUNCE failed: 404 unknown path "/other/demo"`},
		{"/live/taken", "method ANNOUNCE failed: 409 stream \"taken\": stream is already being published"},
	} {
		out, err := runFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast",
			"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+ts.addr+tc.path)
		if err == nil {
			t.Errorf("%s: ffmpeg succeeded", tc.path)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: ffmpeg output does not show the reason %q:\n%s", tc.path, tc.want, out)
		}
	}
	out, err := runFFmpeg(t, "-rtsp_transport", "tcp", "-i", "rtsp://"+ts.addr+"/live/demo", "-f", "null", "-")
	if err == nil || !strings.Contains(out, "method DESCRIBE failed: 405 this server only ingests") {
		t.Errorf("ffmpeg reading: %v\n%s", err, out)
	}
}

// TestMetrics: sessions and bytes are counted.
func TestMetrics(t *testing.T) {
	ts := startServer(t, Options{})
	publishCapture(t, ts, "m")
	if got := metricValue(t, ts.metrics.sessions.WithLabelValues(modeRecord)); got != 1 {
		t.Errorf("sessions_total{mode=record} = %v", got)
	}
	if got := metricValue(t, ts.metrics.sessionsActive.WithLabelValues(modeRecord)); got != 0 {
		t.Errorf("sessions_active{mode=record} = %v after the end", got)
	}
	c := readCapture(t, "h264_aac.rtpcap")
	if got := metricValue(t, ts.metrics.bytesReceived); got < float64(len(c.encode())) {
		t.Errorf("bytes_received_total = %v, want at least the %d bytes of the capture", got, len(c.encode()))
	}
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"liveorigin_rtsp_sessions_total", "liveorigin_rtsp_sessions_active", "liveorigin_rtsp_bytes_received_total",
		"liveorigin_rtsp_errors_total", "liveorigin_rtsp_refused_total", "liveorigin_rtsp_rtp_packets_lost_total"} {
		if !names[n] {
			t.Errorf("metric %s not registered", n)
		}
	}
}

// TestSessionEnds: how a publisher leaves decides what the session is
// closed with and whether it counts as an error.
func TestSessionEnds(t *testing.T) {
	c := readCapture(t, "h264_aac.rtpcap")
	for _, tc := range []struct {
		name   string
		leave  func(p *rawPublisher)
		reason string
		cause  string // "" for a clean end
	}{
		{"teardown", func(p *rawPublisher) { _, _ = p.request("TEARDOWN", p.url, nil, "") }, "", ""},
		{"hang up", func(p *rawPublisher) { _ = p.nc.Close() }, "", "publisher disconnected without TEARDOWN"},
		{"go silent", func(*rawPublisher) {}, reasonReadTimeout, "nothing received for 200ms (ReadTimeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Options{ReadTimeout: 200 * time.Millisecond})
			p := dialRaw(t, ts.addr, "/live/leave")
			if res, err := p.record(string(c.sdp)); err != nil || res.StatusCode != base.StatusOK {
				t.Fatalf("record: %v %v", res, err)
			}
			s := ts.pub.nextSession(t)
			if err := p.replay(&capture{packets: c.packets[:20]}, nil); err != nil {
				t.Fatal(err)
			}
			s.waitFor(t, "media", func(s *fakeSession) bool { return len(s.aus) > 0 })
			tc.leave(p)
			cause := s.waitClosed(t)
			e := ts.nextEnd(t)
			if e.reason != tc.reason {
				t.Errorf("reason %q, want %q", e.reason, tc.reason)
			}
			switch {
			case tc.cause == "" && cause != nil:
				t.Errorf("closed with %v, want a clean end", cause)
			case tc.cause != "" && (cause == nil || !strings.Contains(cause.Error(), tc.cause)):
				t.Errorf("closed with %v, want %q", cause, tc.cause)
			}
		})
	}
}
