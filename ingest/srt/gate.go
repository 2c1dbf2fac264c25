package srt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/liveorigin/liveorigin/ingest"
)

// The gate decides on callers during the SRT handshake, so that a refusal
// reaches the caller as an SRT rejection reason (ffmpeg and srt-live-transmit
// print it) instead of a connection that opens and closes. Both transports
// call admit with the stream id; the passphrase it picks is checked by the
// transport; claim then publishes the stream.

// rejectReason is an SRT handshake rejection reason as libsrt numbers
// them (srt_getrejectreason): srt.h SRT_REJ_* below 1000, access_control.h
// SRT_REJX_* from 1000 (1400 and up are HTTP-like). On the wire the
// handshake carries 1000 + reason (see wire).
type rejectReason int

const (
	rejectBadSecret   rejectReason = 10   // SRT_REJ_BADSECRET: wrong passphrase
	rejectUnsecure    rejectReason = 11   // SRT_REJ_UNSECURE: passphrase required or unexpected
	rejectBadRequest  rejectReason = 1400 // SRT_REJX_BAD_REQUEST: stream id syntax
	rejectForbidden   rejectReason = 1403 // SRT_REJX_FORBIDDEN: taken down or not authorised
	rejectOverload    rejectReason = 1402 // SRT_REJX_OVERLOAD: too many streams
	rejectNotFound    rejectReason = 1404 // SRT_REJX_NOTFOUND: unknown application
	rejectBadMode     rejectReason = 1405 // SRT_REJX_BAD_MODE: m=request (we only ingest)
	rejectConflict    rejectReason = 1409 // SRT_REJX_CONFLICT: the stream has a publisher
	rejectNotSupMedia rejectReason = 1415 // SRT_REJX_NOTSUP_MEDIA: t= other than stream
	rejectISE         rejectReason = 1500 // SRT_REJX_ISE: internal error
	rejectDown        rejectReason = 1503 // SRT_REJX_DOWN: shutting down
)

// wire is the handshake type that carries the reason (libsrt's
// URQFailure): gosrt's REJ_* constants are already wire values, its REJX_*
// ones are not.
func (r rejectReason) wire() uint32 { return uint32(1000 + r) }

func (r rejectReason) String() string {
	switch r {
	case rejectBadSecret:
		return "REJ_BADSECRET"
	case rejectUnsecure:
		return "REJ_UNSECURE"
	case rejectBadRequest:
		return "REJX_BAD_REQUEST"
	case rejectOverload:
		return "REJX_OVERLOAD"
	case rejectNotFound:
		return "REJX_NOTFOUND"
	case rejectBadMode:
		return "REJX_BAD_MODE"
	case rejectConflict:
		return "REJX_CONFLICT"
	case rejectNotSupMedia:
		return "REJX_NOTSUP_MEDIA"
	case rejectISE:
		return "REJX_ISE"
	case rejectDown:
		return "REJX_DOWN"
	}
	return fmt.Sprintf("reject(%d)", int(r))
}

// refusal is a caller turned away: reason is the
// liveorigin_srt_refused_total label, code what the caller is told.
type refusal struct {
	reason string
	code   rejectReason
	err    error
}

// admission is a caller that may publish once it proves the passphrase.
type admission struct {
	id streamID
	// passphrase is what the caller must encrypt with; "" means it must not
	// encrypt. It is a secret: never logged.
	passphrase string
	// query holds the stream id's parameters for publish auth
	// (streamIDQuery). Secrets: never logged.
	query url.Values
}

// publication is a claimed stream: the publish session, the context that
// ends it and the release of the name.
type publication struct {
	sess    ingest.Session
	cancel  context.CancelFunc
	release func()
}

// end closes the publish session (cause nil: a clean end) and frees the
// name for the next SRT publisher.
func (p publication) end(cause error) {
	p.sess.Close(cause)
	p.cancel()
	p.release()
}

// gate is the server side of the handshake, as the transports see it. Every
// method may be called from any goroutine (libsrt calls admit from its own
// threads).
type gate interface {
	// admit parses the stream id and decides everything that does not need
	// the caller's keys. A refusal is already logged and counted.
	admit(remote net.Addr, rawStreamID string) (admission, *refusal)
	// claim publishes the stream. A refusal is already logged and counted.
	claim(adm admission, remote net.Addr) (publication, *refusal)
	// refuse logs and counts a refusal the transport made itself (a bad
	// passphrase).
	refuse(remote net.Addr, adm admission, r *refusal)
}

func (s *Server) admit(remote net.Addr, raw string) (admission, *refusal) {
	id, err := parseStreamID(raw)
	if err != nil {
		var se *streamIDError
		code := rejectBadRequest
		if errors.As(err, &se) {
			code = se.code
		}
		r := &refusal{reason: refuseBadStreamID, code: code, err: err}
		s.refuse(remote, admission{}, r)
		return admission{}, r
	}
	adm := admission{id: id, query: streamIDQuery(raw)}
	if r := s.check(id); r != nil {
		s.refuse(remote, adm, r)
		return admission{}, r
	}
	adm.passphrase = s.secrets.Load().forStream(id.name)
	return adm, nil
}

// check decides on a parsed stream id.
func (s *Server) check(id streamID) *refusal {
	resource := id.app + "/" + id.name
	switch {
	case id.mode != modePublish:
		return &refusal{reason: refuseReadMode, code: rejectBadMode, err: fmt.Errorf(
			"caller asks to read %s (m=%s): this server only ingests; playback is over HLS/DASH: http://HOST:8080/%s/index.m3u8",
			truncate(resource, 80), id.mode, truncate(resource, 80))}
	case id.app != ingest.App:
		return &refusal{reason: refuseBadApp, code: rejectNotFound, err: fmt.Errorf(
			"unknown application %q: publish with streamid=publish:%s/NAME", truncate(id.app, 32), ingest.App)}
	}
	if err := ingest.ValidateName(id.name); err != nil {
		return &refusal{reason: refuseBadName, code: rejectBadRequest, err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return &refusal{reason: refuseShuttingDown, code: rejectDown, err: fmt.Errorf("srt: %w", ingest.ErrClosed)}
	case s.claimed[id.name]:
		// Cheaper than Publish, and the only duplicate check that libsrt
		// can still answer with a rejection reason.
		return &refusal{reason: refuseAlreadyPublishing, code: rejectConflict,
			err: fmt.Errorf("stream %q: %w (over SRT)", id.name, ingest.ErrAlreadyPublishing)}
	}
	return nil
}

func (s *Server) claim(adm admission, remote net.Addr) (publication, *refusal) {
	name := adm.id.name
	s.mu.Lock()
	if s.closed || s.claimed[name] {
		s.mu.Unlock()
		r := s.check(adm.id)
		if r == nil { // raced with the end of the other publisher
			r = &refusal{reason: refuseAlreadyPublishing, code: rejectConflict,
				err: fmt.Errorf("stream %q: %w (over SRT)", name, ingest.ErrAlreadyPublishing)}
		}
		s.refuse(remote, adm, r)
		return publication{}, r
	}
	s.claimed[name] = true
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(s.ctx)
	sess, err := s.opts.Publisher.Publish(ctx, ingest.PublishInfo{Name: name, Protocol: "srt", RemoteAddr: addrString(remote), Query: adm.query})
	if err != nil {
		cancel()
		s.release(name)
		r := &refusal{reason: refuseOther, code: rejectOverload, err: err}
		switch {
		case errors.Is(err, ingest.ErrAlreadyPublishing):
			r.reason, r.code = refuseAlreadyPublishing, rejectConflict
		case errors.Is(err, ingest.ErrBadName):
			r.reason, r.code = refuseBadName, rejectBadRequest
		case errors.Is(err, ingest.ErrClosed):
			r.reason, r.code = refuseShuttingDown, rejectDown
		case errors.Is(err, ingest.ErrRefused):
			r.reason, r.code = refuseRefused, rejectForbidden
		}
		s.refuse(remote, adm, r)
		return publication{}, r
	}
	return publication{sess: sess, cancel: cancel, release: func() { s.release(name) }}, nil
}

// release frees a name claimed by claim.
func (s *Server) release(name string) {
	s.mu.Lock()
	delete(s.claimed, name)
	s.mu.Unlock()
}

func (s *Server) refuse(remote net.Addr, adm admission, r *refusal) {
	s.metrics.refused.WithLabelValues(r.reason).Inc()
	attrs := []any{"remote", addrString(remote), "reason", r.reason, "srt_reject", r.code.String(), "error", r.err.Error()}
	if adm.id.name != "" {
		attrs = append(attrs, "stream", adm.id.name)
	}
	if adm.id.user != "" {
		attrs = append(attrs, "user", adm.id.user)
	}
	s.log.Warn("srt connection refused", attrs...)
	if s.onRefused != nil {
		s.onRefused(r.reason)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
