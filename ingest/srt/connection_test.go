package srt

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// pacedConn delivers the same messages over and over, one a millisecond,
// until it is interrupted: a caller that keeps sending.
type pacedConn struct {
	msgs        [][]byte
	i           int
	tick        *time.Ticker
	interrupted chan struct{}
	silent      bool // send nothing at all
}

func newPacedConn(msgs [][]byte, silent bool) *pacedConn {
	return &pacedConn{msgs: msgs, tick: time.NewTicker(time.Millisecond), interrupted: make(chan struct{}), silent: silent}
}

var errTestInterrupted = errors.New("interrupted")

func (c *pacedConn) Read(p []byte) (int, error) {
	for {
		select {
		case <-c.interrupted:
			return 0, errTestInterrupted
		case <-c.tick.C:
		}
		if c.silent {
			continue
		}
		m := c.msgs[c.i%len(c.msgs)]
		c.i++
		return copy(p, m), nil
	}
}

func (c *pacedConn) interrupt()                { close(c.interrupted) }
func (c *pacedConn) close()                    { c.tick.Stop() }
func (c *pacedConn) stats() (linkStats, error) { return linkStats{rtt: time.Millisecond}, nil }

// runWatched runs a connection on conn with a small ReadTimeout.
func runWatched(t *testing.T, conn conn) connResult {
	t.Helper()
	srv, err := New(Options{Publisher: newFakePublisher(), ReadTimeout: time.Second}) // generous: the race detector on a loaded machine stalls goroutines for hundreds of ms
	if err != nil {
		t.Fatal(err)
	}
	var res connResult
	srv.onConnEnd = func(_, reason string, cause error, _ int64) { res.reason, res.cause = reason, cause }
	res.sess = newFakeSession(ingest.PublishInfo{Name: "test", Protocol: "srt"})
	c := newConnection(srv, &caller{
		conn:   conn,
		remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234},
		adm:    admission{id: streamID{mode: modePublish, app: "live", name: "test"}},
		pub:    publication{sess: res.sess, cancel: func() {}, release: func() {}},
	})
	c.run()
	return res
}

// TestWatchdog: a caller that stays connected but sends nothing, and one
// whose TS has a program but no media in it, are cut off.
func TestWatchdog(t *testing.T) {
	// The PAT and PMT of the H.264 + Opus capture (Opus needs no first
	// frame to be configured), then null packets.
	program := programOf(t, readCapture(t, "h264_opus.ts"))
	null := append([]byte{0x47, 0x1f, 0xff, 0x10}, make([]byte, 184)...)
	for _, tc := range []struct {
		name   string
		conn   *pacedConn
		reason string
	}{
		{"silent", newPacedConn(nil, true), reasonReadTimeout},
		{"no media", newPacedConn([][]byte{program, null, null, null}, false), reasonNoMedia},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runWatched(t, tc.conn)
			if res.reason != tc.reason {
				t.Errorf("ended with %q (%v), want %s", res.reason, res.cause, tc.reason)
			}
			if res.sess.closeErr == nil {
				t.Error("session closed cleanly, want the failure")
			}
		})
	}
}

// programOf returns the PAT and PMT packets of a TS capture.
func programOf(t *testing.T, ts []byte) []byte {
	t.Helper()
	var out []byte
	for p := ts; len(p) >= 188 && len(out) < 2*188; p = p[188:] {
		if pid := int(p[1]&0x1f)<<8 | int(p[2]); pid == 0 || pid == 0x1000 {
			out = append(out, p[:188]...)
		}
	}
	if len(out) != 2*188 {
		t.Fatalf("no PAT and PMT at the start of the capture")
	}
	return out
}
