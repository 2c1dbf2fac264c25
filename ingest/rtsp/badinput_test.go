package rtsp

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/pion/rtp"
)

// rawPublisher speaks RTSP by hand over TCP, so that it can lie: any SDP,
// any bytes in the interleaved frames.
type rawPublisher struct {
	t       *testing.T
	nc      net.Conn
	br      *bufio.Reader
	url     string
	cseq    int
	session string
}

func dialRaw(t *testing.T, addr, path string) *rawPublisher {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawPublisher{t: t, nc: nc, br: bufio.NewReader(nc), url: "rtsp://" + addr + path}
}

// request sends one request and reads its response.
func (p *rawPublisher) request(method, url string, header map[string]string, body string) (*base.Response, error) {
	p.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, url, p.cseq)
	if p.session != "" {
		fmt.Fprintf(&b, "Session: %s\r\n", p.session)
	}
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	_ = p.nc.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := p.nc.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	var res base.Response
	if err := res.Unmarshal(p.br); err != nil {
		return nil, err
	}
	if s, ok := res.Header["Session"]; ok && len(s) == 1 {
		p.session, _, _ = strings.Cut(s[0], ";")
	}
	return &res, nil
}

// record announces sdp, sets up its medias over TCP (interleaved channels
// 2i and 2i+1) and starts recording; it returns the first refusal.
func (p *rawPublisher) record(sdp string) (*base.Response, error) {
	res, err := p.request("ANNOUNCE", p.url, nil, sdp)
	if err != nil || res.StatusCode != base.StatusOK {
		return res, err
	}
	for i, control := range regexp.MustCompile(`a=control:(\S+)`).FindAllStringSubmatch(sdp, -1) {
		res, err = p.request("SETUP", p.url+"/"+control[1], map[string]string{
			"Transport": fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d;mode=record", 2*i, 2*i+1),
		}, "")
		if err != nil || res.StatusCode != base.StatusOK {
			return res, err
		}
	}
	return p.request("RECORD", p.url, nil, "")
}

// frame writes an interleaved frame; an error means the server hung up.
func (p *rawPublisher) frame(channel int, payload []byte) error {
	b := append([]byte{'$', byte(channel), byte(len(payload) >> 8), byte(len(payload))}, payload...)
	_, err := p.nc.Write(b)
	return err
}

// replay sends the packets of a capture, changed by mutate (nil: as
// captured), until the server hangs up or they run out.
func (p *rawPublisher) replay(c *capture, mutate func(i, media int, pkt *rtp.Packet) []byte) error {
	for i, cp := range c.packets {
		data := cp.data
		if mutate != nil {
			var pkt rtp.Packet
			if err := pkt.Unmarshal(cp.data); err != nil {
				return err
			}
			if data = mutate(i, cp.media, &pkt); data == nil {
				continue
			}
		}
		if err := p.frame(2*cp.media, data); err != nil {
			return err
		}
	}
	return nil
}

func marshal(pkt *rtp.Packet) []byte {
	b, err := pkt.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// publishCapture publishes a capture as name and checks that it arrives
// whole: the server works.
func publishCapture(t *testing.T, ts *testServer, name string) {
	t.Helper()
	c := readCapture(t, "h264_aac.rtpcap")
	p := dialRaw(t, ts.addr, "/live/"+name)
	if res, err := p.record(string(c.sdp)); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("publish: %v %v", res, err)
	}
	s := ts.pub.nextSession(t)
	if err := p.replay(c, nil); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the whole capture", func(s *fakeSession) bool { return statsOf(s.aus, 0).count == 60 })
	if _, err := p.request("TEARDOWN", p.url, nil, ""); err != nil {
		t.Fatal(err)
	}
	if cause := s.waitClosed(t); cause != nil {
		t.Errorf("good publisher closed with %v", cause)
	}
	ts.nextEnd(t)
}

// TestBadInput: a lying or broken publisher ends its own session with a
// reason and a metric; the server and the next publisher are unaffected.
func TestBadInput(t *testing.T) {
	garbage := func(r *rand.Rand, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	noSprop := regexp.MustCompile(`sprop-parameter-sets=[^;\r\n]*;? ?`)
	for _, tc := range []struct {
		name   string
		reason string
		// sdp changes the capture's SDP.
		sdp func(string) string
		// mutate changes each packet (nil: skip it).
		mutate func(r *rand.Rand, i, media int, pkt *rtp.Packet) []byte
	}{
		{
			// Declares H.264, sends random aggregation packets: nothing
			// decodes, although the audio is fine.
			name: "h264 that is garbage", reason: reasonBadMedia,
			mutate: func(r *rand.Rand, _, media int, pkt *rtp.Packet) []byte {
				if media == 0 {
					pkt.Payload = append([]byte{24}, garbage(r, 40)...)
				}
				return marshal(pkt)
			},
		},
		{
			name: "not RTP at all", reason: reasonBadMedia,
			mutate: func(r *rand.Rand, _, _ int, _ *rtp.Packet) []byte { return garbage(r, 100) },
		},
		{
			name: "wrong payload types", reason: reasonBadMedia,
			mutate: func(_ *rand.Rand, _, _ int, pkt *rtp.Packet) []byte {
				pkt.PayloadType = 111
				return marshal(pkt)
			},
		},
		{
			name: "wild sequence numbers", reason: reasonBadSequence,
			mutate: func(r *rand.Rand, _, _ int, pkt *rtp.Packet) []byte {
				pkt.SequenceNumber = uint16(r.Uint32())
				return marshal(pkt)
			},
		},
		{
			name: "wild timestamps", reason: reasonBadTimestamp,
			mutate: func(r *rand.Rand, i, _ int, pkt *rtp.Packet) []byte {
				if i > 20 {
					pkt.Timestamp = r.Uint32()
				}
				return marshal(pkt)
			},
		},
		{
			// No parameter sets in the SDP, and the in-band ones broken.
			name: "bad in-band parameter sets", reason: reasonBadParameterSets,
			sdp: func(s string) string { return noSprop.ReplaceAllString(s, "") },
			mutate: func(_ *rand.Rand, _, media int, pkt *rtp.Packet) []byte {
				if media == 0 && len(pkt.Payload) > 0 && pkt.Payload[0]&0x1f == 24 { // the STAP-A with SPS and PPS
					pkt.Payload = []byte{24, 0, 4, 0x67, 0xff, 0xff, 0xff, 0, 2, 0x68, 0xff}
				}
				return marshal(pkt)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Options{})
			c := readCapture(t, "h264_aac.rtpcap")
			sdp := string(c.sdp)
			if tc.sdp != nil {
				sdp = tc.sdp(sdp)
			}
			p := dialRaw(t, ts.addr, "/live/bad")
			if res, err := p.record(sdp); err != nil || res.StatusCode != base.StatusOK {
				t.Fatalf("record: %v %v", res, err)
			}
			s := ts.pub.nextSession(t)
			r := rand.New(rand.NewPCG(1, 2))
			// Up to three times the capture: enough for every limit.
			for range 3 {
				if err := p.replay(c, func(i, media int, pkt *rtp.Packet) []byte { return tc.mutate(r, i, media, pkt) }); err != nil {
					break
				}
			}
			e := ts.nextEnd(t)
			if e.reason != tc.reason || e.name != "bad" {
				t.Errorf("session end %+v, want reason %s", e, tc.reason)
			}
			cause := s.waitClosed(t)
			var se *sessionError
			if !errors.As(cause, &se) || se.reason != tc.reason {
				t.Errorf("session closed with %v, want a %s sessionError", cause, tc.reason)
			}
			if got := metricValue(t, ts.metrics.errors.WithLabelValues(tc.reason)); got != 1 {
				t.Errorf("errors_total{reason=%q} = %v", tc.reason, got)
			}
			_, _, errs := s.snapshot()
			for _, e := range errs {
				t.Error(e)
			}
			if logs := ts.logs.String(); !strings.Contains(logs, "rtsp session ended by an error") || !strings.Contains(logs, "reason="+tc.reason) {
				t.Errorf("no log line for the error:\n%s", logs)
			}
			publishCapture(t, ts, "good")
		})
	}
}

// TestNoMedia: packets that never make an access unit (H.264 without a
// single keyframe) end the session after 3×ReadTimeout.
func TestNoMedia(t *testing.T) {
	ts := startServer(t, Options{ReadTimeout: 100 * time.Millisecond})
	c := readCapture(t, "h264_aac.rtpcap")
	sdp, _, _ := strings.Cut(string(c.sdp), "m=audio") // video only
	p := dialRaw(t, ts.addr, "/live/nokey")
	if res, err := p.record(sdp); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("record: %v %v", res, err)
	}
	s := ts.pub.nextSession(t)
	tick := time.NewTicker(5 * time.Millisecond) // a source's pace, not a synchronisation
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for seq := uint16(1); ; seq++ {
		select {
		case <-s.done:
		case <-deadline:
			t.Fatal("session not ended")
		case <-tick.C:
			// A non-IDR slice, forever.
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: []byte{0x41, 0x9a, 0x00}}
			if p.frame(0, marshal(pkt)) == nil {
				continue
			}
		}
		break
	}
	if e := ts.nextEnd(t); e.reason != reasonNoMedia {
		t.Errorf("session end %+v, want %s", e, reasonNoMedia)
	}
	if starts, _, _ := s.snapshot(); len(starts) != 0 {
		t.Errorf("Start called: %+v", starts)
	}
	var se *sessionError
	if cause := s.waitClosed(t); !errors.As(cause, &se) || !strings.Contains(se.Error(), "had no keyframe") {
		t.Errorf("closed with %v", cause)
	}
}
