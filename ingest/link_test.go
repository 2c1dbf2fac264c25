package ingest

import (
	"testing"
	"time"
)

type plainSession struct{}

func (plainSession) Start([]Track) error      { return nil }
func (plainSession) WriteAU(AccessUnit) error { return nil }
func (plainSession) Close(error)              {}

type reportingSession struct {
	plainSession
	id   string
	link LinkStats
}

func (s *reportingSession) ID() string             { return s.id }
func (s *reportingSession) ReportLink(l LinkStats) { s.link = l }

type unwrapping struct{ Session }

func (u unwrapping) Unwrap() Session { return u.Session }

func TestOptionalCapabilities(t *testing.T) {
	if id := NewSessionID(); len(id) != 8 || id == NewSessionID() {
		t.Errorf("NewSessionID: %q", id)
	}
	inner := &reportingSession{id: "4f1c2a9b"}
	for _, s := range []Session{inner, unwrapping{inner}, unwrapping{unwrapping{inner}}} {
		inner.link = LinkStats{}
		ReportLink(s, LinkStats{RTT: time.Millisecond})
		if SessionID(s) != "4f1c2a9b" || inner.link.RTT != time.Millisecond {
			t.Errorf("%T: id %q, link %+v", s, SessionID(s), inner.link)
		}
	}
	// Sessions without them, wrapped or not, are fine.
	for _, s := range []Session{plainSession{}, unwrapping{plainSession{}}, unwrapping{nil}, nil} {
		ReportLink(s, LinkStats{})
		if SessionID(s) != "" {
			t.Errorf("%T: id %q", s, SessionID(s))
		}
	}
}
