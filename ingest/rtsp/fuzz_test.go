package rtsp

import (
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// fuzzSeeds are hand-made inputs in the capture format: SDPs that lie and
// packets that break the depacketizers, next to the real captures.
func fuzzSeeds(t testing.TB) [][]byte {
	h264 := readCapture(t, "h264_aac.rtpcap")
	sdp := string(h264.sdp)
	pkt := func(media int, pt uint8, seq uint16, ts uint32, marker bool, payload ...byte) capturedPacket {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return capturedPacket{media: media, data: b}
	}
	seeds := []*capture{
		// H.264 without parameter sets anywhere, then an IDR.
		{sdp: []byte(strings.Replace(sdp, "sprop-parameter-sets=", "x=", 1)), packets: []capturedPacket{
			pkt(0, 96, 1, 0, true, 0x65, 0x88, 0x84, 0x00),
		}},
		// In-band SPS and PPS that are garbage, in a STAP-A.
		{sdp: h264.sdp, packets: []capturedPacket{
			pkt(0, 96, 1, 0, false, 24, 0, 3, 0x67, 0xff, 0xff, 0, 2, 0x68, 0xff),
			pkt(0, 96, 2, 0, true, 0x65, 0x88),
		}},
		// FU-A fragments out of order, an empty payload, a wrong type.
		{sdp: h264.sdp, packets: []capturedPacket{
			pkt(0, 96, 1, 0, false, 28, 0x45, 1, 2),
			pkt(0, 96, 3, 0, true, 28, 0x85, 3),
			pkt(0, 96, 4, 3000, true),
			pkt(0, 97, 5, 3000, true, 0x41),
			pkt(1, 97, 1, 0, true, 0, 16, 0xff, 0xff, 1, 2),
		}},
		// AAC: AU headers longer than the packet.
		{sdp: h264.sdp, packets: []capturedPacket{pkt(1, 97, 1, 0, true, 0xff, 0xff, 0x01)}},
		// An SDP with nothing supported.
		{sdp: []byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"), packets: []capturedPacket{pkt(0, 0, 1, 0, true, 1)}},
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, s.encode())
	}
	// The beginning of every capture: the fuzzer minimises each new
	// input, which takes long for the whole 50 KB ones.
	for _, c := range captures {
		full := readCapture(t, c.file)
		out = append(out, (&capture{sdp: full.sdp, packets: full.packets[:min(len(full.packets), 15)]}).encode())
	}
	return out
}

// FuzzRTPToAccessUnits feeds an SDP and RTP packets (the capture format)
// through the RTP-to-access-unit path. It must not panic (a recovered
// panic counts as one), and what reaches the session must keep the ingest
// contract.
func FuzzRTPToAccessUnits(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := decodeCapture(in)
		if err != nil {
			return
		}
		s := newFakeSession(ingest.PublishInfo{Name: "fuzz"})
		r, err := newReplayer(c, s, nil)
		if err != nil {
			return // an SDP we refuse
		}
		r.feedAll(c)
		if fail, _ := r.d.result(); fail != nil && fail.reason == reasonPanic {
			t.Fatalf("panic: %v", fail)
		}
		if _, _, errs := s.snapshot(); len(errs) > 0 {
			t.Fatalf("contract broken: %v", errs)
		}
		if r.failed > 1 {
			t.Fatalf("onFail called %d times", r.failed)
		}
	})
}

// TestFuzzSeeds runs the seeds as a plain test (go test runs them anyway;
// this names what they must do).
func TestFuzzSeeds(t *testing.T) {
	for _, in := range fuzzSeeds(t) {
		c, err := decodeCapture(in)
		if err != nil {
			t.Fatal(err)
		}
		s := newFakeSession(ingest.PublishInfo{Name: "seed"})
		r, err := newReplayer(c, s, nil)
		if err != nil {
			continue
		}
		r.feedAll(c)
		if fail, _ := r.d.result(); fail != nil && fail.reason == reasonPanic {
			t.Errorf("panic: %v", fail)
		}
	}
}
