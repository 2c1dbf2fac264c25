package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/hooks"
	"github.com/liveorigin/liveorigin/packager"
)

// lineLog is a log sink that also hands every line to waiters.
type lineLog struct {
	syncBuffer
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on each write
}

func newLineLog() *lineLog { return &lineLog{more: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	n, err := l.syncBuffer.Write(p)
	l.mu.Lock()
	l.lines = append(l.lines, strings.Split(strings.TrimRight(string(p), "\n"), "\n")...)
	close(l.more)
	l.more = make(chan struct{})
	l.mu.Unlock()
	return n, err
}

// wait returns the first line from index from on that contains want, and
// the index after it.
func (l *lineLog) wait(t *testing.T, from int, want string) (string, int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], want) {
				line := l.lines[i]
				l.mu.Unlock()
				return line, i + 1
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no log line with %q", want)
		}
	}
}

func (l *lineLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// fileApp is a liveorigin started as run starts it, from a config file
// (and an environment), so that it can reload.
type fileApp struct {
	*testApp
	file  string
	lines *lineLog
	env   func(string) string
}

// startFromFile starts liveorigin with --config file; listeners are on
// ports chosen by the OS (the file must say 127.0.0.1:0).
func startFromFile(t *testing.T, body string, env map[string]string) *fileApp {
	t.Helper()
	file := filepath.Join(t.TempDir(), "liveorigin.yaml")
	writeConfig(t, file, body)
	args := []string{"--config", file}
	getenv := envMap(env)
	cfg, errs := loadConfig(args, getenv, io.Discard)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	logs := newLineLog()
	level := new(slog.LevelVar)
	a, err := newApp(cfg, newLogger(cfg, level, logs))
	if err != nil {
		t.Fatal(err)
	}
	a.enableReload(func() (Config, []error) { return loadConfig(args, getenv, io.Discard) }, level)
	if err := a.listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testApp{
		app:     a,
		base:    "http://" + a.httpLn.Addr().String(),
		admin:   "http://" + a.adminLn.Addr().String(),
		rtmpURL: "rtmp://" + a.rtmp.Addr().String() + "/live/",
		done:    make(chan error, 1),
		cancel:  cancel,
		logs:    &logs.syncBuffer,
	}
	go func() { ta.done <- a.serve(ctx) }()
	t.Cleanup(func() {
		ta.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &fileApp{testApp: ta, file: file, lines: logs, env: getenv}
}

func writeConfig(t *testing.T, file, body string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// listeners is the part of every test config that puts the listeners on
// ports chosen by the OS.
const listeners = `rtmp-addr: 127.0.0.1:0
srt-addr: 127.0.0.1:0
rtsp-addr: 127.0.0.1:0
rtsp-udp-rtp-addr: ""
rtsp-udp-rtcp-addr: ""
http-addr: 127.0.0.1:0
admin-addr: 127.0.0.1:0
log-format: json
`

// eventReceiver is a webhook endpoint that records the events it gets.
type eventReceiver struct {
	*httptest.Server
	events chan hooks.Event
	secret string
	t      *testing.T
}

func newEventReceiver(t *testing.T, secret string, answer func(hooks.Event) int) *eventReceiver {
	t.Helper()
	r := &eventReceiver{events: make(chan hooks.Event, 100), secret: secret, t: t}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := hooks.Verify([]byte(secret), req.Header.Get(hooks.HeaderTimestamp), req.Header.Get(hooks.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook request does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev hooks.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body: %v: %s", err, body)
		}
		code := http.StatusNoContent
		if answer != nil {
			code = answer(ev)
		}
		w.WriteHeader(code)
		r.events <- ev
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next event of the given kind (others are skipped).
func (r *eventReceiver) next(kind string) hooks.Event {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-r.events:
			if ev.Event == kind {
				return ev
			}
		case <-deadline:
			r.t.Fatalf("no %s webhook", kind)
		}
	}
}

func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func adminJSON(t *testing.T, method, url, token string, body ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if len(body) > 0 {
		rd = strings.NewReader(body[0])
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return resp.StatusCode, doc
}

func stringList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

const (
	token1 = "admin-token-one-0123456789"
	token2 = "admin-token-two-0123456789"
	hookS  = "hook-secret-0123456789abcdef"
)

// A reload through the API applies the live options (log level, admin
// token, CORS origin, origin secret, webhooks), reports a listener change
// as needing a restart, and refuses a bad configuration whole.
func TestReloadThroughAPI(t *testing.T) {
	hookA := newEventReceiver(t, hookS, nil)
	hookB := newEventReceiver(t, hookS, nil)
	sec := secretFile(t, hookS)
	webhook := func(url string) string {
		return "webhooks:\n  - name: audit\n    url: " + url + "\n    events: [stream_end]\n    secret-file: " + sec + "\n"
	}
	v1 := listeners + "log-level: info\nadmin-token: " + token1 + "\n" + webhook(hookA.URL)
	a := startFromFile(t, v1, nil)
	rtmpAddr := a.rtmp.Addr().String()

	a.log.Debug("probe before the reload")
	if strings.Contains(a.lines.String(), "probe before the reload") {
		t.Fatal("a debug line at level info")
	}
	a.hooks.StreamEnded("s1")
	if ev := hookA.next("stream_end"); ev.Stream != "s1" {
		t.Fatalf("hook A got %+v", ev)
	}

	// Without the token (or with none configured) a reload is refused.
	if code, _ := adminJSON(t, "POST", a.admin+"/api/v1/reload", ""); code != http.StatusUnauthorized {
		t.Fatalf("reload without the token: %d", code)
	}

	purges := make(chan string, 10)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		purges <- r.Method + " " + r.URL.Path
	}))
	defer cdn.Close()
	v2 := strings.Replace(listeners, "rtmp-addr: 127.0.0.1:0", "rtmp-addr: 127.0.0.1:1", 1) +
		"log-level: debug\nadmin-token: " + token2 + "\ncors-origin: https://player.example\norigin-secret: origin-secret-0123456789\n" +
		webhook(hookB.URL) + "purge:\n  - name: cache\n    type: http\n    url: " + cdn.URL + "/purge{path}\n"
	writeConfig(t, a.file, v2)
	code, doc := adminJSON(t, "POST", a.admin+"/api/v1/reload", token1)
	if code != http.StatusOK || doc["reloaded"] != true {
		t.Fatalf("reload: %d %v", code, doc)
	}
	applied := stringList(doc["applied"])
	for _, want := range []string{"webhooks", "purge", "log-level", "admin-token", "cors-origin", "origin-secret"} {
		if !slices.Contains(applied, want) {
			t.Errorf("applied %v lacks %s", applied, want)
		}
	}
	if nr := stringList(doc["needs_restart"]); !slices.Equal(nr, []string{"rtmp-addr"}) {
		t.Errorf("needs_restart %v, want [rtmp-addr]", nr)
	}
	if got := a.rtmp.Addr().String(); got != rtmpAddr {
		t.Errorf("RTMP moved to %s", got)
	}

	// The new log level.
	a.log.Debug("probe after the reload")
	a.lines.wait(t, 0, "probe after the reload")
	// The new admin token.
	if code, _ := adminJSON(t, "GET", a.admin+"/api/v1/streams", token1); code != http.StatusUnauthorized {
		t.Errorf("the old token: %d", code)
	}
	if code, _ := adminJSON(t, "GET", a.admin+"/api/v1/streams", token2); code != http.StatusOK {
		t.Errorf("the new token: %d", code)
	}
	// The origin secret and the CORS origin.
	if code, _, _ := get(t, a.base+"/time"); code != http.StatusForbidden {
		t.Errorf("playback without the new origin secret: %d", code)
	}
	req, _ := http.NewRequest("GET", a.base+"/time", nil)
	req.Header.Set("X-Origin-Secret", "origin-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://player.example" {
		t.Errorf("playback with the secret: %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// The new purge backend, its metrics in place of the old queue's.
	if code, doc := adminJSON(t, "POST", a.admin+"/api/v1/purge", token2, `{"stream": "s2"}`); code != http.StatusAccepted ||
		!slices.Equal(stringList(doc["backends"]), []string{"cache"}) {
		t.Errorf("purge: %d %v", code, doc)
	}
	select {
	case got := <-purges:
		if got != "PURGE /purge/live/s2/" {
			t.Errorf("the CDN got %q", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no purge reached the new backend")
	}
	if m := string(mustGet(t, a.admin+"/metrics")); !strings.Contains(m, `liveorigin_purge_queue_length{backend="cache"}`) {
		t.Error("/metrics lacks the new purge backend's series")
	}
	// The new webhook.
	a.hooks.StreamEnded("s2")
	if ev := hookB.next("stream_end"); ev.Stream != "s2" {
		t.Errorf("hook B got %+v", ev)
	}

	// A bad configuration is refused, one error per problem; the running
	// one stays.
	writeConfig(t, a.file, listeners+"log-level: info\nwindow: forever\nadmin-token: "+token1+"\n"+
		"webhooks:\n  - url: "+hookA.URL+"\n    events: [stream_end]\n    secret-file: /nonexistent/secret\n")
	code, doc = adminJSON(t, "POST", a.admin+"/api/v1/reload", token2)
	problems := stringList(doc["errors"])
	if code != http.StatusUnprocessableEntity || doc["reloaded"] != false || len(problems) != 1 ||
		!strings.Contains(problems[0], `window: "forever" is not a duration`) {
		t.Fatalf("bad config: %d %v", code, doc)
	}
	writeConfig(t, a.file, listeners+"log-level: info\nadmin-token: "+token1+"\n"+
		"webhooks:\n  - url: "+hookA.URL+"\n    events: [stream_end, play]\n    secret-file: /nonexistent/secret\n")
	code, doc = adminJSON(t, "POST", a.admin+"/api/v1/reload", token2)
	problems = stringList(doc["errors"])
	if code != http.StatusUnprocessableEntity || len(problems) != 2 ||
		!strings.Contains(problems[0], `unknown event "play"`) || !strings.Contains(problems[1], "secret-file: open /nonexistent/secret") {
		t.Fatalf("bad webhooks: %d %v", code, doc)
	}
	a.lines.wait(t, 0, "configuration reload refused")
	if code, _ := adminJSON(t, "GET", a.admin+"/api/v1/streams", token2); code != http.StatusOK {
		t.Errorf("the running token after a refused reload: %d", code)
	}
	a.log.Debug("probe after the refusal")
	a.lines.wait(t, 0, "probe after the refusal")
	a.hooks.StreamEnded("s3")
	if ev := hookB.next("stream_end"); ev.Stream != "s3" {
		t.Errorf("hook B got %+v", ev)
	}
	for _, s := range []string{token1, token2, hookS, "origin-secret-0123456789"} {
		if strings.Contains(a.lines.String(), s) {
			t.Errorf("the log shows a secret %q", s)
		}
	}
}

// SIGHUP reloads through the same path as run: the signal is caught by
// reloadOnSignal (as run wires it) and the new log level is in effect.
func TestReloadOnSIGHUP(t *testing.T) {
	a := startFromFile(t, listeners+"log-level: warn\n", nil)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(context.Background())
	done := reloadOnSignal(ctx, hup, a.reloadConfig)
	defer func() { cancel(); <-done }()

	a.log.Info("probe at warn")
	writeConfig(t, a.file, listeners+"log-level: info\nsegment-target: 4s\n")
	from := a.lines.count()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload's own line is at info: visible only with the new level.
	line, _ := a.lines.wait(t, from, "configuration reloaded")
	if !strings.Contains(line, `"applied":["log-level"]`) || !strings.Contains(line, `"needs_restart":["segment-target"]`) {
		t.Errorf("reload line %s", line)
	}
	if strings.Contains(a.lines.String(), "probe at warn") {
		t.Error("an info line was logged at level warn")
	}
	a.lines.wait(t, from, `"options":["segment-target"]`) // the restart warning
}

// A publisher goes on across a reload: its stream keeps one period and
// session, and the session's unpublish goes to the webhook configured by
// the reload.
func TestReloadKeepsPublisher(t *testing.T) {
	requireTools(t, "ffmpeg")
	hook := newEventReceiver(t, hookS, nil)
	sec := secretFile(t, hookS)
	body := listeners + "segment-target: 1s\nwindow: 6s\nreconnect-grace: 1s\nadmin-token: " + token1 + "\n"
	a := startFromFile(t, body, nil)
	const name = "steady"
	pub := publish(t, a.rtmpURL+name, 7)
	before := waitFor(t, a.testApp, name, 20*time.Second, "two video segments", func(tl *packager.Timeline) bool {
		return len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) >= 2
	})
	session := streamSession(t, a, name)

	writeConfig(t, a.file, body+"log-level: debug\nwebhooks:\n  - url: "+hook.URL+"\n    events: [unpublish, stream_end]\n    secret-file: "+sec+"\n")
	if code, doc := adminJSON(t, "POST", a.admin+"/api/v1/reload", token1); code != http.StatusOK {
		t.Fatalf("reload: %d %v", code, doc)
	}
	seq := before.Tracks[0].Segments[len(before.Tracks[0].Segments)-1].Seq
	after := waitFor(t, a.testApp, name, 20*time.Second, "three more segments after the reload", func(tl *packager.Timeline) bool {
		segs := tl.Tracks[0].Segments
		return len(segs) > 0 && segs[len(segs)-1].Seq >= seq+3
	})
	if len(after.Periods) != 1 {
		t.Errorf("%d periods after the reload, want 1 (the publisher was not dropped)", len(after.Periods))
	}
	if s := streamSession(t, a, name); s != session {
		t.Errorf("session %s after the reload, was %s", s, session)
	}
	if err := pub.Wait(); err != nil {
		t.Errorf("ffmpeg: %v", err)
	}
	un := hook.next("unpublish")
	if un.Stream != name || un.SessionID != session || un.Protocol != "rtmp" {
		t.Errorf("unpublish %+v, want session %s", un, session)
	}
	if end := hook.next("stream_end"); end.Stream != name || end.SessionID != session {
		t.Errorf("stream_end %+v", end)
	}
}

// streamSession is the stream's session id in the admin API.
func streamSession(t *testing.T, a *fileApp, name string) string {
	t.Helper()
	code, doc := adminJSON(t, "GET", a.admin+"/api/v1/streams/"+name, token1)
	s, _ := doc["session_id"].(string)
	if code != http.StatusOK || s == "" {
		t.Fatalf("GET /api/v1/streams/%s: %d %v", name, code, doc)
	}
	return s
}

// The webhooks: list of the config file, and its mistakes.
func TestConfigWebhooks(t *testing.T) {
	file := writeFile(t, "webhooks:\n  - name: auth\n    url: https://auth.example.com/hook\n    events: [publish]\n    secret-env: HOOK_SECRET\n    timeout: 1500ms\n    on-error: allow\n")
	cfg, errs := loadConfig(nil, envMap(map[string]string{"LIVEORIGIN_CONFIG": file}), io.Discard)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Name != "auth" || cfg.Webhooks[0].Timeout != 1500*time.Millisecond ||
		cfg.Webhooks[0].OnError != "allow" || !slices.Equal(cfg.Webhooks[0].Events, []string{"publish"}) {
		t.Errorf("webhooks %+v", cfg.Webhooks)
	}
	for _, tc := range []struct{ file, want string }{
		{"webhooks:\n  url: http://x\n", "webhooks: want a list of hooks"},
		{"webhooks:\n  - url: http://x\n    secrets: abc\n", "field secrets not found"},
	} {
		_, errs := loadConfig(nil, envMap(map[string]string{"LIVEORIGIN_CONFIG": writeFile(t, tc.file)}), io.Discard)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.file, errs, tc.want)
		}
	}
	// A hook's problems stop the start, one line each.
	var stderr strings.Builder
	code := run([]string{"--config", writeFile(t, listeners+"webhooks:\n  - url: http://127.0.0.1:9/x\n    events: [publish, play]\n")}, envMap(nil), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `liveorigin: config: webhooks 127.0.0.1:9: unknown event "play"`) ||
		!strings.Contains(stderr.String(), "liveorigin: config: webhooks 127.0.0.1:9: secret-env or secret-file is required") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// Every option that a reload applies is named in docs/reload.md (an
// option not marked live needs a restart, which the page says of every
// other option).
func TestReloadDocCoversLiveOptions(t *testing.T) {
	doc, err := os.ReadFile("../../docs/reload.md")
	if err != nil {
		t.Fatal(err)
	}
	runtime, restart, ok := strings.Cut(string(doc), "## What needs a restart")
	if !ok {
		t.Fatal(`docs/reload.md lacks "## What needs a restart"`)
	}
	for _, o := range options() {
		if o.live && !strings.Contains(runtime, "`"+o.name+"`") {
			t.Errorf("docs/reload.md does not name the live option %s under what changes at runtime", o.name)
		}
		if o.live && strings.Contains(restart, "`"+o.name+"`") {
			t.Errorf("docs/reload.md says the live option %s needs a restart", o.name)
		}
	}
	for _, w := range []string{"`purge`", "`webhooks`"} {
		if !strings.Contains(string(doc), w) {
			t.Errorf("docs/reload.md does not name %s", w)
		}
	}
}

// A reload re-reads a secret file: a hook's rotated key is used at once,
// with an unchanged config file. A reload that changes nothing rebuilds
// nothing.
func TestReloadRereadsSecretFiles(t *testing.T) {
	const rotated = "hook-secret-rotated-9876543210"
	var mu sync.Mutex
	secret := hookS
	got := make(chan bool, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		key := secret
		mu.Unlock()
		got <- hooks.Verify([]byte(key), r.Header.Get(hooks.HeaderTimestamp), r.Header.Get(hooks.HeaderSignature), body, time.Now(), time.Minute) == nil
	}))
	defer srv.Close()
	sec := secretFile(t, hookS)
	a := startFromFile(t, listeners+"admin-token: "+token1+"\nwebhooks:\n  - url: "+srv.URL+"\n    events: [stream_end]\n    secret-file: "+sec+"\n", nil)
	if code, doc := adminJSON(t, "POST", a.admin+"/api/v1/reload", token1); code != http.StatusOK || len(stringList(doc["applied"])) != 0 {
		t.Errorf("a reload without changes: %d %v", code, doc)
	}
	if err := os.WriteFile(sec, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = rotated
	mu.Unlock()
	if code, doc := adminJSON(t, "POST", a.admin+"/api/v1/reload", token1); code != http.StatusOK || !slices.Equal(stringList(doc["applied"]), []string{"webhooks"}) {
		t.Errorf("a reload after the rotation: %d %v", code, doc)
	}
	a.hooks.StreamEnded("demo")
	select {
	case ok := <-got:
		if !ok {
			t.Error("the hook's request is not signed with the rotated key")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook")
	}
}

// A reload replaces the SRT passphrases (the next callers use the new one)
// and the RTSP pull sources (a removed camera stops, a new one starts)
// without a restart.
func TestReloadSRTPassphraseAndPulls(t *testing.T) {
	requireTools(t, "ffmpeg")
	const oldPass, newPass = "old-srt-passphrase", "new-srt-passphrase"
	config := func(pass, pullName, pullPath string) string {
		return listeners + "admin-token: " + token1 + "\nsegment-target: 1s\nsrt-passphrase: " + pass +
			"\nrtsp-pull:\n  " + pullName + ": rtsp://viewer:cam-password@127.0.0.1:1/" + pullPath + "\n"
	}
	a := startFromFile(t, config(oldPass, "door", "door"), nil)
	pullNames := func() []string {
		_, doc := adminJSON(t, "GET", a.admin+"/api/v1/streams", token1)
		var names []string
		for _, p := range doc["pull_sources"].([]any) {
			names = append(names, p.(map[string]any)["name"].(string))
		}
		return names
	}
	if got := pullNames(); !slices.Equal(got, []string{"door"}) {
		t.Fatalf("pull sources %v before the reload", got)
	}

	writeConfig(t, a.file, config(newPass, "yard", "yard"))
	code, doc := adminJSON(t, "POST", a.admin+"/api/v1/reload", token1)
	if code != http.StatusOK {
		t.Fatalf("reload: %d %v", code, doc)
	}
	if applied := stringList(doc["applied"]); !slices.Contains(applied, "srt-passphrase") || !slices.Contains(applied, "rtsp-pull") {
		t.Errorf("applied %v, want srt-passphrase and rtsp-pull", applied)
	}
	if nr := stringList(doc["needs_restart"]); len(nr) != 0 {
		t.Errorf("needs_restart %v", nr)
	}
	if got := pullNames(); !slices.Equal(got, []string{"yard"}) {
		t.Errorf("pull sources %v after the reload, want [yard]", got)
	}
	a.lines.wait(t, 0, "rtsp pull stopped by a configuration reload")

	srtPublish := func(name, pass string) ([]byte, error) {
		u := "srt://" + a.srt.Addr().String() + "?streamid=publish:live/" + name + "&passphrase=" + pass + "&pbkeylen=16"
		return ffmpegCommand("-hide_banner", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "3",
			"-c:v", "libx264", "-g", "10", "-f", "mpegts", u).CombinedOutput()
	}
	if out, err := srtPublish("old", oldPass); err == nil {
		t.Errorf("the old SRT passphrase still works: %s", out)
	}
	if out, err := srtPublish("new", newPass); err != nil {
		t.Errorf("the new SRT passphrase: %v: %s", err, out)
	}
	if _, err := a.registry.Timeline("new"); err != nil {
		t.Errorf("no stream from the new passphrase: %v", err)
	}
	for _, secret := range []string{oldPass, newPass, "cam-password"} {
		if strings.Contains(a.logs.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}
