package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// recordSession is one RECORD publisher: from a successful ANNOUNCE
// (which claims the stream name) to the end of the RTSP session.
type recordSession struct {
	name   string
	remote string
	log    *slog.Logger
	begin  time.Time
	sess   ingest.Session
	cancel context.CancelFunc
	tracks []*mediaTrack
	conn   *gortsplib.ServerConn

	// demux is set on RECORD and read from gortsplib's reader goroutines:
	// guarded by Server.mu.
	demux *demuxer
}

// handler implements gortsplib's server callbacks. Each one runs on a
// gortsplib goroutine; shared state is behind Server.mu.
type handler struct {
	s *Server
}

// readRefusal is what a player is told: we only ingest.
const readRefusal = "this server only ingests (ANNOUNCE and RECORD to rtsp://HOST/" + ingest.App + "/NAME); play the stream over HLS or DASH"

func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	h.s.log.Debug("rtsp connection opened", "remote", remoteOf(ctx.Conn))
}

func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.s.log.Debug("rtsp connection closed", "remote", remoteOf(ctx.Conn), "cause", errString(ctx.Error))
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, err := h.refuseRead(remoteOf(ctx.Conn), ctx.Path)
	return res, nil, err
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return h.refuseRead(remoteOf(ctx.Conn), ctx.Path)
}

func (h *handler) refuseRead(remote, path string) (*base.Response, error) {
	h.s.metrics.refused.WithLabelValues(refuseRead).Inc()
	h.s.log.Info("rtsp read refused: this server only ingests; play over HLS or DASH", "remote", remote, "path", path)
	return &base.Response{StatusCode: base.StatusMethodNotAllowed, StatusMessage: readRefusal}, nil
}

// OnAnnounce claims the stream name for the publisher and checks its SDP.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (res *base.Response, err error) {
	remote := remoteOf(ctx.Conn)
	defer func() {
		if r := recover(); r != nil {
			h.s.metrics.errors.WithLabelValues(reasonPanic).Inc()
			res, err = h.refuse(base.StatusBadRequest, refuseBadSDP, remote, ctx.Path, "", fmt.Errorf("malformed announcement (panic: %v)", r))
		}
	}()
	name, reason, status, perr := parsePath(ctx.Path)
	if perr != nil {
		return h.refuse(status, reason, remote, ctx.Path, name, perr)
	}
	tracks, ignored, err := planTracks(ctx.Description)
	switch {
	case errors.Is(err, errBadSDP):
		return h.refuse(base.StatusBadRequest, refuseBadSDP, remote, ctx.Path, name, err)
	case err != nil:
		return h.refuse(base.StatusUnsupportedMediaType, refuseNoSupportedTrack, remote, ctx.Path, name, err)
	}
	sctx, cancel := context.WithCancel(h.s.ctx)
	q, _ := url.ParseQuery(ctx.Query) // what parses: the publish hook decides on it
	nonce := nonceOf(ctx.Conn)
	sess, err := h.s.opts.Publisher.Publish(sctx, ingest.PublishInfo{Name: name, Protocol: "rtsp", RemoteAddr: remote, Query: q,
		Credentials: credentialsOf(ctx.Request, nonce), CanChallenge: true})
	if ch, ok := errors.AsType[*ingest.ChallengeError](err); ok {
		cancel()
		h.s.log.Debug("rtsp publisher asked for credentials", "remote", remote, "stream", name, "digest", ch.Digest)
		return challenge(nonce, ch), nil
	}
	if err != nil {
		cancel()
		reason, status := refuseOther, base.StatusBadRequest
		switch {
		case errors.Is(err, ingest.ErrAlreadyPublishing):
			reason, status = refuseAlreadyPublishing, statusConflict
		case errors.Is(err, ingest.ErrBadName):
			reason, status = refuseBadName, base.StatusNotFound
		case errors.Is(err, ingest.ErrClosed):
			reason, status = refuseShuttingDown, base.StatusServiceUnavailable
		case errors.Is(err, ingest.ErrRefused):
			reason, status = refuseRefused, base.StatusForbidden
		}
		return h.refuse(status, reason, remote, ctx.Path, name, err)
	}
	log := h.s.log.With("stream", name, "session", ingest.SessionID(sess), "remote", remote)
	for _, ig := range ignored {
		log.Warn("rtsp ignoring unsupported media", "media", ig)
	}
	rs := &recordSession{
		name: name, remote: remote, log: log, begin: h.s.now(),
		sess: sess, cancel: cancel, tracks: tracks, conn: ctx.Conn,
	}
	h.s.mu.Lock()
	h.s.sessions[ctx.Session] = rs
	h.s.mu.Unlock()
	h.s.metrics.sessions.WithLabelValues(modeRecord).Inc()
	h.s.metrics.sessionsActive.WithLabelValues(modeRecord).Inc()
	log.Debug("rtsp announce accepted", "tracks", describeTracks(tracks))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// statusConflict answers a second publisher of a stream name. RTSP took
// the HTTP status codes it needed and 409 was not among them, but clients
// handle any 4xx, and ffmpeg prints the reason of statuses above 400 only.
const statusConflict base.StatusCode = 409

// refuse answers with status and the reason as the status message (ffmpeg
// prints it for statuses above 400: "method ANNOUNCE failed: 409 stream is
// already being published"); the error makes gortsplib close the
// connection. Refusals that ffmpeg would not explain are 404s: an unknown
// path or an invalid name names no stream.
func (h *handler) refuse(status base.StatusCode, reason, remote, path, name string, err error) (*base.Response, error) {
	h.s.metrics.refused.WithLabelValues(reason).Inc()
	h.s.log.Warn("rtsp publish refused", "remote", remote, "path", path, "stream", name, "reason", reason, "error", err.Error())
	return &base.Response{StatusCode: status, StatusMessage: statusMessage(err)}, fmt.Errorf("publish refused: %w", err)
}

// parsePath checks the ANNOUNCE path: live/NAME.
func parsePath(path string) (name, reason string, status base.StatusCode, err error) {
	app, name, _ := strings.Cut(strings.Trim(path, "/"), "/")
	if app != ingest.App {
		return name, refuseBadApp, base.StatusNotFound, fmt.Errorf("unknown path %q: publish to rtsp://HOST/%s/NAME", "/"+strings.Trim(path, "/"), ingest.App)
	}
	if err := ingest.ValidateName(name); err != nil {
		return name, refuseBadName, base.StatusNotFound, err
	}
	return name, "", 0, nil
}

// OnSetup accepts the media of a publisher and refuses readers.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	switch ctx.Session.State() {
	case gortsplib.ServerSessionStateInitial, gortsplib.ServerSessionStatePrePlay:
		res, err := h.refuseRead(remoteOf(ctx.Conn), ctx.Path)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

// OnRecord starts feeding the session's packets to a demuxer.
func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	h.s.mu.Lock()
	rs := h.s.sessions[ctx.Session]
	h.s.mu.Unlock()
	if rs == nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD without a successful ANNOUNCE")
	}
	ss := ctx.Session
	d := newDemuxer(rs.sess, rs.tracks, rs.log, h.s.metrics, noMediaFactor*h.s.opts.ReadTimeout, ss.Close)
	d.now = h.s.now
	h.s.mu.Lock()
	rs.demux = d
	h.s.mu.Unlock()
	for _, t := range rs.tracks {
		ss.OnPacketRTP(t.media, t.format, func(pkt *rtp.Packet) { d.packet(t, pkt) })
	}
	transport := "unknown"
	if tr := ss.Transport(); tr != nil {
		transport = strings.ToLower(tr.Protocol.String())
	}
	rs.log.Info("rtsp publish started", "transport", transport, "tracks", d.describe())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.s.mu.Lock()
	var d *demuxer
	if rs := h.s.sessions[ctx.Session]; rs != nil {
		d = rs.demux
	}
	h.s.mu.Unlock()
	if d != nil {
		d.decodeError(ctx.Error)
	}
}

func (h *handler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	h.s.metrics.packetsLost.Add(float64(ctx.Lost))
}

// OnStreamWriteError concerns readers, which we refuse; implementing it
// keeps gortsplib from printing to the standard logger.
func (h *handler) OnStreamWriteError(*gortsplib.ServerHandlerOnStreamWriteErrorCtx) {}

// OnSessionClose ends the publish session of an RTSP session.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.s.mu.Lock()
	rs := h.s.sessions[ctx.Session]
	delete(h.s.sessions, ctx.Session)
	var d *demuxer
	if rs != nil {
		d = rs.demux
	}
	h.s.mu.Unlock()
	if rs == nil {
		return
	}
	cc, _ := rs.conn.NetConn().(*countingConn)
	reason, cause := h.outcome(ctx.Error, cc != nil && cc.timedOut.Load())
	written := 0
	if d != nil {
		cause = d.close(cause)
		var failure *sessionError
		if failure, written = d.result(); failure != nil {
			reason = failure.reason
		}
	} else {
		rs.sess.Close(cause)
	}
	rs.cancel()
	h.s.metrics.sessionsActive.WithLabelValues(modeRecord).Dec()
	attrs := []any{"access_units", written, "duration", h.s.now().Sub(rs.begin).Round(time.Millisecond).String()}
	switch {
	case reason != "":
		h.s.metrics.errors.WithLabelValues(reason).Inc()
		rs.log.Warn("rtsp session ended by an error", append(attrs, "reason", reason, "error", cause.Error())...)
	case cause != nil:
		rs.log.Info("rtsp publish ended", append(attrs, "cause", cause.Error())...)
	default:
		rs.log.Info("rtsp publish ended", attrs...)
	}
	if h.s.onSessionEnd != nil {
		h.s.onSessionEnd(sessionEnd{name: rs.name, mode: modeRecord, reason: reason, cause: cause})
	}
}

// outcome classifies gortsplib's reason for ending a session: reason is
// the errors_total label ("" when it is no error of the publisher's) and
// cause what the ingest session is closed with (nil for a TEARDOWN).
func (h *handler) outcome(libErr error, connTimedOut bool) (reason string, cause error) {
	if _, ok := errors.AsType[liberrors.ErrServerSessionTornDown](libErr); ok {
		return "", nil
	}
	if _, ok := errors.AsType[liberrors.ErrServerTerminated](libErr); ok {
		// The server is closing (a demuxer failure, which also closes
		// the session this way, takes precedence in OnSessionClose).
		return "", fmt.Errorf("rtsp: %w", ingest.ErrClosed)
	}
	if _, ok := errors.AsType[liberrors.ErrServerSessionTimedOut](libErr); ok {
		return reasonReadTimeout, fmt.Errorf("nothing received for %s (ReadTimeout)", h.s.opts.ReadTimeout)
	}
	if _, ok := errors.AsType[liberrors.ErrServerSessionNotInUse](libErr); ok {
		// The TCP connection ended: the publisher went silent or away.
		if connTimedOut {
			return reasonReadTimeout, fmt.Errorf("nothing received for %s (ReadTimeout)", h.s.opts.ReadTimeout)
		}
		return "", errors.New("rtsp: publisher disconnected without TEARDOWN")
	}
	if libErr == nil {
		return "", nil
	}
	return reasonProtocol, fmt.Errorf("rtsp protocol error: %w", libErr)
}

func remoteOf(c *gortsplib.ServerConn) string {
	if c == nil || c.NetConn() == nil {
		return ""
	}
	return c.NetConn().RemoteAddr().String()
}

// statusMessage makes an error fit an RTSP status line.
func statusMessage(err error) string {
	msg := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
	const maxLen = 200
	if len(msg) > maxLen {
		msg = strings.ToValidUTF8(msg[:maxLen], "")
	}
	return msg
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}
