package battery

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// rtspConn is a raw RTSP client connection.
type rtspConn struct {
	net.Conn
	r    *bufio.Reader
	cseq int
	url  string
}

func rtspDial(ctx context.Context, e *env, name string) (*rtspConn, error) {
	c, err := dial(ctx, e.rtsp)
	if err != nil {
		return nil, err
	}
	return &rtspConn{Conn: c, r: bufio.NewReader(c), url: "rtsp://" + e.rtsp + "/live/" + name}, nil
}

// request sends one request and reads the response's status; status 0
// with a nil error means the server closed the connection instead.
func (c *rtspConn) request(method string, headers []string, body string) (int, textproto.MIMEHeader, error) {
	c.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, c.url, c.cseq)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	writeAll(c, []byte(b.String()))
	return c.response()
}

func (c *rtspConn) response() (int, textproto.MIMEHeader, error) {
	_ = c.SetReadDeadline(time.Now().Add(closeTimeout))
	tp := textproto.NewReader(c.r)
	line, err := tp.ReadLine()
	if err != nil {
		var ne net.Error
		if ok := asNetError(err, &ne); ok && ne.Timeout() {
			return 0, nil, fmt.Errorf("no answer within %v", closeTimeout)
		}
		return 0, nil, nil // closed
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "RTSP/") {
		return 0, nil, fmt.Errorf("not an RTSP response: %q", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, nil, fmt.Errorf("not an RTSP response: %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return code, nil, nil
	}
	if n, _ := strconv.Atoi(h.Get("Content-Length")); n > 0 && n < 1<<20 {
		_, _ = io.CopyN(io.Discard, c.r, int64(n))
	}
	return code, h, nil
}

// refused: the server answered with an error status or closed.
func refused(what string, code int, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code >= 200 && code < 300 {
		return fmt.Errorf("%s: the server answered %d", what, code)
	}
	return nil
}

const goodSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=battery\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"

func rtspCases() []hostileCase {
	return []hostileCase{
		{name: "rtsp/random-bytes", run: func(ctx context.Context, e *env) error {
			c, err := rtspDial(ctx, e, "battery-rtsp")
			if err != nil {
				return err
			}
			defer c.Close()
			writeAll(c, randomBytes(rand.New(rand.NewPCG(5, 6)), 64<<10))
			return expectClosed(ctx, c)
		}},
		{name: "rtsp/huge-header", run: func(ctx context.Context, e *env) error {
			c, err := rtspDial(ctx, e, "battery-rtsp")
			if err != nil {
				return err
			}
			defer c.Close()
			code, _, err := c.request("OPTIONS", []string{"X-Big: " + strings.Repeat("a", 1<<20)}, "")
			return refused("OPTIONS with a 1 MiB header", code, err)
		}},
		{name: "rtsp/many-headers", run: func(ctx context.Context, e *env) error {
			c, err := rtspDial(ctx, e, "battery-rtsp")
			if err != nil {
				return err
			}
			defer c.Close()
			hs := make([]string, 20000)
			for i := range hs {
				hs[i] = fmt.Sprintf("X-H%d: v", i)
			}
			code, _, err := c.request("OPTIONS", hs, "")
			return refused("OPTIONS with 20000 headers", code, err)
		}},
		{name: "rtsp/bad-announce-sdp", run: func(ctx context.Context, e *env) error {
			var errs []string
			for _, sdp := range []string{
				"garbage",
				"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n",
				"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n" + strings.Repeat("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", 2000),
				"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=!!!!,????\r\n",
			} {
				c, err := rtspDial(ctx, e, "battery-rtsp-sdp")
				if err != nil {
					return err
				}
				code, _, err := c.request("ANNOUNCE", []string{"Content-Type: application/sdp"}, sdp)
				_ = c.Close()
				if err := refused("ANNOUNCE", code, err); err != nil && !(code >= 200 && code < 300 && strings.Count(sdp, "m=") > 1) {
					errs = append(errs, fmt.Sprintf("SDP %.20q: %v", sdp, err))
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "; "))
			}
			return nil
		}},
		{name: "rtsp/announce-lying-content-length", run: func(ctx context.Context, e *env) error {
			c, err := rtspDial(ctx, e, "battery-rtsp-cl")
			if err != nil {
				return err
			}
			defer c.Close()
			writeAll(c, []byte("ANNOUNCE "+c.url+" RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 999999999\r\n\r\nv=0\r\n"))
			if tc, ok := c.Conn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return expectClosed(ctx, c)
		}},
		{name: "rtsp/record-without-setup", run: func(ctx context.Context, e *env) error {
			c, err := rtspDial(ctx, e, "battery-rtsp-record")
			if err != nil {
				return err
			}
			defer c.Close()
			code, h, err := c.request("ANNOUNCE", []string{"Content-Type: application/sdp"}, goodSDP)
			if err != nil || code != 200 {
				return fmt.Errorf("ANNOUNCE of a good SDP: %d %v", code, err)
			}
			var hs []string
			if s := h.Get("Session"); s != "" {
				hs = append(hs, "Session: "+s)
			}
			code, _, err = c.request("RECORD", append(hs, "Range: npt=0.000-"), "")
			return refused("RECORD without SETUP", code, err)
		}},
		{name: "rtsp/record-garbage-rtp", run: recordGarbageRTP},
		{name: "rtsp/interleaved-garbage", run: func(ctx context.Context, e *env) error {
			c, err := rtspDial(ctx, e, "battery-rtsp-interleaved")
			if err != nil {
				return err
			}
			defer c.Close()
			if code, _, err := c.request("OPTIONS", nil, ""); err != nil || code != 200 {
				return fmt.Errorf("OPTIONS: %d %v", code, err)
			}
			r := rand.New(rand.NewPCG(8, 9))
			var b []byte
			for range 200 {
				n := r.IntN(2000)
				b = append(b, '$', byte(r.IntN(4)), byte(n>>8), byte(n))
				b = append(b, randomBytes(r, n)...)
			}
			writeAll(c, append(b, randomBytes(r, 4096)...))
			return expectClosed(ctx, c)
		}},
	}
}

// recordGarbageRTP sets up a RECORD session over TCP the proper way and
// sends RTP packets whose H.264 payloads no packetizer writes: random NAL
// types, FU-A fragments out of order, STAP-A aggregates with lying
// sizes, sequence numbers and timestamps jumping.
func recordGarbageRTP(ctx context.Context, e *env) error {
	c, err := rtspDial(ctx, e, "battery-rtsp-garbage-rtp")
	if err != nil {
		return err
	}
	defer c.Close()
	code, _, err := c.request("ANNOUNCE", []string{"Content-Type: application/sdp"}, goodSDP)
	if err != nil || code != 200 {
		return fmt.Errorf("ANNOUNCE: %d %v", code, err)
	}
	base := c.url
	c.url = base + "/trackID=0"
	code, h, err := c.request("SETUP", []string{"Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"}, "")
	if err != nil || code != 200 {
		return fmt.Errorf("SETUP: %d %v", code, err)
	}
	session, _, _ := strings.Cut(h.Get("Session"), ";")
	c.url = base
	if code, _, err = c.request("RECORD", []string{"Session: " + session, "Range: npt=0.000-"}, ""); err != nil || code != 200 {
		return fmt.Errorf("RECORD: %d %v", code, err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	var b []byte
	seq, ts := uint16(r.Uint32()), r.Uint32()
	for i := range e.count(5000, 1500) {
		payload := randomBytes(r, 1+r.IntN(1400))
		switch i % 4 {
		case 0: // FU-A, random start/end bits
			payload[0] = 0x7c
		case 1: // STAP-A with a lying first size
			payload = append([]byte{0x78, 0xff, 0xff}, payload...)
		case 2: // an IDR slice of garbage
			payload[0] = 0x65
		}
		seq += uint16(1 + r.IntN(3)*r.IntN(2)*1000)
		ts += uint32(r.IntN(6000)) - 1000
		pkt := []byte{0x80, 96 | byte(r.IntN(2))<<7, byte(seq >> 8), byte(seq), byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts), 1, 2, 3, 4}
		pkt = append(pkt, payload...)
		b = append(b, '$', 0, byte(len(pkt)>>8), byte(len(pkt)))
		b = append(b, pkt...)
	}
	writeAll(c, b)
	return nil
}
