package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// gosrt's dialer can leave its UDP reader blocked (gosrt v0.11.0
	// dial.go); see cmd/liveorigin's TestMain.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/datarhei/gosrt.Dial.func1"))
}

// TestAgainstSubprocess runs some cases the way `make battery` runs them
// all: against a liveorigin binary the battery starts, stops with SIGTERM
// and watches for a panic. (TestHostileInputBattery in cmd/liveorigin runs
// every case against the daemon in-process.)
func TestAgainstSubprocess(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps`", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "liveorigin")
	if out, err := exec.Command("go", "build", "-o", bin, "../liveorigin").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout, stderr strings.Builder
	code := run([]string{"-liveorigin", bin, "-short", "-cases", "http/,rtmp/publish-clean-name,rtmp/amf0-huge-strict-array"}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != 0 {
		t.Fatalf("battery exited %d", code)
	}
	if !strings.Contains(stdout.String(), "\nPASS: 16 cases, 0 failed") {
		t.Errorf("no PASS summary for the 16 cases asked for")
	}
}

// TestCrashDetected: a server that writes a Go panic to its stderr is not
// alive, whatever its exit status.
func TestCrashDetected(t *testing.T) {
	script := filepath.Join(t.TempDir(), "fake-liveorigin")
	body := "#!/bin/sh\n" +
		`echo '{"msg":"liveorigin started","admin":"127.0.0.1:1"}' >&2` + "\n" +
		"read line\n" + // until the test closes stdin... it has none: returns at once
		"echo 'panic: runtime error: index out of range [3] with length 3' >&2\n" +
		"echo 'goroutine 1 [running]:' >&2\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := startServer(ctx, script, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.admin != "127.0.0.1:1" {
		t.Errorf("admin = %q from the start line", s.admin)
	}
	<-s.done
	err = s.alive()
	if err == nil || !strings.Contains(err.Error(), "panic: runtime error") || !strings.Contains(err.Error(), "goroutine 1") {
		t.Errorf("alive() = %v, want the panic", err)
	}
	if err := s.stop(time.Second); err == nil {
		t.Error("stop() = nil for a server that panicked")
	}
}
