package srt

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// connection is one publishing caller. Its goroutine reads SRT messages
// and demuxes them; a watchdog goroutine cuts it off when the caller stops
// sending. Malformed input ends this connection only, with a log line and
// liveorigin_srt_errors_total{reason}.
type connection struct {
	s      *Server
	conn   conn
	pub    publication
	name   string
	remote string
	log    *slog.Logger
	begin  time.Time
	link   *linkMetrics
	demux  *demuxer

	readTimeout  time.Duration
	mediaTimeout time.Duration

	// Shared with the watchdog and Server.Close.
	shutdown atomic.Bool  // the server is closing
	idle     atomic.Bool  // the watchdog cut the connection
	lastRead atomic.Int64 // unix nanoseconds of the newest message
	done     chan struct{}
	watchEnd chan struct{}

	// The reading goroutine's.
	buf        []byte
	msg        []byte // the unread rest of the current message
	bytes      int64
	readErr    error
	failure    error // why we end the connection, a *demuxError
	sync       tsSync
	lastStats  time.Time
	progress   int64 // demux.written at progressAt
	progressAt time.Time
}

func newConnection(s *Server, c *caller) *connection {
	remote := addrString(c.remote)
	name := c.adm.id.name
	log := s.log.With("remote", remote, "stream", name, "session", ingest.SessionID(c.pub.sess))
	now := time.Now()
	conn := &connection{
		s:            s,
		conn:         c.conn,
		pub:          c.pub,
		name:         name,
		remote:       remote,
		log:          log,
		begin:        now,
		link:         s.metrics.link(name),
		readTimeout:  s.opts.ReadTimeout,
		mediaTimeout: 3 * s.opts.ReadTimeout,
		done:         make(chan struct{}),
		watchEnd:     make(chan struct{}),
		buf:          make([]byte, messageBufferSize),
		lastStats:    now,
		progressAt:   now,
	}
	conn.lastRead.Store(now.UnixNano())
	conn.demux = newDemuxer(c.pub.sess, log)
	attrs := []any{"encrypted", c.adm.passphrase != ""}
	if c.adm.id.user != "" {
		attrs = append(attrs, "user", c.adm.id.user)
	}
	log.Info("srt publish started", attrs...)
	return conn
}

// cut ends the connection for Server.Close.
func (c *connection) cut() {
	c.shutdown.Store(true)
	c.conn.interrupt()
}

func (c *connection) run() {
	go c.watch()
	err := c.demuxSafely()
	close(c.done)
	<-c.watchEnd

	reason, cause := c.outcome(err)
	c.s.metrics.deleteLink(c.name) // before the name can be published again
	c.pub.end(cause)
	c.conn.close()
	c.s.metrics.connectionsActive.Dec() // before onConnEnd, which tests wait on

	attrs := []any{"bytes", c.bytes, "duration", time.Since(c.begin).Round(time.Millisecond).String()}
	switch {
	case reason != "":
		c.s.metrics.errors.WithLabelValues(reason).Inc()
		c.log.Warn("srt connection ended by an error", append(attrs, "reason", reason, "error", cause.Error())...)
	case cause != nil:
		c.log.Info("srt connection ended", append(attrs, "cause", cause.Error())...)
	default:
		c.log.Info("srt connection ended", attrs...)
	}
	if c.s.onConnEnd != nil {
		c.s.onConnEnd(c.name, reason, cause, c.bytes)
	}
}

// demuxSafely runs the demuxer; a panic ends this connection, not the
// process.
func (c *connection) demuxSafely() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = failure(reasonPanic, fmt.Errorf("panic: %v", p))
		}
	}()
	return c.demux.run(c)
}

// watch interrupts the connection once nothing arrived for ReadTimeout.
// gosrt has no read deadlines, so one mechanism serves both transports.
func (c *connection) watch() {
	defer close(c.watchEnd)
	t := time.NewTimer(c.readTimeout)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			idle := time.Since(time.Unix(0, c.lastRead.Load()))
			if idle < c.readTimeout {
				t.Reset(c.readTimeout - idle)
				continue
			}
			c.idle.Store(true)
			c.conn.interrupt()
			return
		}
	}
}

// Read gives the demuxer the connection's bytes, message by message.
func (c *connection) Read(p []byte) (int, error) {
	if len(c.msg) == 0 {
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.msg)
	c.msg = c.msg[n:]
	return n, nil
}

// next reads the next SRT message into the buffer and checks it.
func (c *connection) next() error {
	if c.failure != nil {
		return c.failure
	}
	for {
		n, err := c.conn.Read(c.buf)
		if err != nil {
			if c.readErr == nil {
				c.readErr = err
			}
			return err
		}
		if n == 0 {
			continue
		}
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		c.bytes += int64(n)
		c.s.metrics.bytesReceived.Add(float64(n))
		if err := c.sync.feed(c.buf[:n]); err != nil {
			return c.fail(failure(reasonNotTS, err))
		}
		if err := c.check(now); err != nil {
			return c.fail(err)
		}
		c.msg = c.buf[:n]
		return nil
	}
}

// check samples the link statistics about once a second and cuts off a
// caller whose data has yielded no media for mediaTimeout.
func (c *connection) check(now time.Time) error {
	if now.Sub(c.lastStats) >= time.Second {
		c.lastStats = now
		if st, err := c.conn.stats(); err == nil {
			c.link.update(st)
			ingest.ReportLink(c.pub.sess, ingest.LinkStats{RTT: st.rtt, PacketsLost: st.lost,
				PacketsRetransmitted: st.retransmitted, PacketsDropped: st.dropped})
		}
	}
	if w := c.demux.written; w != c.progress {
		c.progress, c.progressAt = w, now
		return nil
	}
	if now.Sub(c.progressAt) < c.mediaTimeout {
		return nil
	}
	if c.demux.started {
		return failure(reasonNoMedia, fmt.Errorf("no media for %s although data arrives (%d malformed MPEG-TS packets or PES skipped)",
			c.mediaTimeout, c.demux.decodeErrors))
	}
	what := "the MPEG-TS program"
	if c.demux.video != nil && !c.demux.video.configured {
		what = "a video keyframe with its parameter sets (SPS/PPS in-band)"
	}
	return failure(reasonNoMedia, fmt.Errorf("no media within %s: waiting for %s", c.mediaTimeout, what))
}

func (c *connection) fail(err error) error {
	if c.failure == nil {
		c.failure = err
	}
	return err
}

// outcome classifies the end of the connection: reason is the errors_total
// label ("" when no error of the caller's), cause is what the session is
// closed with (nil for a clean end: the caller disconnected).
func (c *connection) outcome(err error) (reason string, cause error) {
	var de *demuxError
	switch {
	case c.shutdown.Load():
		return "", fmt.Errorf("srt: %w", ingest.ErrClosed)
	case errors.As(c.failure, &de), errors.As(err, &de):
		return de.reason, de
	case c.idle.Load():
		return reasonReadTimeout, fmt.Errorf("nothing received for %s (ReadTimeout)", c.readTimeout)
	case c.readErr != nil:
		// The caller closed the connection (or the link broke, which the
		// transports cannot tell apart): the publisher is gone.
		return "", nil
	case err != nil:
		return "", err
	}
	return "", nil
}
