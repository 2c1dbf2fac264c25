package limits

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// server is a real net/http server on a Listener.
type server struct {
	ln   *Listener
	addr string
	done chan error
}

func startServer(t *testing.T, e *env, max int, configure func(*http.Server)) *server {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: NewListener(raw, e.hits, max), addr: raw.Addr().String(), done: make(chan error, 1)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})}
	if configure != nil {
		configure(srv)
	}
	go func() { s.done <- srv.Serve(s.ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-s.done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// request sends a GET on c and reads the response (the connection stays
// open).
func request(t *testing.T, c net.Conn, br *bufio.Reader, header string) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: test\r\n"+header+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Header.Set("X-Test-Body", strings.TrimSpace(string(body)))
	return resp
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// waitActive waits until the server has n connections open (accepts and
// closes happen on the server's goroutines).
func waitActive(t *testing.T, ln *Listener, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ln.AwaitActive(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// waitHits waits until limit has want hits (counted on the server's
// goroutines).
func waitHits(t *testing.T, h *Hits, limit string, want float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Await(ctx, limit, want); err != nil {
		t.Fatal(err)
	}
}

func TestTooManyConnections(t *testing.T) {
	e := newEnv(t)
	s := startServer(t, e, 2, nil)
	c1, r1 := dial(t, s.addr)
	c2, r2 := dial(t, s.addr)
	for _, c := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c1, r1}, {c2, r2}} {
		if resp := request(t, c.c, c.r, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("connection within the limit: %d", resp.StatusCode)
		}
	}
	c3, r3 := dial(t, s.addr)
	resp := request(t, c3, r3, "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("X-Test-Body"), "max-http-connections") {
		t.Errorf("third connection: %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := r3.ReadByte(); err != io.EOF {
		t.Errorf("the refused connection is not closed: %v", err)
	}
	if got := e.count(t, HTTPConnections); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	if len(e.logLines(`"limit":"http_connections"`, `"remote":"127.0.0.1:`)) != 1 {
		t.Errorf("no log line with the remote address:\n%s", e.logs.String())
	}

	// A closed connection frees its place.
	c1.Close()
	waitActive(t, s.ln, 1)
	c4, r4 := dial(t, s.addr)
	if resp := request(t, c4, r4, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("after a close: %d", resp.StatusCode)
	}
	// A reload lowers the maximum: the open connections stay, a new one
	// is refused.
	s.ln.SetMax(1)
	if resp := request(t, c2, r2, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("an open connection after the maximum was lowered: %d", resp.StatusCode)
	}
	c5, r5 := dial(t, s.addr)
	if resp := request(t, c5, r5, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a new connection above the lowered maximum: %d", resp.StatusCode)
	}
}

// A slowloris client, sending its header a byte at a time, is cut off after
// ReadHeaderTimeout and counted; an idle keep-alive connection closed by
// IdleTimeout is not.
func TestSlowlorisCutOff(t *testing.T) {
	e := newEnv(t)
	const headerTimeout = 300 * time.Millisecond
	s := startServer(t, e, 0, func(srv *http.Server) {
		srv.ReadHeaderTimeout = headerTimeout
		srv.IdleTimeout = 200 * time.Millisecond
	})

	idle, idleR := dial(t, s.addr)
	if resp := request(t, idle, idleR, ""); resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}

	c, _ := dial(t, s.addr)
	start := time.Now()
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		msg := "GET /x HTTP/1.1\r\nHost: test\r\nX-Slow: " + strings.Repeat("a", 1000)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(msg); i++ {
			if _, err := c.Write([]byte{msg[i]}); err != nil {
				return
			}
			n++
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	// Go's server closes the connection, or answers 400 first when the
	// deadline struck inside a header line.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	elapsed := time.Since(start)
	close(stop)
	n := <-sent
	if isTimeout(err) || len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
		t.Fatalf("the slow client was not cut off: %q %v", got, err)
	}
	if elapsed < headerTimeout || n < 10 {
		t.Errorf("cut off after %s and %d bytes: before ReadHeaderTimeout (%s)", elapsed, n, headerTimeout)
	}
	waitHits(t, e.hits, HTTPReadTimeout, 1)

	// The idle connection was closed by IdleTimeout meanwhile: not a hit.
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	if got := e.count(t, HTTPReadTimeout); got != 1 {
		t.Errorf("hits = %v, want 1 (the idle connection is not one)", got)
	}
	if len(e.logLines(`"limit":"http_read_timeout"`, `"remote":"127.0.0.1:`)) != 1 {
		t.Errorf("want one log line:\n%s", e.logs.String())
	}
}

func TestHeaderTooLarge(t *testing.T) {
	e := newEnv(t)
	s := startServer(t, e, 0, func(srv *http.Server) { srv.MaxHeaderBytes = 1024 })
	c, r := dial(t, s.addr)
	// net/http allows 4 KiB beyond MaxHeaderBytes.
	resp := request(t, c, r, "X-Big: "+strings.Repeat("a", 8<<10)+"\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	if got := e.count(t, HTTPHeaderSize); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	// net/http half-closes (the wrapper keeps CloseWrite), waits for the
	// client's unread input to drain, then closes.
	if _, err := io.ReadAll(r); err != nil {
		t.Errorf("after the 431: %v, want EOF", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ln.AwaitActive(ctx, 0); err != nil {
		t.Fatal(err)
	}
	c2, r2 := dial(t, s.addr)
	if resp := request(t, c2, r2, "X-Small: a\r\n"); resp.StatusCode != http.StatusOK {
		t.Errorf("a small header: %d", resp.StatusCode)
	}
	if got := e.count(t, HTTPHeaderSize); got != 1 {
		t.Errorf("hits = %v after a small header, want 1", got)
	}
}

// Under TLS (net/http wraps the Listener with ServeTLS) a connection over
// the limit is closed without a plain-text answer.
func TestTooManyConnectionsTLS(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener = NewListener(srv.Listener, e.hits, 1)
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 1
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the connection stays open, idle: the one place
	other := &http.Client{Transport: &http.Transport{TLSClientConfig: client.Transport.(*http.Transport).TLSClientConfig}}
	if _, err := other.Get(srv.URL); err == nil {
		t.Fatal("a second TLS connection was served")
	}
	if got := e.count(t, HTTPConnections); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	other.CloseIdleConnections()
	client.CloseIdleConnections()
}
