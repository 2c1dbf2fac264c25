package srt

import (
	"errors"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var streamIDCases = []struct {
	in   string
	want streamID
	code rejectReason // parse error's rejection reason; 0: parses
}{
	{"#!::r=live/demo,m=publish", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"#!::m=publish,r=live/demo", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"#!::u=alice,r=live/demo,s=secret-session,m=publish,h=example.com", streamID{mode: modePublish, app: "live", name: "demo", user: "alice"}, 0},
	{"#!::r=live/demo", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"#!::r=live/demo,m=publish,", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"#!::r=live/demo,t=stream,x-custom=1", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"#!::r=live/demo,m=request", streamID{mode: modeRead, app: "live", name: "demo"}, 0},
	{"#!::r=live/demo,m=bidirectional", streamID{mode: modeBidirectional, app: "live", name: "demo"}, 0},
	{"#!::r=/live/demo,m=publish", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"#!::r=demo,m=publish", streamID{mode: modePublish, app: "", name: "demo"}, 0},
	{"live/demo", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"/live/demo", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"publish:live/demo", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"read:live/demo", streamID{mode: modeRead, app: "live", name: "demo"}, 0},
	{"publish:live/demo:alice:secret", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"play:live/demo", streamID{mode: modeRead, app: "live", name: "demo"}, 0},
	{"other/demo", streamID{mode: modePublish, app: "other", name: "demo"}, 0},
	{"live/a/b", streamID{mode: modePublish, app: "live", name: "a/b"}, 0},
	{"demo", streamID{mode: modePublish, app: "", name: "demo"}, 0},
	{"publish%3Alive%2Fdemo", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"%23%21%3A%3Ar%3Dlive%2Fdemo%2Cm%3Dpublish", streamID{mode: modePublish, app: "live", name: "demo"}, 0},
	{"live/100%", streamID{mode: modePublish, app: "live", name: "100%"}, 0},
	{"", streamID{}, rejectBadRequest},
	{strings.Repeat("a", maxStreamIDLen+1), streamID{}, rejectBadRequest},
	{"push:live/demo", streamID{}, rejectBadRequest},
	{"#!::m=publish", streamID{}, rejectBadRequest},
	{"#!::r=live/demo,m=publish,m=request", streamID{}, rejectBadRequest},
	{"#!::r=live/demo,garbage", streamID{}, rejectBadRequest},
	{"#!::=x,r=live/demo", streamID{}, rejectBadRequest},
	{"#!::r=live/demo,m=write", streamID{}, rejectBadMode},
	{"#!::r=live/demo,t=file", streamID{}, rejectNotSupMedia},
}

func TestParseStreamID(t *testing.T) {
	for _, tc := range streamIDCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseStreamID(tc.in)
			if tc.code != 0 {
				var se *streamIDError
				if !errors.As(err, &se) || se.code != tc.code {
					t.Fatalf("parseStreamID = %+v, %v; want a %s error", got, err, tc.code)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error message quotes the stream id: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseStreamID = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestAdmit: what the gate answers for a stream id, with the refusal
// reason counted.
func TestAdmit(t *testing.T) {
	pub := newFakePublisher()
	pub.hold("taken")
	reg := prometheus.NewRegistry()
	s, err := New(Options{
		Publisher:         pub,
		Registerer:        reg,
		Passphrase:        "global-secret-1",
		StreamPassphrases: map[string]string{"vip": "stream-secret-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	remote := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	for _, tc := range []struct {
		in         string
		reason     string // refusal; "" admitted (and claimed)
		code       rejectReason
		passphrase string
	}{
		{"publish:live/demo", "", 0, "global-secret-1"},
		{"#!::r=live/vip,m=publish", "", 0, "stream-secret-1"},
		{"#!::r=live/demo2,m=request", refuseReadMode, rejectBadMode, ""},
		{"read:live/demo2", refuseReadMode, rejectBadMode, ""},
		{"#!::r=live/demo2,m=bidirectional", refuseReadMode, rejectBadMode, ""},
		{"publish:other/demo2", refuseBadApp, rejectNotFound, ""},
		{"demo2", refuseBadApp, rejectNotFound, ""},
		{"publish:live/bad name", refuseBadName, rejectBadRequest, ""},
		{"live/a/b", refuseBadName, rejectBadRequest, ""},
		{"live/", refuseBadName, rejectBadRequest, ""},
		{"", refuseBadStreamID, rejectBadRequest, ""},
		{"#!::r=live/x,t=file", refuseBadStreamID, rejectNotSupMedia, ""},
		{"publish:live/demo", refuseAlreadyPublishing, rejectConflict, ""},  // claimed above, over SRT
		{"publish:live/taken", refuseAlreadyPublishing, rejectConflict, ""}, // held by another protocol
	} {
		t.Run(tc.in, func(t *testing.T) {
			before := metricValue(t, s.metrics.refused.WithLabelValues(tc.reason))
			adm, r := s.admit(remote, tc.in)
			if r == nil {
				_, r = s.claim(adm, remote) // the claim stays: later cases see it
			}
			if tc.reason == "" {
				if r != nil {
					t.Fatalf("refused: %s (%s): %v", r.reason, r.code, r.err)
				}
				if adm.passphrase != tc.passphrase {
					t.Errorf("passphrase %q, want %q", adm.passphrase, tc.passphrase)
				}
				return
			}
			if r == nil || r.reason != tc.reason || r.code != tc.code {
				t.Fatalf("got %+v, want refusal %s (%s)", r, tc.reason, tc.code)
			}
			if after := metricValue(t, s.metrics.refused.WithLabelValues(tc.reason)); after != before+1 {
				t.Errorf("refused{%s} went from %v to %v", tc.reason, before, after)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, r := s.admit(remote, "publish:live/late"); r == nil || r.reason != refuseShuttingDown {
		t.Errorf("after Close: %+v, want shutting_down", r)
	}
}

// TestReadModeHint: a caller that wants to play is told where playback is.
func TestReadModeHint(t *testing.T) {
	s, err := New(Options{Publisher: newFakePublisher()})
	if err != nil {
		t.Fatal(err)
	}
	_, r := s.admit(nil, "#!::r=live/demo,m=request")
	if r == nil || !strings.Contains(r.err.Error(), "playback is over HLS/DASH: http://HOST:8080/live/demo/index.m3u8") {
		t.Errorf("refusal %+v does not point to the playback URL", r)
	}
}

func FuzzStreamID(f *testing.F) {
	for _, tc := range streamIDCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, err := parseStreamID(in)
		if err != nil {
			var se *streamIDError
			if !errors.As(err, &se) || se.code == 0 {
				t.Fatalf("error without a rejection reason: %v", err)
			}
			return
		}
		if id.mode == 0 {
			t.Fatalf("%q parsed without a mode: %+v", in, id)
		}
		if strings.Contains(id.app, "/") {
			t.Fatalf("%q: application %q contains a slash", in, id.app)
		}
		// The parts survive the plain form (when it fits SRT's limit, and
		// when decoding it again or cutting ":user:pass" changes nothing).
		plain := "publish:" + id.app + "/" + id.name
		if id.app == "" || len(plain) > maxStreamIDLen || strings.ContainsAny(id.app+id.name, "%:") {
			return
		}
		back, err := parseStreamID(plain)
		if err != nil || back.app != id.app || back.name != id.name {
			t.Fatalf("%q -> %+v, round trip %+v, %v", in, id, back, err)
		}
	})
}

func BenchmarkParseStreamID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseStreamID("#!::u=alice,r=live/demo,m=publish"); err != nil {
			b.Fatal(err)
		}
	}
}

// The parameters a stream id hands to publish auth.
func TestStreamIDQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want url.Values
	}{
		{"#!::r=live/demo,m=publish,key=abc123", url.Values{"key": {"abc123"}}},
		{"#!::u=alice,r=live/demo,s=session-key,m=publish,h=example.com,t=stream", url.Values{"u": {"alice"}, "s": {"session-key"}, "h": {"example.com"}}},
		{"%23%21%3A%3Ar%3Dlive%2Fdemo%2Ckey%3Dx%2By", url.Values{"key": {"x+y"}}},
		{"publish:live/demo:alice:secret", url.Values{"user": {"alice"}, "pass": {"secret"}}},
		{"publish:live/demo:alice", url.Values{"user": {"alice"}}},
		{"publish:live/demo", nil},
		{"live/demo", nil},
		{"#!::r=live/demo,m=publish", nil},
	} {
		if got := streamIDQuery(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("streamIDQuery(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
