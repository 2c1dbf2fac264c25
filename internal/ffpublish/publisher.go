// Package ffpublish runs ffmpeg publishing a generated live stream to an
// RTMP URL, for the programs that measure or attack liveorigin
// (cmd/llprobe, cmd/battery): a 30 fps test pattern (H.264, no B-frames,
// a key frame every GOP frames: what a low-latency encoder sends) and a
// sine tone (AAC), in real time (-re).
//
//	p, err := ffpublish.Start("ffmpeg", ffpublish.Options{Size: "1280x720", GOP: 60}, "rtmp://127.0.0.1:1935/live/demo")
//	if err != nil { ... }
//	defer p.Stop()
//	select {
//	case <-p.Done(): return p.Exited() // ffmpeg ended on its own
//	case <-ctx.Done():
//	}
package ffpublish

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Publisher is the ffmpeg process that publishes the generated stream.
type Publisher struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when ffmpeg has exited
	err    error         // its exit status; valid after done

	stopOnce sync.Once
	stopping atomic.Bool // set by Stop before it signals
}

// stopGrace is how long ffmpeg gets to end the RTMP session cleanly after
// SIGINT before it is killed.
const stopGrace = 5 * time.Second

// Options describe the generated stream.
type Options struct {
	// Size is WIDTHxHEIGHT.
	Size string
	// GOP is the key frame interval in frames (30 fps).
	GOP int
	// Kbps > 0 holds the video to that bitrate the way OBS does (constant
	// bitrate, a one-second buffer); 0 leaves x264 at its default quality,
	// whatever it costs (the test pattern then takes about 4.5 Mbit/s at
	// 720p).
	Kbps int
	// Preset is x264's preset; default veryfast. ultrafast takes about
	// a third of the CPU: for measurements on the machine under test.
	Preset string
}

// Start starts ffmpeg publishing a test pattern with a tone to url.
func Start(ffmpeg string, o Options, url string) (*Publisher, error) {
	if _, err := exec.LookPath(ffmpeg); err != nil {
		return nil, fmt.Errorf("%s not found: install it with `make deps` (Debian: apt-get install ffmpeg): %w", ffmpeg, err)
	}
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=" + o.Size + ":rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", o.Preset, "-tune", "zerolatency", "-g", strconv.Itoa(o.GOP), "-pix_fmt", "yuv420p"}
	if o.Kbps > 0 {
		rate := strconv.Itoa(o.Kbps) + "k"
		args = append(args, "-b:v", rate, "-maxrate", rate, "-bufsize", rate)
	}
	args = append(args, "-c:a", "aac", "-f", "flv", url)
	cmd := exec.Command(ffmpeg, args...)
	p := &Publisher{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	// Its own process group: a Ctrl-C at the terminal reaches the program,
	// which stops ffmpeg itself, after its clients.
	cmd.SysProcAttr = SysProcAttr()
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

// Done is closed when ffmpeg has exited.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Stderr returns what ffmpeg has said so far (the first 64 KiB).
func (p *Publisher) Stderr() string { return p.stderr.String() }

// Exited returns an error when ffmpeg ended without being asked to (call
// it after Done).
func (p *Publisher) Exited() error {
	if p.stopping.Load() {
		return nil
	}
	msg := strings.TrimSpace(p.stderr.String())
	if msg == "" {
		msg = "(no message)"
	}
	return fmt.Errorf("ffmpeg exited while publishing (%v): %s", p.err, msg)
}

// Stop asks ffmpeg to end (SIGINT: it closes the RTMP session cleanly),
// kills it if it has not after stopGrace, and waits for it.
func (p *Publisher) Stop() {
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
