package battery

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

// Raw TCP and RTMP pieces for the cases: what no well-behaved client
// sends.

func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// closeTimeout is how long the server has to close a connection it
// should refuse.
const closeTimeout = 10 * time.Second

// expectClosed reads and discards what the server sends until it closes
// the connection; an error if it has not within closeTimeout.
func expectClosed(ctx context.Context, c net.Conn) error {
	deadline := time.Now().Add(closeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetReadDeadline(deadline)
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the server kept the connection open for %v", closeTimeout)
	}
	return nil // EOF or reset: closed
}

// writeAll writes b; a write refused because the server already closed
// the connection is what the cases expect, not an error.
func writeAll(c net.Conn, b []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(closeTimeout))
	_, _ = c.Write(b)
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// rtmpHandshaken dials the RTMP port and completes the handshake.
func rtmpHandshaken(ctx context.Context, addr string) (net.Conn, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(closeTimeout))
	if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("rtmp handshake: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// Chunk stream ids, as ffmpeg uses them.
const (
	csidControl = 2
	csidCommand = 3
	csidAudio   = 4
	csidData    = 5
	csidVideo   = 6
)

// RTMP message type ids.
const (
	msgSetChunkSize = 1
	msgAudio        = 8
	msgVideo        = 9
	msgData         = 18
	msgCommand      = 20
)

// chunkHeader is a type 0 chunk header: basic header (csid < 64), then
// timestamp, message length (as claimed), type and stream id.
func chunkHeader(csid int, typ byte, streamID uint32, ts uint32, length int) []byte {
	h := []byte{byte(csid)}
	extended := ts >= 0xffffff
	t := ts
	if extended {
		t = 0xffffff
	}
	h = append(h, byte(t>>16), byte(t>>8), byte(t), byte(length>>16), byte(length>>8), byte(length), typ)
	h = binary.LittleEndian.AppendUint32(h, streamID)
	if extended {
		h = binary.BigEndian.AppendUint32(h, ts)
	}
	return h
}

// rtmpMessage chunks a whole message at the default chunk size (128).
func rtmpMessage(csid int, typ byte, streamID uint32, body []byte) []byte {
	out := chunkHeader(csid, typ, streamID, 0, len(body))
	for len(body) > 0 {
		n := min(128, len(body))
		out = append(out, body[:n]...)
		body = body[n:]
		if len(body) > 0 {
			out = append(out, 0xc0|byte(csid)) // type 3 continuation
		}
	}
	return out
}

// AMF0 values.
func amfNum(v float64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0x00}, math.Float64bits(v))
}

func amfStr(s string) []byte {
	b := []byte{0x02, byte(len(s) >> 8), byte(len(s))}
	return append(b, s...)
}

func amfNull() []byte { return []byte{0x05} }

// amfObject encodes an anonymous object of string properties.
func amfObject(props ...string) []byte {
	b := []byte{0x03}
	for i := 0; i+1 < len(props); i += 2 {
		b = append(b, byte(len(props[i])>>8), byte(len(props[i])))
		b = append(b, props[i]...)
		b = append(b, amfStr(props[i+1])...)
	}
	return append(b, 0, 0, 0x09)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// connectCommand is a well-formed connect to app live with extra AMF0
// values appended.
func connectCommand(extra ...[]byte) []byte {
	return concat(append([][]byte{amfStr("connect"), amfNum(1), amfObject("app", "live", "type", "nonprivate")}, extra...)...)
}

// nestedObjects is depth AMF0 objects, each the value of the previous
// one's property "a".
func nestedObjects(depth int) []byte {
	var b bytes.Buffer
	for range depth {
		b.Write([]byte{0x03, 0x00, 0x01, 'a'})
	}
	b.Write([]byte{0x05})
	for range depth {
		b.Write([]byte{0x00, 0x00, 0x09})
	}
	return b.Bytes()
}

// rtmpPublisher is go-rtmp's client after publish: a publisher that sends
// exactly the tags a case wants.
type rtmpPublisher struct {
	cc     *gortmp.ClientConn
	stream *gortmp.Stream
	stop   func() bool
}

func quietLogrus() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// rtmpPublish connects to rtmp://addr/live and publishes name.
func rtmpPublish(ctx context.Context, addr, name string) (*rtmpPublisher, error) {
	cc, err := gortmp.DialWithDialer(&net.Dialer{Timeout: closeTimeout}, "rtmp", addr, &gortmp.ConnConfig{Logger: quietLogrus()})
	if err != nil {
		return nil, fmt.Errorf("rtmp dial: %w", err)
	}
	p := &rtmpPublisher{cc: cc, stop: context.AfterFunc(ctx, func() { _ = cc.Close() })}
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: "live", Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; liveorigin battery)", TCURL: "rtmp://" + addr + "/live",
	}}); err != nil {
		p.close()
		return nil, fmt.Errorf("rtmp connect: %w", err)
	}
	// chunkSize 0 keeps 128: go-rtmp's client logs a change to the global
	// logrus logger.
	if p.stream, err = cc.CreateStream(nil, 0); err != nil {
		p.close()
		return nil, fmt.Errorf("rtmp createStream: %w", err)
	}
	if err := p.stream.Publish(&message.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		p.close()
		return nil, fmt.Errorf("rtmp publish: %w", err)
	}
	return p, nil
}

func (p *rtmpPublisher) close() {
	p.stop()
	_ = p.cc.Close()
}

// send writes one tag as an RTMP message.
func (p *rtmpPublisher) send(t flvTag) error {
	switch {
	case t.video():
		return p.stream.Write(csidVideo, t.ts, &message.VideoMessage{Payload: bytes.NewReader(t.body)})
	case t.audio():
		return p.stream.Write(csidAudio, t.ts, &message.AudioMessage{Payload: bytes.NewReader(t.body)})
	}
	return nil
}

// sendAll writes tags; an error ends it (the server may well close a
// publisher that sends nonsense: that is not the case failing).
func (p *rtmpPublisher) sendAll(tags []flvTag) error {
	for _, t := range tags {
		if err := p.send(t); err != nil {
			return err
		}
	}
	return nil
}

func asNetError(err error, target *net.Error) bool { return errors.As(err, target) }
