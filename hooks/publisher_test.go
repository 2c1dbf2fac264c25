package hooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// verifyAsDocumented checks a request's signature with the recipe of
// docs/webhooks.md, written out rather than through Verify.
func verifyAsDocumented(t *testing.T, h hit, secret string) {
	t.Helper()
	ts := h.Header.Get("X-Liveorigin-Timestamp")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(h.Body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := h.Header.Get("X-Liveorigin-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("signature %q, want %q", got, want)
	}
	if err := Verify([]byte(secret), ts, h.Header.Get("X-Liveorigin-Signature"), h.Body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

const testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A publish hook that answers 2xx allows the publisher; the request is
// the documented body, headers and signature.
func TestPublishAllowed(t *testing.T) {
	rc := newReceiver(t, status(http.StatusNoContent))
	now := time.Date(2026, 11, 26, 2, 20, 10, 123456789, time.UTC)
	f := newFixture(t, []Config{hookConfig("auth", rc, EventPublish)}, Options{
		Now:         func() time.Time { return now },
		TraceParent: func(context.Context) string { return testTraceParent },
	})
	next := &fakePublisher{}
	pub := NewPublisher(next, f.d)
	sess, err := pub.Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp", RemoteAddr: "203.0.113.7:53211",
		Query: url.Values{"key": {"s3cret-key"}, "x": {"1", "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := recv(t, rc.hits, "the publish request")
	ev := h.Event
	if ev.Event != "publish" || ev.Stream != "demo" || ev.Protocol != "rtmp" || ev.RemoteAddr != "203.0.113.7:53211" ||
		ev.Query["key"] != "s3cret-key" || ev.Query["x"] != "1" || !ev.Time.Equal(now) {
		t.Errorf("event %+v", ev)
	}
	if !strings.Contains(string(h.Body), `"time":"2026-11-26T02:20:10.123456789Z"`) {
		t.Errorf("time is not RFC 3339 with nanoseconds in UTC: %s", h.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/json",
		"X-Liveorigin-Event":     "publish",
		"X-Liveorigin-Timestamp": strconv.FormatInt(now.Unix(), 10),
		"Traceparent":            testTraceParent,
	} {
		if got := h.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if len(h.Header.Get("X-Liveorigin-Delivery")) != 16 {
		t.Errorf("delivery id %q", h.Header.Get("X-Liveorigin-Delivery"))
	}
	// The receiver would refuse a stale timestamp; this one is from the
	// injected clock, so check the signature only.
	ts := h.Header.Get("X-Liveorigin-Timestamp")
	if err := Verify([]byte(testSecret), ts, h.Header.Get("X-Liveorigin-Signature"), h.Body, now, time.Minute); err != nil {
		t.Error(err)
	}
	infos := next.published()
	if len(infos) != 1 || infos[0].Query != nil || infos[0].SessionID != ev.SessionID || len(ev.SessionID) != 8 {
		t.Errorf("the packager got %+v (session in the event %q): want the event's session id and no query", infos, ev.SessionID)
	}
	if ingest.SessionID(sess) != ev.SessionID {
		t.Errorf("ingest.SessionID(sess) = %q, want %q", ingest.SessionID(sess), ev.SessionID)
	}
	ingest.ReportLink(sess, ingest.LinkStats{RTT: time.Millisecond})
	if v := metricValue(t, f.reg, "liveorigin_webhook_requests_total", map[string]string{"hook": "auth", "event": "publish", "result": "ok"}); v != 1 {
		t.Errorf("requests ok = %v", v)
	}
	if v := metricValue(t, f.reg, "liveorigin_webhook_duration_seconds", map[string]string{"hook": "auth", "event": "publish"}); v != 1 {
		t.Errorf("duration count = %v", v)
	}
	sess.Close(nil)
}

// The signature follows the documented recipe with the real clock too.
func TestSignatureRecipe(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	f := newFixture(t, []Config{hookConfig("auth", rc, EventPublish)}, Options{})
	if _, err := NewPublisher(&fakePublisher{}, f.d).Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "srt"}); err != nil {
		t.Fatal(err)
	}
	h := recv(t, rc.hits, "the publish request")
	verifyAsDocumented(t, h, testSecret)
	body := append([]byte(nil), h.Body...)
	body[len(body)-2] ^= 1
	if err := Verify([]byte(testSecret), h.Header.Get(HeaderTimestamp), h.Header.Get(HeaderSignature), body, time.Now(), time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a changed body verifies: %v", err)
	}
	if err := Verify([]byte(testSecret), h.Header.Get(HeaderTimestamp), h.Header.Get(HeaderSignature), h.Body, time.Now().Add(10*time.Minute), 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a replay 10 minutes later verifies: %v", err)
	}
	if err := Verify([]byte("another-secret-0123"), h.Header.Get(HeaderTimestamp), h.Header.Get(HeaderSignature), h.Body, time.Now(), time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another secret verifies: %v", err)
	}
}

// What each answer of a publish hook does, with on-error refuse (the
// default: fail closed) and allow.
func TestPublishDecisions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(*http.Request, Event) int
		onError string
		allowed bool
		result  string
	}{
		{"200 allows", status(200), "", true, resultOK},
		{"204 allows", status(204), "", true, resultOK},
		{"401 refuses", status(401), "", false, resultRefused},
		{"403 refuses", status(403), "", false, resultRefused},
		{"403 refuses even with on-error allow", status(403), "allow", false, resultRefused},
		{"500 fails closed", status(500), "", false, resultFailed},
		{"404 fails closed", status(404), "refuse", false, resultFailed},
		{"302 fails closed", status(302), "", false, resultFailed},
		{"timeout fails closed", hang, "", false, resultFailed},
		{"500 fails open", status(500), "allow", true, resultFailed},
		{"timeout fails open", hang, "allow", true, resultFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.answer)
			c := hookConfig("auth", rc, EventPublish)
			c.OnError, c.Timeout = tc.onError, 100*time.Millisecond
			f := newFixture(t, []Config{c}, Options{})
			next := &fakePublisher{}
			sess, err := NewPublisher(next, f.d).Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp"})
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				sess.Close(nil)
			} else {
				if !errors.Is(err, ingest.ErrRefused) {
					t.Fatalf("err = %v, want ErrRefused", err)
				}
				if len(next.published()) != 0 {
					t.Error("a refused publisher reached the packager")
				}
				if strings.Contains(err.Error(), rc.srv.URL) || strings.Contains(err.Error(), "auth") {
					t.Errorf("the publisher's error names the hook: %v", err)
				}
			}
			if v := metricValue(t, f.reg, "liveorigin_webhook_requests_total", map[string]string{"hook": "auth", "event": "publish", "result": tc.result}); v != 1 {
				t.Errorf("result %s = %v, want 1", tc.result, v)
			}
		})
	}
}

// A slow publish hook delays only its own publisher.
func TestSlowPublishHookBlocksNoOtherPublisher(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(r *http.Request, ev Event) int {
		if ev.Stream == "slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return http.StatusNoContent
	})
	c := hookConfig("auth", rc, EventPublish)
	c.Timeout = time.Minute
	f := newFixture(t, []Config{c}, Options{})
	pub := NewPublisher(&fakePublisher{}, f.d)
	slowDone := make(chan error, 1)
	go func() {
		_, err := pub.Publish(context.Background(), ingest.PublishInfo{Name: "slow", Protocol: "rtmp"})
		slowDone <- err
	}()
	if h := recv(t, rc.arrived, "the slow request"); h.Event.Stream != "slow" {
		t.Fatalf("unexpected %+v", h.Event)
	}
	// The slow request is held by the receiver; a second stream's
	// publish goes through meanwhile.
	for i := 0; i < 3; i++ {
		if _, err := pub.Publish(context.Background(), ingest.PublishInfo{Name: "fast", Protocol: "rtmp"}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-slowDone:
		t.Fatalf("the slow publish finished early: %v", err)
	default:
	}
	close(release)
	if err := recv(t, slowDone, "the slow publish"); err != nil {
		t.Fatal(err)
	}
}

// A publisher that goes away while its hook is asked is not left waiting
// for the hook's timeout.
func TestPublishAbandonedByPublisher(t *testing.T) {
	rc := newReceiver(t, hang)
	c := hookConfig("auth", rc, EventPublish)
	c.Timeout = time.Minute
	f := newFixture(t, []Config{c}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := NewPublisher(&fakePublisher{}, f.d).Publish(ctx, ingest.PublishInfo{Name: "demo", Protocol: "rtmp"})
		done <- err
	}()
	recv(t, rc.arrived, "the publish request")
	cancel()
	if err := recv(t, done, "Publish to return"); !errors.Is(err, ingest.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// Without a publish hook, Publish goes straight to the packager.
func TestPublishWithoutPublishHook(t *testing.T) {
	rc := newReceiver(t, status(204))
	f := newFixture(t, []Config{hookConfig("audit", rc, EventUnpublish)}, Options{})
	next := &fakePublisher{}
	sess, err := NewPublisher(next, f.d).Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	sess.Close(errors.New("connection reset"))
	h := recv(t, rc.hits, "unpublish")
	if h.Event.Event != "unpublish" || h.Event.Error != "connection reset" || h.Event.SessionID != next.published()[0].SessionID {
		t.Errorf("unpublish %+v", h.Event)
	}
}

// Every publish a hook allowed gets one unpublish: on Close (once), and
// when the packager refused it after the hooks allowed it.
func TestUnpublishFollowsEveryAllowedPublish(t *testing.T) {
	rc := newReceiver(t, status(204))
	f := newFixture(t, []Config{hookConfig("all", rc, EventPublish, EventUnpublish, EventStreamEnd)}, Options{
		TraceParent: func(context.Context) string { return testTraceParent },
	})
	next := &fakePublisher{}
	pub := NewPublisher(next, f.d)
	sess, err := pub.Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "srt", RemoteAddr: "198.51.100.1:4000",
		Query: url.Values{"key": {"k"}}})
	if err != nil {
		t.Fatal(err)
	}
	publish := recv(t, rc.hits, "publish").Event
	sess.Close(nil)
	sess.Close(nil)
	h := recv(t, rc.hits, "unpublish")
	un := h.Event
	if un.Event != "unpublish" || un.SessionID != publish.SessionID || un.Protocol != "srt" || un.RemoteAddr != "198.51.100.1:4000" || un.Query != nil || un.Error != "" {
		t.Errorf("unpublish %+v", un)
	}
	if h.Header.Get("traceparent") != testTraceParent {
		t.Errorf("unpublish traceparent %q", h.Header.Get("traceparent"))
	}
	verifyAsDocumented(t, h, testSecret)

	f.d.StreamEnded("demo")
	end := recv(t, rc.hits, "stream_end").Event
	if end.Event != "stream_end" || end.Stream != "demo" || end.SessionID != publish.SessionID || end.Protocol != "srt" {
		t.Errorf("stream_end %+v", end)
	}

	next.refuse = ingest.ErrAlreadyPublishing
	if _, err := pub.Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp"}); !errors.Is(err, ingest.ErrAlreadyPublishing) {
		t.Fatalf("err = %v", err)
	}
	p2 := recv(t, rc.hits, "second publish").Event
	u2 := recv(t, rc.hits, "its unpublish").Event
	if u2.Event != "unpublish" || u2.SessionID != p2.SessionID || !strings.Contains(u2.Error, "already being published") {
		t.Errorf("unpublish of a refused publish %+v", u2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := f.d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rc.requests()); n != 5 {
		t.Errorf("%d requests, want 5 (one unpublish per session)", n)
	}
}

// The stream_end bookkeeping forgets a stream once its session closed and
// it ended, in either order (a takedown ends the stream first).
func TestSessionBookkeeping(t *testing.T) {
	rc := newReceiver(t, status(204))
	f := newFixture(t, []Config{hookConfig("end", rc, EventStreamEnd)}, Options{})
	pub := NewPublisher(&fakePublisher{}, f.d)
	entries := func() int {
		f.d.smu.Lock()
		defer f.d.smu.Unlock()
		return len(f.d.sessions)
	}
	// Usual order: the publisher leaves, the grace expires.
	s1, err := pub.Publish(context.Background(), publishInfo("a"))
	if err != nil {
		t.Fatal(err)
	}
	s1.Close(nil)
	f.d.StreamEnded("a")
	if ev := recv(t, rc.hits, "stream_end a").Event; ev.SessionID != ingest.SessionID(s1) {
		t.Errorf("stream_end %+v", ev)
	}
	// Takedown: the stream ends, then the adapter closes the session.
	s2, err := pub.Publish(context.Background(), publishInfo("b"))
	if err != nil {
		t.Fatal(err)
	}
	f.d.StreamEnded("b")
	if ev := recv(t, rc.hits, "stream_end b").Event; ev.SessionID != ingest.SessionID(s2) {
		t.Errorf("stream_end %+v", ev)
	}
	if n := entries(); n != 1 {
		t.Errorf("%d entries while b's session is open, want 1", n)
	}
	s2.Close(errors.New("taken down"))
	if n := entries(); n != 0 {
		t.Errorf("%d entries left, want 0", n)
	}
}
