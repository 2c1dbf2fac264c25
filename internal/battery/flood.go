package battery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// floodCases hold thousands of half-open connections on every TCP port:
// each sends the start of what its protocol expects and then nothing.
// While they are held, the clean viewer keeps playing and a new viewer
// and a new RTMP handshake still get through; then they are closed.
func floodCases() []hostileCase {
	return []hostileCase{
		{name: "tcp/random-bytes-every-port", run: randomEveryPort},
		{name: "tcp/half-open-flood", timeout: 90 * time.Second, run: halfOpenFlood},
	}
}

// randomEveryPort sends 64 KiB of random bytes to every TCP listener,
// the admin one too: each must close the connection.
func randomEveryPort(ctx context.Context, e *env) error {
	r := rand.New(rand.NewPCG(15, 16))
	var errs []error
	for _, p := range []struct{ name, addr string }{{"rtmp", e.rtmp}, {"rtsp", e.rtsp}, {"http", e.http}, {"admin", e.admin.addr}} {
		c, err := dial(ctx, p.addr)
		if err != nil {
			return err
		}
		writeAll(c, randomBytes(r, 64<<10))
		if err := expectClosed(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		}
		_ = c.Close()
	}
	return errors.Join(errs...)
}

func halfOpenFlood(ctx context.Context, e *env) error {
	n := e.opts.HalfOpen
	ports := []struct {
		name, addr string
		prefix     []byte
	}{
		{"rtmp", e.rtmp, append([]byte{3}, make([]byte, 700)...)},
		{"rtsp", e.rtsp, []byte("OPTIONS rtsp://" + e.rtsp + "/live/x RTSP/1.0\r\nCSeq: 1\r\n")},
		{"http", e.http, []byte("GET /live/" + e.clean + "/index.m3u8 HTTP/1.1\r\nHost: battery\r\n")},
	}
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var failed []error
	var wg sync.WaitGroup
	for _, p := range ports {
		// A few dialers per port: the accept loop, not the dialing, is
		// what is being tested.
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < n; i += 4 {
					if ctx.Err() != nil {
						return
					}
					c, err := dial(ctx, p.addr)
					mu.Lock()
					if err != nil {
						if len(failed) < 5 {
							failed = append(failed, fmt.Errorf("%s connection %d: %w", p.name, i, err))
						}
					} else {
						conns = append(conns, c)
					}
					mu.Unlock()
					if err == nil {
						writeAll(c, p.prefix)
					}
				}
			})
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("opened %d of %d half-open connections: %v", len(conns), 3*n, failed)
	}
	e.log.Info("half-open connections held", "count", len(conns))

	// While they are held: a new viewer and a new publisher's handshake.
	hold := time.Now()
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: closeTimeout}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + e.http + "/live/" + e.clean + "/index.m3u8")
	if err != nil {
		return fmt.Errorf("with %d half-open connections held, a new viewer failed: %w", len(conns), err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("with %d half-open connections held, a new viewer got %s", len(conns), resp.Status)
	}
	c, err := rtmpHandshaken(ctx, e.rtmp)
	if err != nil {
		return fmt.Errorf("with %d half-open connections held, a new RTMP handshake failed: %w", len(conns), err)
	}
	_ = c.Close()
	// Hold them a little longer, for the clean viewer to play through.
	t := time.NewTimer(max(0, time.Duration(e.count(10, 3))*time.Second-time.Since(hold)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}
