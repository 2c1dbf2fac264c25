package rtsp

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// camera is a stand-in for an IP camera: an RTSP server that asks for
// credentials and plays a capture in a loop, continuing its RTP sequence
// numbers and timestamps on each round.
type camera struct {
	srv        *gortsplib.Server
	stream     *gortsplib.ServerStream
	desc       *description.Session
	c          *capture
	loopTicks  []uint32 // per media: the capture's duration in RTP ticks
	loopSeq    []uint16 // per media: its number of packets
	user, pass string

	mu      sync.Mutex
	playing bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// startCamera serves c at addr ("127.0.0.1:0" for any port); the capture
// lasts seconds. udp enables the UDP transport on a free port pair.
func startCamera(t *testing.T, addr string, c *capture, seconds int, user, pass string, udp bool) *camera {
	t.Helper()
	desc, err := c.description()
	if err != nil {
		t.Fatal(err)
	}
	cam := &camera{desc: desc, c: c, user: user, pass: pass, stop: make(chan struct{})}
	cam.loopSeq = make([]uint16, len(desc.Medias))
	for i, m := range desc.Medias {
		cam.loopTicks = append(cam.loopTicks, uint32(seconds*m.Formats[0].ClockRate()))
		for _, p := range c.packets {
			if p.media == i {
				cam.loopSeq[i]++
			}
		}
	}
	cam.srv = &gortsplib.Server{Handler: cam, RTSPAddress: addr}
	if udp {
		cam.srv.UDPRTPAddress, cam.srv.UDPRTCPAddress = freeUDPPair(t)
	}
	if err := cam.srv.Start(); err != nil {
		t.Fatal(err)
	}
	// A pull may be connecting already: requests wait for the stream.
	stream := &gortsplib.ServerStream{Server: cam.srv, Desc: desc}
	if err := stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	cam.mu.Lock()
	cam.stream = stream
	cam.mu.Unlock()
	t.Cleanup(cam.close)
	return cam
}

func (cam *camera) addr() string { return cam.srv.NetListener().Addr().String() }

// close stops the camera: its clients see the connection drop.
func (cam *camera) close() {
	cam.mu.Lock()
	select {
	case <-cam.stop:
		cam.mu.Unlock()
		return
	default:
		close(cam.stop)
	}
	cam.mu.Unlock()
	cam.wg.Wait()
	cam.stream.Close()
	cam.srv.Close()
}

func (cam *camera) authorized(c *gortsplib.ServerConn, req *base.Request) bool {
	return cam.user == "" || c.VerifyCredentials(req, cam.user, cam.pass)
}

func (cam *camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return cam.serve(ctx.Conn, ctx.Request)
}

func (cam *camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return cam.serve(ctx.Conn, ctx.Request)
}

func (cam *camera) serve(c *gortsplib.ServerConn, req *base.Request) (*base.Response, *gortsplib.ServerStream, error) {
	if !cam.authorized(c, req) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	cam.mu.Lock()
	stream := cam.stream
	cam.mu.Unlock()
	if stream == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// OnPlay starts the replay with the first player.
func (cam *camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	cam.mu.Lock()
	defer cam.mu.Unlock()
	if !cam.playing {
		cam.playing = true
		cam.wg.Add(1)
		go cam.replay()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// replay writes the capture in a loop. The ticker paces the source like a
// camera's frame clock; nothing waits on it for synchronisation.
func (cam *camera) replay() {
	defer cam.wg.Done()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for round := uint32(0); ; round++ {
		for _, p := range cam.c.packets {
			select {
			case <-cam.stop:
				return
			case <-tick.C:
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(p.data); err != nil || p.media >= len(cam.desc.Medias) {
				continue
			}
			pkt.SequenceNumber += uint16(round) * cam.loopSeq[p.media]
			pkt.Timestamp += round * cam.loopTicks[p.media]
			_ = cam.stream.WritePacketRTP(cam.desc.Medias[p.media], &pkt)
		}
	}
}
