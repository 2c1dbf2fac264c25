package rtsp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/sdpunmarshaler"
	"github.com/pion/rtp"
)

// A capture is what an RTSP publisher sent: the SDP of its ANNOUNCE and
// its RTP packets in arrival order, each with the index of its media in
// the SDP. The file format is also the input of FuzzRTPToAccessUnits:
//
//	u16 SDP length, SDP, then repeated: u8 media index, u16 length, RTP packet
//
// (big-endian). testdata/*.rtpcap are real captures of ffmpeg pushing to
// a recorder; `go test -run TestCaptures -update` records them again.
type capture struct {
	sdp     []byte
	packets []capturedPacket
}

type capturedPacket struct {
	media int
	data  []byte
}

func (c *capture) encode() []byte {
	var b bytes.Buffer
	b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(c.sdp))))
	b.Write(c.sdp)
	for _, p := range c.packets {
		b.WriteByte(byte(p.media))
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(p.data))))
		b.Write(p.data)
	}
	return b.Bytes()
}

// decodeCapture reads the capture format; for the fuzzer it accepts any
// input: a truncated packet is dropped.
func decodeCapture(b []byte) (*capture, error) {
	if len(b) < 2 {
		return nil, errors.New("capture: no SDP length")
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > len(b) {
		return nil, fmt.Errorf("capture: SDP of %d bytes, %d left", n, len(b))
	}
	c := &capture{sdp: b[:n]}
	b = b[n:]
	for len(b) >= 3 {
		m, l := int(b[0]), int(binary.BigEndian.Uint16(b[1:]))
		b = b[3:]
		if l > len(b) {
			break
		}
		c.packets = append(c.packets, capturedPacket{media: m, data: b[:l]})
		b = b[l:]
	}
	return c, nil
}

func readCapture(t testing.TB, name string) *capture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCapture(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// description parses the capture's SDP as gortsplib does for an ANNOUNCE.
func (c *capture) description() (*description.Session, error) {
	ssd, err := sdpunmarshaler.Unmarshal(c.sdp)
	if err != nil {
		return nil, err
	}
	var desc description.Session
	if err := desc.Unmarshal2(ssd); err != nil {
		return nil, err
	}
	return &desc, nil
}

// recorder is an RTSP server that accepts one RECORD and captures it.
type recorder struct {
	srv  *gortsplib.Server
	mu   sync.Mutex
	c    capture
	desc *description.Session
	done chan struct{}
}

func (r *recorder) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c.sdp = bytes.Clone(ctx.Request.Body)
	r.desc = ctx.Description
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *recorder) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (r *recorder) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	r.mu.Lock()
	desc := r.desc
	r.mu.Unlock()
	for i, m := range desc.Medias {
		for _, f := range m.Formats {
			ctx.Session.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				b, err := pkt.Marshal()
				if err != nil {
					return
				}
				r.mu.Lock()
				r.c.packets = append(r.c.packets, capturedPacket{media: i, data: b})
				r.mu.Unlock()
			})
		}
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *recorder) OnSessionClose(*gortsplib.ServerHandlerOnSessionCloseCtx) {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
}

// captureFFmpeg records what ffmpeg pushes with the given arguments
// (between the inputs and the output URL).
func captureFFmpeg(t *testing.T, args ...string) *capture {
	t.Helper()
	r := &recorder{done: make(chan struct{})}
	r.srv = &gortsplib.Server{Handler: r, RTSPAddress: "127.0.0.1:0"}
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.srv.Close()
	url := "rtsp://" + r.srv.NetListener().Addr().String() + "/live/capture"
	out, err := runFFmpeg(t, append(append([]string(nil), args...), "-rtsp_transport", "tcp", url)...)
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	select {
	case <-r.done:
	case <-time.After(waitTimeout):
		t.Fatal("recorder: session did not end")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return &capture{sdp: r.c.sdp, packets: append([]capturedPacket(nil), r.c.packets...)}
}

const ffmpegPath = "/usr/bin/ffmpeg"

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(ffmpegPath); err != nil {
		t.Skipf("%s not installed (the Makefile installs it): %v", ffmpegPath, err)
	}
}

// runFFmpeg runs ffmpeg quietly with args after the common ones.
func runFFmpeg(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpegPath, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Inputs: a test pattern and a tone.
var (
	videoInput = []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30"}
	audioInput = []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"}
)

func inputs(extra ...string) []string {
	return append(append(append([]string(nil), videoInput...), audioInput...), extra...)
}

// captures are the recorded fixtures: what they hold and how ffmpeg made
// them. They seed the fuzzer and feed the demuxer tests and the camera
// stand-in.
var captures = []struct {
	file string
	args []string
}{
	// H.264 with B-frames and in-band parameter sets (dump_extra), AAC.
	{"h264_aac.rtpcap", inputs("-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2",
		"-bsf:v", "dump_extra", "-c:a", "aac", "-b:a", "32k", "-f", "rtsp")},
	// H.265 with B-frames (x265 defaults), AAC.
	{"h265_aac.rtpcap", inputs("-t", "1", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=30:bframes=2",
		"-c:a", "aac", "-b:a", "32k", "-f", "rtsp")},
	// H.264 baseline, Opus.
	{"h264_opus.rtpcap", inputs("-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", "15",
		"-c:a", "libopus", "-b:a", "32k", "-f", "rtsp")},
	// AAC as MP4A-LATM, audio only.
	{"aac_latm.rtpcap", append(append([]string(nil), audioInput...),
		"-t", "1", "-c:a", "aac", "-b:a", "32k", "-f", "rtsp", "-rtpflags", "latm")},
}

// TestCaptures records the fixtures with -update and otherwise checks that
// they are present and readable.
func TestCaptures(t *testing.T) {
	for _, tc := range captures {
		t.Run(tc.file, func(t *testing.T) {
			if *update {
				needFFmpeg(t)
				c := captureFFmpeg(t, tc.args...)
				if len(c.packets) == 0 {
					t.Fatal("nothing captured")
				}
				if err := os.WriteFile(filepath.Join("testdata", tc.file), c.encode(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := readCapture(t, tc.file)
			if _, err := c.description(); err != nil {
				t.Fatalf("SDP: %v\n%s", err, c.sdp)
			}
			if len(c.packets) < 10 {
				t.Errorf("%d packets", len(c.packets))
			}
		})
	}
}
