package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// publisher is the ffmpeg process that publishes the generated stream: a
// 30 fps test pattern (H.264, key frame every 2 s, no B-frames: what a
// low-latency encoder sends) and a sine tone (AAC), in real time (-re).
type publisher struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when ffmpeg has exited
	err    error         // its exit status; valid after done

	stopOnce sync.Once
	stopping atomic.Bool // set by stop before it signals
}

// stopGrace is how long ffmpeg gets to end the RTMP session cleanly after
// SIGINT before it is killed.
const stopGrace = 5 * time.Second

func startPublisher(ffmpeg, size, url string) (*publisher, error) {
	if _, err := exec.LookPath(ffmpeg); err != nil {
		return nil, fmt.Errorf("%s not found: install it with `make deps` (Debian: apt-get install ffmpeg): %w", ffmpeg, err)
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "aac",
		"-f", "flv", url}
	cmd := exec.Command(ffmpeg, args...)
	p := &publisher{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	// Its own process group: a Ctrl-C at the terminal reaches the probe,
	// which stops ffmpeg itself, after the clients.
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", ffmpeg, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited returns an error when ffmpeg ended without being asked to.
func (p *publisher) exited() error {
	if p.stopping.Load() {
		return nil
	}
	msg := strings.TrimSpace(p.stderr.String())
	if msg == "" {
		msg = "(no message)"
	}
	return fmt.Errorf("ffmpeg exited while publishing (%v): %s", p.err, msg)
}

// stop asks ffmpeg to end (SIGINT: it closes the RTMP session cleanly),
// kills it if it has not after stopGrace, and waits for it.
func (p *publisher) stop() {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		select {
		case <-p.done:
			return
		default:
		}
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
			_ = p.cmd.Process.Kill()
		}
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// lockedBuffer is a goroutine-safe sink for ffmpeg's messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// maxMessages bounds what is kept of ffmpeg's messages.
const maxMessages = 64 << 10

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxMessages - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
