package rtmp

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/liveorigin/liveorigin/ingest"
)

// handler is one RTMP connection. go-rtmp calls it on the connection's
// goroutine, one callback at a time, so it needs no locking.
type handler struct {
	gortmp.DefaultHandler

	s      *Server
	c      *conn
	rc     *gortmp.Conn
	lib    *libraryLog
	remote string
	begin  time.Time
	log    *slog.Logger

	app  string
	name string
	// query is what followed '?' in the stream key ("key=..." for publish
	// auth). It is a secret: never log it.
	query string

	ctx         context.Context
	cancel      context.CancelFunc
	sess        ingest.Session
	demux       *demuxer
	unpublished bool  // the publisher said goodbye (FCUnpublish/deleteStream)
	refused     bool  // the connection ends because publish was refused
	failure     error // why we ended the connection, a *demuxError

	tag bytes.Buffer // reused read buffer for tag bodies
}

func newHandler(s *Server, c *conn, lib *libraryLog) *handler {
	ctx, cancel := context.WithCancel(s.ctx)
	remote := c.RemoteAddr().String()
	return &handler{
		s:      s,
		c:      c,
		lib:    lib,
		remote: remote,
		begin:  time.Now(),
		log:    s.log.With("remote", remote),
		ctx:    ctx,
		cancel: cancel,
	}
}

// outChunkSize is the chunk size we send with. Like nginx-rtmp we raise
// RTMP's default of 128: fewer chunk headers, and a refusal's onStatus goes
// out in one chunk, ahead of go-rtmp's generic "Publish failed.".
const outChunkSize = 4096

// OnServe runs once the handshake is done, before any message. Like
// OnClose it is outside go-rtmp's panic recovery.
func (h *handler) OnServe(rc *gortmp.Conn) {
	defer func() {
		if r := recover(); r != nil {
			_ = h.fail(failure(reasonPanic, fmt.Errorf("panic after the handshake: %v", r)))
			_ = h.c.Conn.Close() // ends go-rtmp's loop at its first read
		}
	}()
	h.rc = rc
	_ = h.c.SetDeadline(time.Time{})
	h.c.handshaken.Store(true)
	// Nothing has been written yet, so changing the size before queueing
	// the announcement races with no chunk.
	if err := rc.GetChunkStreamer().SelfState().SetChunkSize(outChunkSize); err != nil {
		h.log.Debug("rtmp chunk size unchanged", "error", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	if err := rc.Write(ctx, controlChunkStreamID, 0, &gortmp.ChunkMessage{
		Message: &message.SetChunkSize{ChunkSize: outChunkSize},
	}); err != nil {
		h.log.Debug("rtmp could not announce the chunk size", "error", err.Error())
	}
}

func (h *handler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	h.app = cmd.Command.App
	h.log.Debug("rtmp connect", "app", h.app, "flash_ver", cmd.Command.FlashVer)
	return nil
}

func (h *handler) OnPlay(_ *gortmp.StreamContext, _ uint32, _ *message.NetStreamPlay) error {
	h.refused = true
	h.log.Info("rtmp play refused: this server only ingests; play over HLS or DASH")
	return errors.New("play is not supported")
}

func (h *handler) OnPublish(sc *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	if h.sess != nil {
		return h.refuse(sc, refuseOther, errors.New("this connection is already publishing"))
	}
	name, query, _ := strings.Cut(cmd.PublishingName, "?")
	app, appQuery, _ := strings.Cut(strings.TrimSuffix(h.app, "/"), "?")
	if query == "" {
		query = appQuery // rtmp://HOST/live?key=... puts it on the app
	}
	h.name, h.query = name, query
	if app != ingest.App {
		return h.refuse(sc, refuseBadApp, fmt.Errorf("unknown application %q: publish to rtmp://HOST/%s with the stream name as the stream key", app, ingest.App))
	}
	if err := ingest.ValidateName(name); err != nil {
		return h.refuse(sc, refuseBadName, err)
	}
	q, _ := url.ParseQuery(query) // what parses: the publish hook decides on it
	sess, err := h.s.opts.Publisher.Publish(h.ctx, ingest.PublishInfo{Name: name, Protocol: "rtmp", RemoteAddr: h.remote, Query: q})
	if err != nil {
		reason := refuseOther
		switch {
		case errors.Is(err, ingest.ErrAlreadyPublishing):
			reason = refuseAlreadyPublishing
		case errors.Is(err, ingest.ErrBadName):
			reason = refuseBadName
		case errors.Is(err, ingest.ErrClosed):
			reason = refuseShuttingDown
		case errors.Is(err, ingest.ErrRefused):
			reason = refuseRefused
		}
		return h.refuse(sc, reason, err)
	}
	h.sess = sess
	h.log = h.log.With("stream", name, "session", ingest.SessionID(sess))
	h.demux = newDemuxer(sess, h.s.opts.ProbeTimeout, h.log)
	h.log.Info("rtmp publish started")
	return nil
}

// refuse answers a publish with NetStream.Publish.BadName and the reason as
// the description (ffmpeg prints it as "Server error: ..."); go-rtmp then
// sends NetStream.Publish.Failed and closes the connection.
func (h *handler) refuse(sc *gortmp.StreamContext, reason string, err error) error {
	h.refused = true
	h.s.metrics.publishRefused.WithLabelValues(reason).Inc()
	h.log.Warn("rtmp publish refused", "app", h.app, "stream", h.name, "reason", reason, "error", err.Error())
	if werr := h.writeStatus(sc.StreamID, message.NetStreamOnStatusCodePublishBadName, err.Error()); werr != nil {
		h.log.Debug("rtmp could not send the refusal", "error", werr.Error())
	}
	return fmt.Errorf("publish refused: %w", err)
}

// Chunk stream ids of what we send: protocol control messages go on 2
// (RTMP 5.4); our onStatus replies on an id go-rtmp does not use.
const (
	controlChunkStreamID = 2
	statusChunkStreamID  = 5
)

func (h *handler) writeStatus(streamID uint32, code message.NetStreamOnStatusCode, description string) error {
	if h.rc == nil {
		return errors.New("no connection")
	}
	var body bytes.Buffer
	status := &message.NetStreamOnStatus{InfoObject: message.NetStreamOnStatusInfoObject{
		Level: message.NetStreamOnStatusLevelError, Code: code, Description: description,
	}}
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&body, message.EncodingTypeAMF0), status); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	return h.rc.Write(ctx, statusChunkStreamID, 0, &gortmp.ChunkMessage{
		StreamID: streamID,
		Message: &message.CommandMessage{
			CommandName: "onStatus",
			Encoding:    message.EncodingTypeAMF0,
			Body:        &body,
		},
	})
}

func (h *handler) OnSetDataFrame(_ uint32, data *message.NetStreamSetDataFrame) error {
	if h.demux == nil {
		return nil
	}
	md, err := parseMetaData(data.Payload)
	if err != nil {
		// Metadata only helps to start sooner: carry on without it.
		h.log.Warn("rtmp ignoring malformed onMetaData", "error", err.Error())
		return nil
	}
	h.demux.onMetaData(md)
	return nil
}

func (h *handler) OnVideo(ts uint32, payload io.Reader) error {
	if h.demux == nil {
		return nil
	}
	body, err := h.readTag(payload)
	if err == nil {
		err = h.demux.onVideo(ts, body)
	}
	return h.fail(err)
}

func (h *handler) OnAudio(ts uint32, payload io.Reader) error {
	if h.demux == nil {
		return nil
	}
	body, err := h.readTag(payload)
	if err == nil {
		err = h.demux.onAudio(ts, body)
	}
	return h.fail(err)
}

// readTag reads a tag body into the reused buffer; the demuxer copies what
// it keeps.
func (h *handler) readTag(payload io.Reader) ([]byte, error) {
	h.tag.Reset()
	limit := int64(h.s.opts.MaxTagSize)
	n, err := h.tag.ReadFrom(io.LimitReader(payload, limit+1))
	if err != nil {
		return nil, failure(reasonBadTag, fmt.Errorf("read tag: %w", err))
	}
	if n > limit {
		return nil, failure(reasonOversizeTag, fmt.Errorf("FLV tag larger than %d bytes (MaxTagSize)", limit))
	}
	return h.tag.Bytes(), nil
}

// fail remembers why the connection is being ended; returning the error to
// go-rtmp ends it.
func (h *handler) fail(err error) error {
	if err != nil && h.failure == nil {
		h.failure = err
	}
	return err
}

func (h *handler) OnFCUnpublish(_ uint32, _ *message.NetStreamFCUnpublish) error {
	h.endSession()
	return nil
}

func (h *handler) OnDeleteStream(_ uint32, _ *message.NetStreamDeleteStream) error {
	h.endSession()
	return nil
}

// OnUnknownCommandMessage sees commands sent on the publishing stream
// rather than the control stream: some encoders (Flash-era ones, Wirecast)
// end with closeStream there.
func (h *handler) OnUnknownCommandMessage(_ uint32, cmd *message.CommandMessage) error {
	switch cmd.CommandName {
	case "closeStream", "FCUnpublish", "deleteStream":
		h.endSession()
	}
	return nil
}

// endSession ends a clean unpublish; the connection may stay open.
func (h *handler) endSession() {
	if h.sess == nil {
		return
	}
	h.sess.Close(nil)
	h.sess, h.demux, h.unpublished = nil, nil, true
	h.log.Info("rtmp unpublished")
}

// OnClose runs when go-rtmp ends the connection, whatever the cause. It is
// outside go-rtmp's panic recovery, hence its own.
func (h *handler) OnClose() {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("rtmp panic while closing a connection", "panic", fmt.Sprint(r))
		}
	}()
	reason, cause := h.outcome()
	if h.sess != nil {
		h.sess.Close(cause)
		h.sess = nil
	}
	h.cancel()
	attrs := []any{"bytes", h.c.bytesRead, "duration", time.Since(h.begin).Round(time.Millisecond).String()}
	switch {
	case reason != "":
		h.s.metrics.errors.WithLabelValues(reason).Inc()
		h.log.Warn("rtmp connection ended by an error", append(attrs, "reason", reason, "error", cause.Error())...)
	case cause != nil:
		h.log.Info("rtmp connection ended", append(attrs, "cause", cause.Error())...)
	case h.c.bytesRead == 0 && !h.c.handshaken.Load():
		// A port probe (load balancer health check): not worth a line.
		h.log.Debug("rtmp connection closed before the handshake")
	default:
		h.log.Info("rtmp connection ended", attrs...)
	}
	if h.s.onConnEnd != nil {
		h.s.onConnEnd(h.remote, reason, cause)
	}
}

// outcome classifies the end of the connection: reason is the errors_total
// label ("" when this is no error of the publisher's), cause is what the
// session is closed with (nil for a clean unpublish).
func (h *handler) outcome() (reason string, cause error) {
	libErr, panicked := h.lib.result()
	writeErr := h.c.failedWrite()
	var de *demuxError
	switch {
	case errors.As(h.failure, &de):
		return de.reason, h.failure
	case h.refused:
		return "", nil
	case h.c.shutdown.Load():
		return "", fmt.Errorf("rtmp: %w", ingest.ErrClosed)
	case !h.c.handshaken.Load():
		if err := h.c.tlsFailure(); err != nil {
			return reasonHandshake, fmt.Errorf("TLS handshake failed (RTMPS): %w", err)
		}
		if h.c.bytesRead == 0 {
			return "", nil
		}
		if h.c.timedOut() {
			return reasonHandshake, fmt.Errorf("handshake not completed within %s", h.s.opts.HandshakeTimeout)
		}
		return reasonHandshake, fmt.Errorf("handshake failed after %d bytes: %s", h.c.bytesRead, firstNonEmpty(libErr, fmt.Sprint(h.c.readErr)))
	case panicked:
		// Whatever else happened: the publisher may well have gone by
		// the time go-rtmp read what it sent.
		return reasonPanic, fmt.Errorf("rtmp library panicked on malformed input: %s", libErr)
	case errors.As(h.c.rejected, &de):
		// The guard refused input that go-rtmp would have read next.
		return de.reason, h.c.rejected
	case h.c.timedOut():
		return reasonReadTimeout, fmt.Errorf("nothing received for %s (ReadTimeout)", h.s.opts.ReadTimeout)
	case isTimeout(writeErr):
		return reasonReadTimeout, fmt.Errorf("what we sent was not read for %s (ReadTimeout)", h.s.opts.ReadTimeout)
	case h.c.readErr != nil || writeErr != nil:
		// go-rtmp stops reading on its own errors, and a failed write
		// closes the socket, so a failed read or write is what ended the
		// connection: the publisher went away.
		if h.unpublished || h.sess == nil {
			return "", nil
		}
		return "", fmt.Errorf("rtmp: publisher disconnected without unpublishing: %v", cmp.Or(writeErr, h.c.readErr))
	case libErr != "":
		return reasonProtocol, fmt.Errorf("rtmp protocol error: %s", libErr)
	}
	return "", nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
