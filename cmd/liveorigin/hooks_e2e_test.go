package main

import (
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/hooks"
	"github.com/liveorigin/liveorigin/packager"
)

// The publish webhook decides with real ffmpeg publishers over RTMP: a 403
// refuses one (ffmpeg fails, no stream is made), a 204 allows another,
// whose unpublish and stream_end follow with the same session. The stream
// key reaches the hook and nothing else.
func TestWebhooksWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	const (
		deniedKey  = "denied-key-3c9e7a"
		allowedKey = "allowed-key-b41f02"
	)
	hook := newEventReceiver(t, hookS, func(ev hooks.Event) int {
		if ev.Event == hooks.EventPublish && ev.Query["key"] != allowedKey {
			return http.StatusForbidden
		}
		return http.StatusNoContent
	})
	sec := secretFile(t, hookS)
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.Window = 6 * time.Second
		c.ReconnectGrace = time.Second
		c.Webhooks = []hooks.Config{{Name: "auth", URL: hook.URL + "/liveorigin", SecretFile: sec,
			Events: []string{hooks.EventPublish, hooks.EventUnpublish, hooks.EventStreamEnd}}}
	})

	// Refused: ffmpeg gives up with an error, the stream never exists.
	denied := publish(t, a.rtmpURL+"denied?key="+deniedKey, 5)
	ev := hook.next(hooks.EventPublish)
	if ev.Stream != "denied" || ev.Protocol != "rtmp" || ev.Query["key"] != deniedKey || ev.SessionID == "" {
		t.Errorf("publish event %+v", ev)
	}
	if err := waitExit(t, denied); err == nil {
		t.Error("ffmpeg published although the hook answered 403")
	}
	if _, err := a.registry.Timeline("denied"); !errors.Is(err, packager.ErrNotFound) {
		t.Errorf("the refused stream exists: %v", err)
	}

	// SRT: the stream id's parameters reach the hook, its 403 is SRT's
	// "forbidden" rejection.
	streamID := url.QueryEscape("#!::r=live/srtdenied,m=publish,key=" + deniedKey)
	cmd := ffmpegCommand("-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "2",
		"-c:v", "libx264", "-f", "mpegts", "srt://"+a.srt.Addr().String()+"?streamid="+streamID)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("ffmpeg published over SRT although the hook answered 403: %s", out)
	}
	ev = hook.next(hooks.EventPublish)
	if ev.Stream != "srtdenied" || ev.Protocol != "srt" || ev.Query["key"] != deniedKey {
		t.Errorf("SRT publish event %+v", ev)
	}

	// Allowed: the stream runs, then ends.
	const name = "allowed"
	pub := publish(t, a.rtmpURL+name+"?key="+allowedKey, 4)
	ev = hook.next(hooks.EventPublish)
	if ev.Stream != name || ev.Query["key"] != allowedKey {
		t.Fatalf("publish event %+v", ev)
	}
	waitFor(t, a, name, 20*time.Second, "a segment of each track", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[1].Segments) > 0
	})
	code, _, body := get(t, a.admin+"/api/v1/streams/"+name)
	if code != http.StatusOK || !strings.Contains(string(body), `"session_id": "`+ev.SessionID+`"`) {
		t.Errorf("the API's session is not the hook's %s: %s", ev.SessionID, body)
	}
	if err := waitExit(t, pub); err != nil {
		t.Errorf("ffmpeg: %v", err)
	}
	un := hook.next(hooks.EventUnpublish)
	if un.Stream != name || un.SessionID != ev.SessionID || un.Query != nil {
		t.Errorf("unpublish %+v, want session %s", un, ev.SessionID)
	}
	end := hook.next(hooks.EventStreamEnd)
	if end.Stream != name || end.SessionID != ev.SessionID {
		t.Errorf("stream_end %+v", end)
	}

	// The daemon counts a delivery once it has read the hook's answer,
	// which may be a moment after the receiver saw the request.
	waitMetric(t, a, `liveorigin_webhook_requests_total{event="stream_end",hook="auth",result="ok"}`, 1)
	metrics := string(mustGet(t, a.admin+"/metrics"))
	for _, want := range []string{
		`liveorigin_webhook_requests_total{event="publish",hook="auth",result="refused"} 2`,
		`liveorigin_webhook_requests_total{event="publish",hook="auth",result="ok"} 1`,
		`liveorigin_webhook_requests_total{event="unpublish",hook="auth",result="ok"} 1`,
		`liveorigin_webhook_requests_total{event="stream_end",hook="auth",result="ok"} 1`,
		`liveorigin_webhook_duration_seconds_count{event="publish",hook="auth"} 3`,
		`liveorigin_webhook_dropped_total{hook="auth"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{deniedKey, allowedKey, hookS} {
		if strings.Contains(a.logs.String(), secret) {
			t.Errorf("the log shows the secret %q", secret)
		}
	}
}

// A dead publish hook with the default on-error refuses the publisher
// (fail closed) within its timeout.
func TestWebhookFailsClosed(t *testing.T) {
	requireTools(t, "ffmpeg")
	hold := make(chan struct{})
	dead := newEventReceiver(t, hookS, func(hooks.Event) int {
		<-hold
		return http.StatusNoContent
	})
	defer close(hold) // before the receiver's Close (cleanups run after defers)
	sec := secretFile(t, hookS)
	a := startApp(t, func(c *Config) {
		c.Webhooks = []hooks.Config{{Name: "auth", URL: dead.URL, SecretFile: sec, Timeout: 300 * time.Millisecond,
			Events: []string{hooks.EventPublish}}}
	})
	p := publish(t, a.rtmpURL+"closed", 5)
	if err := waitExit(t, p); err == nil {
		t.Error("ffmpeg published although the hook did not answer")
	}
	if _, err := a.registry.Timeline("closed"); !errors.Is(err, packager.ErrNotFound) {
		t.Errorf("the stream exists: %v", err)
	}
	if !strings.Contains(a.logs.String(), "publish webhook failed; refused (on-error: refuse)") {
		t.Errorf("no log line for the failure")
	}
}

// waitExit waits for a publishing ffmpeg to end.
func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("ffmpeg did not end within 30s")
		return nil
	}
}
