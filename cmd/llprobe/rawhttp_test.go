package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The probe's HTTP/1.1 client against net/http's server: bodies with a
// length, chunked bodies, statuses, a connection the server closes, limits,
// keep-alive and cancellation.
func TestRawClient(t *testing.T) {
	defer goleak.VerifyNone(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/len", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "11")
		_, _ = w.Write([]byte("hello world"))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range []string{"one ", "two ", "three"} {
			_, _ = w.Write([]byte(s))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.URL.RawQuery))
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte("bye"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := newRawClient(addr)
	defer c.close()
	ctx := context.Background()

	var buf bytes.Buffer
	get := func(target string, limit int64) (rawResponse, string, error) {
		buf.Reset()
		r, err := c.get(ctx, target, &buf, limit)
		return r, buf.String(), err
	}
	for _, tc := range []struct{ target, want string }{
		{"/len", "hello world"},
		{"/chunked", "one two three"},
		{"/query?_HLS_msn=5&_HLS_part=2", "_HLS_msn=5&_HLS_part=2"},
		{"/len", "hello world"},
	} {
		r, body, err := get(tc.target, 1<<20)
		if err != nil || r.status != 200 || body != tc.want || r.n != int64(len(tc.want)) || r.firstByte.IsZero() {
			t.Errorf("GET %s: %+v %q %v; want 200 %q", tc.target, r, body, err, tc.want)
		}
	}
	first := c.conn
	if first == nil {
		t.Fatal("no connection kept after keep-alive answers")
	}
	if r, _, err := get("/nope", 1<<20); err != nil || r.status != 404 {
		t.Errorf("GET /nope: %+v %v; want 404", r, err)
	}
	if c.conn != first {
		t.Error("the connection changed between keep-alive requests")
	}
	if r, body, err := get("/close", 1<<20); err != nil || body != "bye" || r.status != 200 {
		t.Errorf("GET /close: %+v %q %v", r, body, err)
	}
	if c.conn != nil {
		t.Error("the connection was kept after Connection: close")
	}
	if _, _, err := get("/len", 1<<20); err != nil {
		t.Errorf("GET after a closed connection: %v", err)
	}
	// Into scratch: counted, not kept.
	if r, err := c.get(ctx, "/big", nil, 2<<20); err != nil || r.n != 1<<20 {
		t.Errorf("GET /big into scratch: %+v %v", r, err)
	}
	if _, _, err := get("/big", 1000); !errors.Is(err, errBodyTooLarge) {
		t.Errorf("GET /big with a 1000-byte limit: %v, want errBodyTooLarge", err)
	}
	if c.conn != nil {
		t.Error("the connection was kept after a body beyond the limit")
	}
	// Cancellation ends a held request at once.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.get(cctx, "/hold", &buf, 1<<20); !errors.Is(err, context.Canceled) {
		t.Errorf("held GET cancelled: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}

// scriptConn is a net.Conn that answers every request with the same bytes:
// for the fuzz target, no network.
type scriptConn struct {
	net.Conn // nil: the methods not overridden are never called
	r        *bytes.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRawResponse: whatever an origin answers, the probe's client returns
// an answer or an error, never panics, and never reads more than its limit.
func FuzzRawResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
		"garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 10
		c := newRawClient("127.0.0.1:1")
		c.conn = &scriptConn{r: bytes.NewReader(data)}
		c.br = bufio.NewReaderSize(c.conn, rawReadBuffer)
		var buf bytes.Buffer
		r, err := c.get(context.Background(), "/live/x/v0.m3u8", &buf, limit)
		if err == nil && (r.n != int64(buf.Len()) || r.n > limit) {
			t.Fatalf("answer %+v with %d bytes read, limit %d", r, buf.Len(), limit)
		}
	})
}
