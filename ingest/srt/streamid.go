package srt

import (
	"fmt"
	"net/url"
	"strings"
)

// Stream ids. An SRT caller names what it wants in the handshake's stream
// id. We accept the SRT Access Control form and the two plain forms that
// other servers (mediamtx, srt-live-server) taught encoders to send:
//
//	#!::r=live/NAME,m=publish   SRT Access Control (keys in any order; u=, s=, h=, t= too)
//	publish:live/NAME           mediamtx style (a trailing :user:pass is ignored)
//	live/NAME                   plain resource
//
// Reading (m=request, read:..., play:...) is recognised so that it can be
// refused with a reason that says where playback is.

// maxStreamIDLen is SRT's limit on the stream id (SRTO_STREAMID).
const maxStreamIDLen = 512

// accessControlPrefix starts an SRT Access Control stream id
// (https://github.com/Haivision/srt/blob/master/docs/features/access-control.md).
const accessControlPrefix = "#!::"

// streamMode is what a caller wants to do with the stream.
type streamMode uint8

const (
	modePublish streamMode = iota + 1
	modeRead
	modeBidirectional
)

func (m streamMode) String() string {
	switch m {
	case modePublish:
		return "publish"
	case modeRead:
		return "request"
	case modeBidirectional:
		return "bidirectional"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// streamID is a parsed stream id. It never holds the session key (s=),
// which may be a secret: the struct is logged.
type streamID struct {
	mode streamMode
	app  string // "live" for a valid publisher
	name string // not validated here: see ingest.ValidateName
	user string // u=, for the log
}

// streamIDError is a stream id that cannot be parsed. code is the SRT
// rejection reason to answer with.
type streamIDError struct {
	code rejectReason
	msg  string
}

func (e *streamIDError) Error() string { return e.msg }

func badStreamID(format string, args ...any) error {
	return &streamIDError{code: rejectBadRequest, msg: fmt.Sprintf(format, args...)}
}

// parseStreamID parses a stream id in one of the accepted forms. It checks
// the syntax only; the application and the name are checked by the caller.
// Error messages never quote the raw stream id, which may carry a secret.
func parseStreamID(s string) (streamID, error) {
	const help = "use streamid=publish:live/NAME or #!::r=live/NAME,m=publish"
	switch {
	case s == "":
		return streamID{}, badStreamID("no stream id: %s", help)
	case len(s) > maxStreamIDLen:
		return streamID{}, badStreamID("stream id of %d bytes, at most %d allowed", len(s), maxStreamIDLen)
	}
	// Some tools percent-encode the stream id of an srt:// URL and some
	// pass it on as it is. Names cannot contain '%', so decoding is safe.
	if strings.Contains(s, "%") {
		if d, err := url.QueryUnescape(s); err == nil {
			s = d
		}
	}
	switch {
	case strings.HasPrefix(s, accessControlPrefix):
		return parseAccessControl(s[len(accessControlPrefix):])
	}
	id := streamID{mode: modePublish}
	if prefix, rest, ok := strings.Cut(s, ":"); ok {
		switch prefix {
		case "publish":
		case "read", "play", "request":
			id.mode = modeRead
		default:
			return streamID{}, badStreamID("stream id prefix %q is not publish: (%s)", truncate(prefix, 16), help)
		}
		// mediamtx's form appends ":user:pass": never keep (or log) it.
		s, _, _ = strings.Cut(rest, ":")
	}
	id.app, id.name = splitResource(s)
	return id, nil
}

// parseAccessControl parses the key=value list after "#!::". A missing m=
// means publish: the SRT default is request, but a caller of an ingest-only
// server that says nothing wants to publish, and refusing it would only
// confuse.
func parseAccessControl(body string) (streamID, error) {
	id := streamID{mode: modePublish}
	seen := map[string]bool{}
	hasResource := false
	for item := range strings.SplitSeq(body, ",") {
		if item == "" {
			continue // a trailing comma
		}
		key, value, ok := strings.Cut(item, "=")
		if !ok || key == "" {
			return streamID{}, badStreamID("stream id item %d is not key=value", len(seen)+1)
		}
		if seen[key] {
			return streamID{}, badStreamID("stream id key %q appears twice", truncate(key, 16))
		}
		seen[key] = true
		switch key {
		case "r":
			id.app, id.name = splitResource(value)
			hasResource = true
		case "m":
			switch value {
			case "publish":
				id.mode = modePublish
			case "request":
				id.mode = modeRead
			case "bidirectional":
				id.mode = modeBidirectional
			default:
				return streamID{}, &streamIDError{code: rejectBadMode,
					msg: fmt.Sprintf("stream id mode m=%s is not publish", truncate(value, 16))}
			}
		case "t":
			if value != "stream" {
				return streamID{}, &streamIDError{code: rejectNotSupMedia,
					msg: fmt.Sprintf("stream id type t=%s is not supported: only t=stream (live MPEG-TS)", truncate(value, 16))}
			}
		case "u":
			id.user = truncate(value, 64)
		default:
			// h= (host), s= (session key) and keys of other applications:
			// nothing to do for us, and refusing them helps nobody.
		}
	}
	if !hasResource {
		return streamID{}, badStreamID("stream id has no resource (r=): use #!::r=live/NAME,m=publish")
	}
	return id, nil
}

// streamIDQuery returns the parameters a stream id carries for publish auth
// (ingest.PublishInfo.Query, the publish webhook decides on them): the keys
// of an SRT Access Control id other than r, m and t (u=, s=, h= and any
// other, such as key=), and mediamtx's trailing ":user:pass" as user and
// pass. nil when there are none. They may be secrets: never log them. s has
// been parsed by parseStreamID.
func streamIDQuery(s string) url.Values {
	if strings.Contains(s, "%") {
		if d, err := url.QueryUnescape(s); err == nil {
			s = d
		}
	}
	q := url.Values{}
	if body, ok := strings.CutPrefix(s, accessControlPrefix); ok {
		for item := range strings.SplitSeq(body, ",") {
			key, value, ok := strings.Cut(item, "=")
			switch {
			case !ok || key == "":
			case key == "r" || key == "m" || key == "t":
			default:
				q.Set(key, value)
			}
		}
	} else if prefix, rest, ok := strings.Cut(s, ":"); ok && prefix == "publish" {
		if _, creds, ok := strings.Cut(rest, ":"); ok {
			user, pass, _ := strings.Cut(creds, ":")
			q.Set("user", user)
			if pass != "" {
				q.Set("pass", pass)
			}
		}
	}
	if len(q) == 0 {
		return nil
	}
	return q
}

// splitResource splits "live/NAME" (a leading slash is tolerated) into the
// application and the name. Without a slash the application is empty.
func splitResource(r string) (app, name string) {
	r = strings.TrimPrefix(r, "/")
	app, name, ok := strings.Cut(r, "/")
	if !ok {
		return "", r
	}
	return app, name
}

// truncate shortens s for an error message; the input came from the
// network.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
