package limits

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// rejectTimeout bounds the time a connection over the limit is held: its
// request read, the 503 written.
const rejectTimeout = time.Second

// maxRejecting bounds the refused connections answered at once: in a
// connection storm, beyond it a refused connection is closed without an
// answer, so that refusals cannot hold more goroutines and descriptors.
const maxRejecting = 64

// rejectResponse answers a connection over max-http-connections: a CDN or
// player retries later; no cache keeps it.
var rejectResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nRetry-After: 1\r\n" +
	"Connection: close\r\nContent-Length: 43\r\n\r\n" +
	"too many connections (max-http-connections)")

// tlsHandshake is the first byte of a TLS client hello (a TLS record of
// type handshake); an HTTP/1 request starts with a method's letter.
const tlsHandshake = 0x16

// status431 starts the response net/http writes itself for a request
// header over MaxHeaderBytes (no handler sees that request).
var status431 = []byte("HTTP/1.1 431 ")

// Listener caps the connections open at once on an HTTP listener and
// counts the connections net/http cuts off for a limit.
type Listener struct {
	net.Listener
	hits    *Hits
	max     atomic.Int64
	active  atomic.Int64
	changed signal         // a connection was accepted or closed
	wg      sync.WaitGroup // connections being rejected
	// rejecting holds a token per connection being answered 503.
	rejecting chan struct{}
}

// NewListener wraps ln; max is the most connections open at once (0:
// unlimited).
func NewListener(ln net.Listener, hits *Hits, max int) *Listener {
	l := &Listener{Listener: ln, hits: hits, rejecting: make(chan struct{}, maxRejecting)}
	l.SetMax(max)
	return l
}

// SetMax changes the maximum (a reload): connections beyond it are refused
// from now on; open ones are not closed.
func (l *Listener) SetMax(max int) { l.max.Store(int64(max)) }

// Active is the number of connections open.
func (l *Listener) Active() int { return int(l.active.Load()) }

// AwaitActive waits until n connections are open, or ctx ends.
func (l *Listener) AwaitActive(ctx context.Context, n int) error {
	for {
		changed := l.changed.C()
		if l.Active() == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d connections open, want %d: %w", l.Active(), n, ctx.Err())
		}
	}
}

// Accept returns the next connection within the limit; one beyond it is
// answered 503 and closed (on its own goroutine, within rejectTimeout), or
// just closed when maxRejecting answers are in progress.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if max := l.max.Load(); max > 0 && l.active.Load() >= max {
			l.hits.Hit(HTTPConnections, "HTTP connection refused: too many connections",
				slog.String("remote", c.RemoteAddr().String()), slog.Int64("max", max))
			select {
			case l.rejecting <- struct{}{}:
				l.wg.Add(1)
				go l.reject(c)
			default:
				_ = c.Close() // maxRejecting answers in progress already
			}
			continue
		}
		l.active.Add(1)
		l.changed.notify()
		return &conn{Conn: c, l: l}, nil
	}
}

// reject reads the request's header (an HTTP client ignores an answer that
// comes before its request), writes the 503, and closes, all within
// rejectTimeout.
func (l *Listener) reject(c net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.rejecting }()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(rejectTimeout))
	buf := make([]byte, 0, 4<<10)
	for !bytes.Contains(buf, []byte("\r\n\r\n")) && len(buf) < cap(buf) {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return
		}
		if buf[0] == tlsHandshake {
			return // under TLS (http.Server.ServeTLS): no plain-text answer
		}
	}
	if _, err := c.Write(rejectResponse); err != nil {
		return
	}
	// Closing with unread input resets the connection, which may discard
	// the answer at the client: half-close and read what is left first.
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// Close closes the listener and waits for the rejections in progress.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.wg.Wait()
	return err
}

// conn is an accepted connection: it frees its place on Close and tells
// the limits net/http enforced on it from what it sees.
type conn struct {
	net.Conn
	l      *Listener
	closed atomic.Bool
	// partial: bytes of a request were read since the last response was
	// written, so a read timeout cut off a request (slowloris), not an
	// idle keep-alive connection.
	partial atomic.Bool
	// timedOut: a timeout was counted (the connection is being cut off).
	timedOut atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.partial.Store(true)
	}
	// net/http may read again after the deadline: one hit per connection.
	if err != nil && isTimeout(err) && c.partial.Load() && !c.timedOut.Swap(true) {
		c.l.hits.Hit(HTTPReadTimeout, "HTTP client cut off: request not received within the read timeout",
			slog.String("remote", c.RemoteAddr().String()))
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.partial.Store(false)
	if bytes.HasPrefix(p, status431) {
		c.l.hits.Hit(HTTPHeaderSize, "HTTP request refused: header larger than http-max-header-bytes (431)",
			slog.String("remote", c.RemoteAddr().String()))
	}
	n, err := c.Conn.Write(p)
	if err != nil && isTimeout(err) && !c.timedOut.Swap(true) {
		c.l.hits.Hit(HTTPWriteTimeout, "HTTP client cut off: response not taken within http-write-timeout",
			slog.String("remote", c.RemoteAddr().String()))
	}
	return n, err
}

// CloseWrite half-closes the connection: net/http does so before closing
// one with unread input (after a 431, or a body left unread), so that the
// reset does not destroy the answer at the client. The wrapper must not
// hide it.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Close() error {
	if !c.closed.Swap(true) {
		c.l.active.Add(-1)
		c.l.changed.notify()
	}
	return c.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// net/http half-closes through it (CloseWrite above).
var _ interface{ CloseWrite() error } = (*conn)(nil)
