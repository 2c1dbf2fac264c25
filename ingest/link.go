package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Optional Session capabilities. A Publisher's sessions may offer more than
// the Session interface; an adapter asks for them with these helpers, so an
// adapter works with any Publisher (and tests' fakes need not implement
// them). A Publisher that wraps another's sessions (webhooks, tracing)
// passes them on by implementing Unwrap() Session.

// NewSessionID makes a publish-session id: 8 random hex digits, e.g.
// "4f1c2a9b". A wrapping Publisher sets PublishInfo.SessionID with it so
// that every layer names the session alike.
func NewSessionID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// SessionID returns the publish-session id of s (as the logs, the JSON API
// and the webhooks show it), for the adapter's log lines about the
// session; "" when s has none.
func SessionID(s Session) string {
	for s != nil {
		if v, ok := s.(interface{ ID() string }); ok {
			return v.ID()
		}
		s = unwrap(s)
	}
	return ""
}

// LinkStats are a publisher's transport link statistics, receiver side:
// counters since the connection started and the current round-trip time.
// Only SRT reports them.
type LinkStats struct {
	RTT                  time.Duration
	PacketsLost          uint64 // detected missing
	PacketsRetransmitted uint64 // retransmitted packets received
	PacketsDropped       uint64 // given up as too late to play
}

// LinkReporter is implemented by sessions that keep their publisher's link
// statistics for the JSON API. An adapter with a link to report calls
// ReportLink about once a second, from its connection goroutine.
type LinkReporter interface {
	ReportLink(LinkStats)
}

// ReportLink hands st to s, or to the session s wraps, when it keeps link
// statistics.
func ReportLink(s Session, st LinkStats) {
	for s != nil {
		if lr, ok := s.(LinkReporter); ok {
			lr.ReportLink(st)
			return
		}
		s = unwrap(s)
	}
}

func unwrap(s Session) Session {
	if u, ok := s.(interface{ Unwrap() Session }); ok {
		return u.Unwrap()
	}
	return nil
}
