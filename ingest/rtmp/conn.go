package rtmp

import (
	"crypto/tls"
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

	// Used by the connection goroutine only.
	bytesRead int64
	readErr   error
	guard     *chunkGuard
	rejected  error // by the guard: a *demuxError

	// writeFailed is set, after writeErr, once a write failed; the
	// writer goroutine sets them, OnClose reads writeErr.
	writeFailed atomic.Bool
	mu          sync.Mutex // guards writeErr
	writeErr    error

	closeOnce sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	if c.rejected != nil {
		return 0, c.rejected
	}
	handshaken := c.handshaken.Load()
	if handshaken {
		// A publisher that stops sending is cut off.
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout))
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.bytesRead += int64(n)
		c.s.metrics.bytesReceived.Add(float64(n))
		// The handshake is read straight from here; the chunk stream
		// after it through go-rtmp's buffer, which must not see what the
		// guard rejects.
		if handshaken {
			if gerr := c.guard.check(p[:n]); gerr != nil {
				c.rejected = gerr
				return 0, gerr
			}
		}
	}
	if err != nil && c.readErr == nil {
		c.readErr = err
	}
	return n, err
}

// Write is called by go-rtmp's writer goroutine after the handshake (by
// the connection goroutine during it).
//
// go-rtmp's writer goroutine stops at its first failed write, and go-rtmp
// does not cope with that: a message queued after it is neither written
// nor released, so Conn.Close waits 3 s for it, and once 64 are queued the
// connection goroutine blocks for ever, and Server.Close with it (a
// publisher that asks for an acknowledgement of every byte, stops reading
// and goes away in the middle of a message:
// TestPublisherGoneWithAcksPending). So after the handshake a failed write
// closes the socket, which ends the connection at its next read, and
// reports success; later writes are discarded.
func (c *conn) Write(p []byte) (int, error) {
	if !c.handshaken.Load() {
		return c.Conn.Write(p)
	}
	if c.writeFailed.Load() {
		return len(p), nil
	}
	// A publisher that does not read our acknowledgements must not
	// block go-rtmp's writer goroutine forever.
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.readTimeout))
	if _, err := c.Conn.Write(p); err != nil {
		c.mu.Lock()
		c.writeErr = err
		c.mu.Unlock()
		c.writeFailed.Store(true)
		_ = c.Conn.Close()
	}
	return len(p), nil
}

// failedWrite returns the error of the write that failed, if one did.
func (c *conn) failedWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeErr
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
	if tc, ok := c.Conn.(*tls.Conn); ok {
		// Without a close_notify, which could wait for a peer that
		// does not read.
		_ = tc.NetConn().Close()
		return
	}
	_ = c.Conn.Close()
}

// tlsFailure is the error of an RTMPS connection whose TLS handshake
// failed (not a peer that connected and went away, or said nothing).
func (c *conn) tlsFailure() error {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok || tc.ConnectionState().HandshakeComplete || c.readErr == nil ||
		errors.Is(c.readErr, io.EOF) || errors.Is(c.readErr, net.ErrClosed) || isTimeout(c.readErr) {
		return nil
	}
	return c.readErr
}

// timedOut reports whether reading stopped on a deadline.
func (c *conn) timedOut() bool {
	return isTimeout(c.readErr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
