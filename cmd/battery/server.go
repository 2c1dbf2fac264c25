package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/liveorigin/liveorigin/internal/ffpublish"
)

// server is a liveorigin the battery started: a subprocess on loopback
// ports the OS picks, logging JSON to a pipe the battery reads.
type server struct {
	cmd   *exec.Cmd
	admin string
	done  chan struct{} // closed when it has exited
	err   error         // its exit status; valid after done

	mu    sync.Mutex
	crash []string // the panic or fatal error lines and what follows
}

// startServer starts binary with loopback listeners and extra flags and
// waits for its "liveorigin started" log line, which names the admin
// listener.
func startServer(ctx context.Context, binary string, extra []string, log io.Writer) (*server, error) {
	args := []string{
		"--rtmp-addr", "127.0.0.1:0", "--srt-addr", "127.0.0.1:0", "--rtsp-addr", "127.0.0.1:0",
		"--rtsp-udp-rtp-addr", "", "--rtsp-udp-rtcp-addr", "",
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json",
	}
	cmd := exec.Command(binary, append(args, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = log
	cmd.SysProcAttr = ffpublish.SysProcAttr() // a Ctrl-C reaches the battery only
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	started := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.readLog(stderr, log, started)
	}()
	go func() {
		<-readDone // Wait closes the pipe: read it all first
		s.err = cmd.Wait()
		close(s.done)
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case s.admin = <-started:
		return s, nil
	case <-s.done:
		select {
		case s.admin = <-started: // started, then ended: alive() says so
			return s, nil
		default:
		}
		return nil, fmt.Errorf("%s exited at start (%v): %s", binary, s.err, strings.Join(s.crashLines(), "\n"))
	case <-t.C:
	case <-ctx.Done():
	}
	_ = s.stop(5 * time.Second)
	return nil, fmt.Errorf("%s did not log \"liveorigin started\" within 30s", binary)
}

// readLog copies the server's stderr to log, finds the start line and
// keeps any panic.
func (s *server) readLog(r io.Reader, log io.Writer, started chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		var entry struct {
			Msg   string `json:"msg"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil {
			if entry.Msg == "liveorigin started" && entry.Admin != "" {
				select {
				case started <- entry.Admin:
				default:
				}
			}
			continue
		}
		// Not a log line: the runtime's own output.
		s.mu.Lock()
		if len(s.crash) > 0 || strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
			if len(s.crash) < 60 {
				s.crash = append(s.crash, line)
			}
		}
		s.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (s *server) crashLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.crash...)
}

// alive reports whether the server is still running without a panic.
func (s *server) alive() error {
	if crash := s.crashLines(); len(crash) > 0 {
		return fmt.Errorf("liveorigin crashed:\n%s", strings.Join(crash, "\n"))
	}
	select {
	case <-s.done:
		return fmt.Errorf("liveorigin exited: %v", s.err)
	default:
		return nil
	}
}

// stop ends the server with SIGTERM, as an orchestrator does, and
// expects a clean exit within grace.
func (s *server) stop(grace time.Duration) error {
	select {
	case <-s.done:
	default:
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			_ = s.cmd.Process.Kill()
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			_ = s.cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("liveorigin did not stop within %v of SIGTERM", grace)
		}
	}
	if crash := s.crashLines(); len(crash) > 0 {
		return fmt.Errorf("liveorigin crashed:\n%s", strings.Join(crash, "\n"))
	}
	if s.err != nil {
		return fmt.Errorf("liveorigin exited with %v", s.err)
	}
	return nil
}
