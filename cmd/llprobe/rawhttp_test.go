package main

import (
	"bytes"
	"context"
	"errors"
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
