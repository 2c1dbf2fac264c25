package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

const (
	firstKey     = "first-key-5d1e0c7b2a9f"
	secondOldKey = "second-old-key-93c2aa10"
	secondNewKey = "second-new-key-4be87f61"
	firstNewKey  = "first-new-key-a07c3d58e1"
)

// Stream keys with real ffmpeg publishers over RTMP, and their reload (the
// function SIGHUP calls): a wrong key is refused, the right one publishes;
// after a reload that changes the keys, the old key is refused and the new
// one works for a second stream while the first, published before the
// reload, goes on in the same period and session.
func TestPublishAuthKeysWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	base := listeners + "segment-target: 1s\nwindow: 6s\nreconnect-grace: 1s\nadmin-token: " + token1 + "\npublish-auth: keys\n"
	a := startFromFile(t, base+"stream-key:\n  first: "+firstKey+"\n  second: "+secondOldKey+"\n", nil)

	// A wrong key: ffmpeg fails, no stream.
	if err := waitExit(t, publish(t, a.rtmpURL+"first?key="+secondOldKey, 5)); err == nil {
		t.Error("ffmpeg published with a wrong key")
	}
	if _, err := a.registry.Timeline("first"); !errors.Is(err, packager.ErrNotFound) {
		t.Errorf("the refused stream exists: %v", err)
	}
	a.lines.wait(t, 0, `"reason":"wrong_key"`)

	// The right key: segments.
	first := publish(t, a.rtmpURL+"first?key="+firstKey, 12)
	before := waitFor(t, a.testApp, "first", 20*time.Second, "a video segment", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 1
	})
	session := streamSession(t, a, "first")

	// Reload with new keys.
	writeConfig(t, a.file, base+"stream-key:\n  first: "+firstNewKey+"\n  second: "+secondNewKey+"\n")
	res, err := a.reloadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Applied, ","), "stream-key") || len(res.NeedsRestart) != 0 {
		t.Errorf("reload result %+v", res)
	}
	if err := waitExit(t, publish(t, a.rtmpURL+"second?key="+secondOldKey, 5)); err == nil {
		t.Error("ffmpeg published with the key the reload replaced")
	}
	second := publish(t, a.rtmpURL+"second?key="+secondNewKey, 4)
	waitFor(t, a.testApp, "second", 20*time.Second, "a video segment of the second stream", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 1
	})

	// The first stream went on: more segments, one period, one session.
	seq := before.Tracks[0].Segments[len(before.Tracks[0].Segments)-1].Seq
	after := waitFor(t, a.testApp, "first", 20*time.Second, "more segments of the first stream after the reload", func(tl *packager.Timeline) bool {
		segs := tl.Tracks[0].Segments
		return len(segs) > 0 && segs[len(segs)-1].Seq >= seq+3
	})
	if len(after.Periods) != 1 {
		t.Errorf("%d periods, want 1: the first publisher was dropped", len(after.Periods))
	}
	if s := streamSession(t, a, "first"); s != session {
		t.Errorf("session %s after the reload, was %s", s, session)
	}
	if err := waitExit(t, second); err != nil {
		t.Errorf("second ffmpeg: %v", err)
	}
	if err := waitExit(t, first); err != nil {
		t.Errorf("first ffmpeg: %v", err)
	}

	metrics := string(mustGet(t, a.admin+"/metrics"))
	if want := `liveorigin_publish_auth_failures_total{protocol="rtmp",reason="wrong_key"} 2`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	for _, secret := range []string{firstKey, secondOldKey, secondNewKey, firstNewKey} {
		if strings.Contains(a.logs.String(), secret) {
			t.Errorf("the log shows the key %q", secret)
		}
	}
}

// SRT: the key is a parameter of the Access Control stream id
// (#!::r=live/NAME,m=publish,key=SECRET).
func TestPublishAuthSRTWithFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg")
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.PublishAuth = "keys"
		c.StreamKeys = map[string]string{"cam": firstKey}
	})
	srtPublish := func(key string, seconds string) ([]byte, error) {
		streamID := url.QueryEscape("#!::r=live/cam,m=publish,key=" + key)
		cmd := ffmpegCommand("-hide_banner", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", seconds,
			"-c:v", "libx264", "-g", "10", "-f", "mpegts", "srt://"+a.srt.Addr().String()+"?streamid="+streamID)
		return cmd.CombinedOutput()
	}
	if out, err := srtPublish(secondOldKey, "2"); err == nil {
		t.Errorf("ffmpeg published over SRT with a wrong key: %s", out)
	}
	if _, err := a.registry.Timeline("cam"); !errors.Is(err, packager.ErrNotFound) {
		t.Errorf("the refused stream exists: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		out, err := srtPublish(firstKey, "4")
		if err != nil {
			err = errors.New(err.Error() + ": " + string(out))
		}
		done <- err
	}()
	waitFor(t, a, "cam", 20*time.Second, "a video segment over SRT", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) >= 1 && len(tl.Tracks[0].Segments) >= 1
	})
	if err := <-done; err != nil {
		t.Errorf("ffmpeg over SRT with the right key: %v", err)
	}
	if want := `liveorigin_publish_auth_failures_total{protocol="srt",reason="wrong_key"} 1`; !strings.Contains(string(mustGet(t, a.admin+"/metrics")), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if strings.Contains(a.logs.String(), firstKey) || strings.Contains(a.logs.String(), secondOldKey) {
		t.Error("the log shows a key")
	}
}

// Open publishing beyond loopback is announced at start; on loopback, or
// with keys, it is not.
func TestPublishAuthOpenWarning(t *testing.T) {
	const warning = "publishing is open to anyone who can reach"
	exposed := strings.Replace(listeners, "rtmp-addr: 127.0.0.1:0", "rtmp-addr: 0.0.0.0:0", 1)
	a := startFromFile(t, exposed, nil)
	line, _ := a.lines.wait(t, 0, warning)
	if !strings.Contains(line, "reach rtmp ") || strings.Contains(line, "srt ") || strings.Contains(line, "rtsp ") {
		t.Errorf("warning %q: want the RTMP listener only", line)
	}
	for _, body := range []string{listeners, exposed + "publish-auth: keys\nstream-key:\n  demo: " + firstKey + "\n"} {
		b := startFromFile(t, body, nil)
		b.lines.wait(t, 0, "liveorigin started")
		if strings.Contains(b.logs.String(), warning) {
			t.Errorf("warned with %q", body)
		}
	}
}

// publish-auth and stream-key from flags, the environment and the file,
// and their mistakes (which never show a key).
func TestPublishAuthConfig(t *testing.T) {
	cfg, errs := loadConfig([]string{"--publish-auth", "keys", "--stream-key", "a=" + firstKey},
		envMap(map[string]string{"LIVEORIGIN_STREAM_KEY": "b=" + secondOldKey + ",c=" + secondNewKey}), io.Discard)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if cfg.PublishAuth != "keys" || len(cfg.StreamKeys) != 3 || cfg.StreamKeys["a"] != firstKey || cfg.StreamKeys["c"] != secondNewKey {
		t.Errorf("config %q %d keys", cfg.PublishAuth, len(cfg.StreamKeys))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--publish-auth", "token"}, `publish-auth: "token" is not one of open, keys`},
		{[]string{"--publish-auth", "keys"}, "no stream-key is set"},
		{[]string{"--publish-auth", "keys", "--stream-key", "a=short-secret"}, "stream-key a: the key must be at least 16 characters (got 12)"},
		{[]string{"--stream-key", "a/b=" + firstKey}, "stream-key a/b:"},
		{[]string{"--stream-key", "short-secret"}, "--stream-key: want NAME=SECRET, got \"<redacted>\""},
	} {
		_, errs := loadConfig(tc.args, envMap(nil), io.Discard)
		got := fmt.Sprint(errs)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%v: %s, want %q", tc.args, got, tc.want)
		}
		if strings.Contains(got, "short-secret") || strings.Contains(got, firstKey) {
			t.Errorf("%v: an error shows the key: %s", tc.args, got)
		}
	}
}
