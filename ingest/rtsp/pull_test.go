package rtsp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestPullReconnect: a pull from a camera stand-in (which wants the
// credentials of the URL) publishes the stream; when the camera goes away
// the session closes and the source retries, and when the camera returns a
// new session publishes the same name. The password never reaches the
// logs, the states or the API.
func TestPullReconnect(t *testing.T) {
	const pass = "s3cret-Pa55"
	c := readCapture(t, "h264_aac.rtpcap")
	cam := startCamera(t, "127.0.0.1:0", c, 2, "admin", pass, false)
	addr := cam.addr()
	ts := startServer(t, Options{
		Pulls:    []Pull{{Name: "cam", URL: "rtsp://admin:" + pass + "@" + addr + "/stream1?token=" + pass, Transport: "tcp"}},
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, ReadTimeout: 5 * time.Second,
	})

	s1 := ts.pub.nextSession(t)
	if s1.info.Name != "cam" || s1.info.Protocol != "rtsp-pull" || s1.info.RemoteAddr != addr {
		t.Errorf("publish info %+v", s1.info)
	}
	waitMedia(t, s1)
	_, pos := ts.states.waitState(t, 0, "cam", stateConnected)

	cam.close()
	if cause := s1.waitClosed(t); cause == nil || errors.Is(cause, ingest.ErrClosed) {
		t.Errorf("first session closed with %v, want the lost camera", cause)
	}
	retrying, pos := ts.states.waitState(t, pos, "cam", stateRetrying)
	if retrying.LastError == "" || retrying.Retries < 1 {
		t.Errorf("retrying state %+v: want the error and a retry count", retrying)
	}

	cam2 := startCamera(t, addr, c, 2, "admin", pass, false)
	s2 := ts.pub.nextSession(t)
	if s2.info.Name != "cam" {
		t.Errorf("second session for %q", s2.info.Name)
	}
	waitMedia(t, s2)
	ts.states.waitState(t, pos, "cam", stateConnected)

	states := ts.PullStates()
	if len(states) != 1 || states[0].State != stateConnected || states[0].Retries < 1 || states[0].Name != "cam" {
		t.Errorf("PullStates %+v", states)
	}
	api, err := json.Marshal(states)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(api), `"url":"rtsp://xxxxx:xxxxx@`+addr+`/stream1?token=xxxxx"`) {
		t.Errorf("API %s: want the URL with the credentials masked", api)
	}
	if got := metricValue(t, ts.metrics.pullRetries.WithLabelValues("cam")); got < 1 {
		t.Errorf("pull retries metric %v", got)
	}
	if got := metricValue(t, ts.metrics.pullState.WithLabelValues("cam", stateConnected)); got != 1 {
		t.Errorf("pull state metric connected = %v", got)
	}

	ts.Close()
	cam2.close()
	if cause := s2.waitClosed(t); !errors.Is(cause, ingest.ErrClosed) {
		t.Errorf("second session closed with %v, want ErrClosed", cause)
	}
	logs := ts.logs.String()
	for _, what := range []string{string(api), logs} {
		if strings.Contains(what, pass) {
			t.Errorf("the password is in the output:\n%s", what)
		}
	}
	if !strings.Contains(logs, "rtsp pull failed; retrying") || !strings.Contains(logs, "rtsp pull connected") {
		t.Errorf("logs lack the pull events:\n%s", logs)
	}
}

// TestPullBadCredentials: a refused login is retried, reported, and the
// password stays out of everything.
func TestPullBadCredentials(t *testing.T) {
	const pass = "wrong-Pa55word"
	cam := startCamera(t, "127.0.0.1:0", readCapture(t, "h264_aac.rtpcap"), 2, "admin", "right", false)
	ts := startServer(t, Options{
		Pulls:    []Pull{{Name: "cam", URL: "rtsp://admin:" + pass + "@" + cam.addr() + "/stream1"}},
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
	})
	st, pos := ts.states.waitState(t, 0, "cam", stateRetrying)
	st, _ = ts.states.waitState(t, pos, "cam", stateRetrying)
	if !strings.Contains(st.LastError, "401") || st.Retries < 2 {
		t.Errorf("state %+v, want a 401 and 2 retries", st)
	}
	ts.Close()
	if logs := ts.logs.String(); strings.Contains(logs, pass) {
		t.Errorf("the password is in the logs:\n%s", logs)
	}
}

// TestPullUDP: the automatic transport pulls over UDP.
func TestPullUDP(t *testing.T) {
	cam := startCamera(t, "127.0.0.1:0", readCapture(t, "h265_aac.rtpcap"), 1, "", "", true)
	ts := startServer(t, Options{Pulls: []Pull{{Name: "cam", URL: "rtsp://" + cam.addr() + "/hevc"}}})
	s := ts.pub.nextSession(t)
	waitMedia(t, s)
	starts, _, _ := s.snapshot()
	if starts[0][0].Codec != ingest.H265 || starts[0][1].Codec != ingest.AAC {
		t.Errorf("tracks %+v", starts[0])
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "transport=udp") {
		t.Errorf("not pulled over UDP:\n%s", logs)
	}
}

// waitMedia waits for two video keyframes and some audio, checking the
// contract on the way.
func waitMedia(t *testing.T, s *fakeSession) {
	t.Helper()
	s.waitFor(t, "two keyframes and audio", func(s *fakeSession) bool {
		v, a := statsOf(s.aus, 0), statsOf(s.aus, 1)
		return v.keys >= 2 && a.count >= 10
	})
	_, _, errs := s.snapshot()
	for _, e := range errs {
		t.Error(e)
	}
}

// TestSetPulls: a reload adds, keeps, changes and removes pull sources.
// An unchanged source keeps its session; a removed one ends its session
// with ErrClosed and loses its metric series; a changed one reconnects; an
// invalid list changes nothing.
func TestSetPulls(t *testing.T) {
	c := readCapture(t, "h264_aac.rtpcap")
	camA := startCamera(t, "127.0.0.1:0", c, 2, "", "", false)
	camB := startCamera(t, "127.0.0.1:0", c, 2, "", "", false)
	pullA := Pull{Name: "a", URL: "rtsp://" + camA.addr() + "/stream1", Transport: "tcp"}
	pullB := Pull{Name: "b", URL: "rtsp://" + camB.addr() + "/stream1", Transport: "tcp"}
	ts := startServer(t, Options{Pulls: []Pull{pullA}, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	sa := ts.pub.nextSession(t)
	waitMedia(t, sa)

	// Add b; a is unchanged and keeps its session.
	if err := ts.SetPulls([]Pull{pullB, pullA}); err != nil {
		t.Fatal(err)
	}
	sb := ts.pub.nextSession(t)
	if sb.info.Name != "b" {
		t.Fatalf("new session for %q, want b", sb.info.Name)
	}
	waitMedia(t, sb)
	select {
	case <-sa.done:
		t.Fatal("the unchanged source's session closed")
	default:
	}

	// An invalid list is refused whole.
	if err := ts.SetPulls([]Pull{pullA, {Name: "bad", URL: "http://x/"}}); err == nil {
		t.Fatal("SetPulls accepted an http:// URL")
	}
	if got := ts.PullStates(); len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("after a refused list, PullStates %+v", got)
	}

	// Remove a: its session closes with ErrClosed and its series go.
	if err := ts.SetPulls([]Pull{pullB}); err != nil {
		t.Fatal(err)
	}
	if cause := sa.waitClosed(t); !errors.Is(cause, ingest.ErrClosed) {
		t.Errorf("removed source's session closed with %v, want ErrClosed", cause)
	}
	if got := ts.PullStates(); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("PullStates %+v, want b only", got)
	}
	for _, st := range pullStates {
		if ts.metrics.pullState.DeleteLabelValues("a", st) {
			t.Errorf("the removed source still has its %s state series", st)
		}
	}
	if ts.metrics.pullRetries.DeleteLabelValues("a") {
		t.Error("the removed source still has its retries series")
	}

	// Change b's URL: it reconnects.
	pullB.URL += "?profile=2"
	if err := ts.SetPulls([]Pull{pullB}); err != nil {
		t.Fatal(err)
	}
	if cause := sb.waitClosed(t); !errors.Is(cause, ingest.ErrClosed) {
		t.Errorf("changed source's old session closed with %v, want ErrClosed", cause)
	}
	sb2 := ts.pub.nextSession(t)
	if sb2.info.Name != "b" {
		t.Fatalf("session for %q, want b", sb2.info.Name)
	}
	waitMedia(t, sb2)

	ts.Close()
	if err := ts.SetPulls(nil); !errors.Is(err, ErrServerClosed) {
		t.Errorf("SetPulls after Close: %v, want ErrServerClosed", err)
	}
}
