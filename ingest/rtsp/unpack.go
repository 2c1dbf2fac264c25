package rtsp

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpfragmented"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// An unpacker reassembles the frames of one RTP format with gortsplib's
// depacketizers (RFC 6184, 7798, 3640, 6416, 7587). It only reframes: what
// a frame means is the demuxer's business.
type unpacker interface {
	// unpack consumes one packet, whose RTP timestamp decodes to pts (when
	// timed; an untimed packet's frames are returned untimed), and returns
	// the frames it completes (often none). The frames alias depacketizer
	// buffers and packets: copy what is kept.
	unpack(pkt *rtp.Packet, pts int64, timed bool) ([]frame, error)
}

// frame is one access unit as the depacketizer returns it.
type frame struct {
	pts   int64
	timed bool     // pts is meaningful
	nalus [][]byte // H.264/H.265: NAL units without start codes
	data  []byte   // audio: one raw AAC frame or one Opus packet
}

// nalDecoder is gortsplib's H.264 or H.265 depacketizer.
type nalDecoder interface {
	Decode(pkt *rtp.Packet) ([][]byte, error)
}

// videoUnpacker reassembles H.264/H.265 access units. The depacketizers
// end an access unit at the RTP marker bit, which some cameras never set;
// so a packet without it is held until the next one, and marked when the
// next one starts a new timestamp: the depacketizer then always sees the
// end of a frame, and each frame keeps the PTS of its own packets.
type videoUnpacker struct {
	dec nalDecoder
	// more and unstarted are the decoder's "wait for more packets" errors.
	more, unstarted error

	held      *rtp.Packet // gortsplib hands each packet over: it is not reused
	heldPTS   int64
	heldTimed bool
}

func newH264Unpacker(f *format.H264) (*videoUnpacker, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, fmt.Errorf("h264: %w: %v", ingest.ErrUnsupportedCodec, err)
	}
	return &videoUnpacker{dec: dec, more: rtph264.ErrMorePacketsNeeded, unstarted: rtph264.ErrNonStartingPacketAndNoPrevious}, nil
}

func newH265Unpacker(f *format.H265) (*videoUnpacker, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, fmt.Errorf("h265: %w: %v", ingest.ErrUnsupportedCodec, err)
	}
	return &videoUnpacker{dec: dec, more: rtph265.ErrMorePacketsNeeded, unstarted: rtph265.ErrNonStartingPacketAndNoPrevious}, nil
}

func (u *videoUnpacker) unpack(pkt *rtp.Packet, pts int64, timed bool) ([]frame, error) {
	var frames []frame
	var heldErr error
	if h := u.held; h != nil {
		u.held = nil
		if pkt.Timestamp != h.Timestamp {
			h.Marker = true
		}
		frames, heldErr = u.decode(frames, h, u.heldPTS, u.heldTimed)
	}
	if !pkt.Marker {
		u.held, u.heldPTS, u.heldTimed = pkt, pts, timed
		return frames, heldErr
	}
	frames, err := u.decode(frames, pkt, pts, timed)
	if heldErr != nil {
		err = heldErr
	}
	return frames, err
}

func (u *videoUnpacker) decode(frames []frame, pkt *rtp.Packet, pts int64, timed bool) ([]frame, error) {
	nalus, err := u.dec.Decode(pkt)
	switch {
	case errors.Is(err, u.more), errors.Is(err, u.unstarted):
		return frames, nil // a fragment, or joined in the middle of one
	case err != nil:
		return frames, err
	}
	return append(frames, frame{pts: pts, timed: timed, nalus: nalus}), nil
}

// aacUnpacker reassembles AAC frames of mpeg4-generic (RFC 3640) packets,
// which may carry several frames one after the other.
type aacUnpacker struct {
	dec        *rtpmpeg4audio.Decoder
	frameTicks int64 // the duration of one frame in RTP clock units
}

func newAACTrack(f *format.MPEG4Audio) (ingest.Track, unpacker, error) {
	if f.Config == nil {
		return ingest.Track{}, nil, errors.New("aac: no config in the SDP")
	}
	asc, err := f.Config.Marshal()
	if err != nil {
		return ingest.Track{}, nil, fmt.Errorf("aac: config: %w", err)
	}
	t, err := ingest.AACTrack(asc, uint32(f.ClockRate()))
	if err != nil {
		return ingest.Track{}, nil, err
	}
	dec, err := f.CreateDecoder()
	if err != nil {
		return ingest.Track{}, nil, fmt.Errorf("aac: %w", err)
	}
	return t, &aacUnpacker{dec: dec, frameTicks: frameTicks(t)}, nil
}

func (u *aacUnpacker) unpack(pkt *rtp.Packet, pts int64, timed bool) ([]frame, error) {
	aus, err := u.dec.Decode(pkt)
	if errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	frames := make([]frame, len(aus))
	for i, au := range aus {
		frames[i] = frame{pts: pts + int64(i)*u.frameTicks, timed: timed, data: au}
	}
	return frames, nil
}

// latmUnpacker reassembles AAC frames of MP4A-LATM (RFC 6416) packets with
// the StreamMuxConfig in the SDP (cpresent=0).
type latmUnpacker struct {
	dec        *rtpfragmented.Decoder
	config     *mpeg4audio.StreamMuxConfig
	frameTicks int64
}

func newLATMTrack(f *format.MPEG4AudioLATM) (ingest.Track, unpacker, error) {
	c := f.StreamMuxConfig
	if f.CPresent || c == nil {
		return ingest.Track{}, nil, fmt.Errorf("aac: %w: MP4A-LATM with the configuration in-band (cpresent=1)", ingest.ErrUnsupportedCodec)
	}
	if len(c.Programs) != 1 || len(c.Programs[0].Layers) != 1 || c.Programs[0].Layers[0].AudioSpecificConfig == nil {
		return ingest.Track{}, nil, fmt.Errorf("aac: %w: MP4A-LATM with several programs or layers", ingest.ErrUnsupportedCodec)
	}
	asc, err := c.Programs[0].Layers[0].AudioSpecificConfig.Marshal()
	if err != nil {
		return ingest.Track{}, nil, fmt.Errorf("aac: LATM config: %w", err)
	}
	t, err := ingest.AACTrack(asc, uint32(f.ClockRate()))
	if err != nil {
		return ingest.Track{}, nil, err
	}
	dec, err := f.CreateDecoder()
	if err != nil {
		return ingest.Track{}, nil, fmt.Errorf("aac: %w", err)
	}
	return t, &latmUnpacker{dec: dec, config: c, frameTicks: frameTicks(t)}, nil
}

func (u *latmUnpacker) unpack(pkt *rtp.Packet, pts int64, timed bool) ([]frame, error) {
	el, err := u.dec.Decode(pkt)
	if errors.Is(err, rtpfragmented.ErrMorePacketsNeeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ame := mpeg4audio.AudioMuxElement{StreamMuxConfig: u.config}
	if err := ame.Unmarshal(el); err != nil {
		return nil, fmt.Errorf("LATM AudioMuxElement: %w", err)
	}
	frames := make([]frame, 0, len(ame.Payloads))
	for i, sub := range ame.Payloads {
		if len(sub) == 0 || len(sub[0]) == 0 {
			return nil, fmt.Errorf("LATM AudioMuxElement: subframe %d has no payload", i)
		}
		frames = append(frames, frame{pts: pts + int64(i)*u.frameTicks, timed: timed, data: sub[0][0]})
	}
	return frames, nil
}

// frameTicks is the duration of one AAC frame in the track's clock units.
func frameTicks(t ingest.Track) int64 {
	return int64(t.FrameSamples) * int64(t.ClockRate) / int64(t.SampleRate)
}

// opusUnpacker returns one Opus packet per RTP packet (RFC 7587).
type opusUnpacker struct {
	dec *rtpsimpleaudio.Decoder
}

func newOpusUnpacker(f *format.Opus) (*opusUnpacker, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, fmt.Errorf("opus: %w", err)
	}
	return &opusUnpacker{dec: dec}, nil
}

func (u *opusUnpacker) unpack(pkt *rtp.Packet, pts int64, timed bool) ([]frame, error) {
	p, err := u.dec.Decode(pkt)
	if err != nil {
		return nil, err
	}
	return []frame{{pts: pts, timed: timed, data: p}}, nil
}
