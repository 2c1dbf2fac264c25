package rtmp

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// conn wraps an accepted TCP connection. go-rtmp reads and writes through
// it, which lets us apply our timeouts (go-rtmp has none), count bytes and
// learn why reading stopped. The server tracks conns so that Close can cut
// them and wait for their goroutines.
type conn struct {
	net.Conn
	s           *Server
	readTimeout time.Duration

	// handshaken switches from the handshake deadline to per-operation
	// deadlines; the writer goroutine of go-rtmp reads it.
	handshaken atomic.Bool
	// shutdown is set when the server cut the connection.
	shutdown atomic.Bool

	// Read by the connection goroutine only.
	bytesRead int64
	readErr   error

	closeOnce sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	if c.handshaken.Load() {
		// A publisher that stops sending is cut off.
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout))
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.bytesRead += int64(n)
		c.s.metrics.bytesReceived.Add(float64(n))
	}
	if err != nil && c.readErr == nil {
		c.readErr = err
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	if c.handshaken.Load() {
		// A publisher that does not read our acknowledgements must not
		// block go-rtmp's writer goroutine forever.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.readTimeout))
	}
	return c.Conn.Write(p)
}

// Close is called by go-rtmp once, as the very last step of ending the
// connection; from then on the connection goroutine only returns.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.s.untrack(c) })
	return err
}

// cut closes the socket so that go-rtmp's loop ends; used by Server.Close.
func (c *conn) cut() {
	c.shutdown.Store(true)
	_ = c.Conn.Close()
}

// timedOut reports whether reading stopped on a deadline.
func (c *conn) timedOut() bool {
	var ne net.Error
	return errors.As(c.readErr, &ne) && ne.Timeout()
}

// libraryLog is go-rtmp's logrus logger for one connection: it prints
// nothing, but keeps the error that ended the connection, which go-rtmp
// only logs, so that our own log line can say what went wrong.
type libraryLog struct {
	mu  sync.Mutex
	err string // first line of the error
	// panicked is set when the error came from a recovered panic.
	panicked bool
}

func newLibraryLogger() (*logrus.Logger, *libraryLog) {
	ll := &libraryLog{}
	l := logrus.New()
	l.Out = io.Discard
	l.Level = logrus.ErrorLevel // skip formatting go-rtmp's chatter
	l.AddHook(ll)
	return l, ll
}

func (ll *libraryLog) Levels() []logrus.Level {
	return []logrus.Level{logrus.ErrorLevel}
}

func (ll *libraryLog) Fire(e *logrus.Entry) error {
	const prefix = "Server closed by error: Err = "
	msg, ok := strings.CutPrefix(e.Message, prefix)
	if !ok {
		return nil
	}
	ll.mu.Lock()
	defer ll.mu.Unlock()
	// go-rtmp turns panics into errors carrying the stack (%+v); the
	// stack of a recovered panic runs through runtime.gopanic.
	ll.panicked = strings.Contains(msg, "runtime.gopanic")
	ll.err = errorMessages(msg)
	return nil
}

// errorMessages keeps the messages of a pkg/errors chain printed with %+v
// and drops its stack traces (a function name line followed by a tab-led
// file:line line), outermost message first: "Failed to decode 'publish'
// args[1]: Not assignable to receiver value".
func errorMessages(s string) string {
	lines := strings.Split(s, "\n")
	var msgs []string
	for i, l := range lines {
		frame := i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t")
		if l == "" || strings.HasPrefix(l, "\t") || frame {
			continue
		}
		msgs = append(msgs, l)
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return strings.Join(msgs, ": ")
}

func (ll *libraryLog) result() (string, bool) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	return ll.err, ll.panicked
}
