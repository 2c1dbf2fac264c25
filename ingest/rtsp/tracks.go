package rtsp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/liveorigin/liveorigin/ingest"
)

// maxTracks is the packager's limit on tracks per stream; further supported
// medias are ignored.
const maxTracks = 4

// Why a session description cannot be published. The server turns them
// into RTSP statuses; a pull source into a retried error.
var (
	// errNoSupportedTrack: no media of the SDP has a codec we package.
	errNoSupportedTrack = errors.New("no supported track")
	// errBadSDP: a media declares a codec configuration that is invalid
	// (a lying SDP): rather than a broken track, the publish is refused.
	errBadSDP = errors.New("invalid codec configuration in the SDP")
)

// mediaTrack is one supported format of a session description: RTP packets
// of that format in, access units of one ingest track out.
type mediaTrack struct {
	index  int // in the session's tracks, the AccessUnit.Track value
	media  *description.Media
	format format.Format
	codec  ingest.Codec
	// track is the current configuration. A video track whose SDP lacks
	// the parameter sets has only Kind, Codec and ClockRate until they
	// arrive in-band.
	track  ingest.Track
	unpack unpacker

	// vps, sps and pps are the newest H.264/H.265 parameter sets, from the
	// SDP and then in-band; track is rebuilt when they change.
	vps, sps, pps [][]byte

	state trackState
}

// planTracks picks the tracks of a session description: the first
// supported format of each media, video before audio (the order the other
// adapters use), at most maxTracks. ignored says, for the log, what was
// left out and why. A configuration that is invalid, rather than merely
// unsupported, fails with errBadSDP.
func planTracks(desc *description.Session) (tracks []*mediaTrack, ignored []string, err error) {
	var video, audio []*mediaTrack
	for i, m := range desc.Medias {
		var reasons []string
		var chosen *mediaTrack
		for _, f := range m.Formats {
			t, err := newMediaTrack(m, f)
			if errors.Is(err, errBadSDP) {
				return nil, nil, fmt.Errorf("media %d (%s): %w", i, m.Type, err)
			}
			if err != nil {
				reasons = append(reasons, err.Error())
				continue
			}
			chosen = t
			break
		}
		switch {
		case chosen == nil:
			ignored = append(ignored, fmt.Sprintf("media %d (%s): %s", i, m.Type, strings.Join(reasons, "; ")))
		case len(video)+len(audio) == maxTracks:
			ignored = append(ignored, fmt.Sprintf("media %d (%s): more than %d tracks", i, m.Type, maxTracks))
		case chosen.track.Kind == ingest.Video:
			video = append(video, chosen)
		default:
			audio = append(audio, chosen)
		}
	}
	tracks = append(video, audio...)
	if len(tracks) == 0 {
		if len(ignored) == 0 {
			return nil, nil, fmt.Errorf("%w: the SDP has no media", errNoSupportedTrack)
		}
		return nil, ignored, fmt.Errorf("%w (H.264, H.265, AAC and Opus are): %s", errNoSupportedTrack, strings.Join(ignored, ", "))
	}
	for i, t := range tracks {
		t.index = i
	}
	return tracks, ignored, nil
}

// newMediaTrack builds the track of one format; an error wrapping errBadSDP
// for an invalid configuration, another error for an unsupported one.
func newMediaTrack(m *description.Media, f format.Format) (*mediaTrack, error) {
	t := &mediaTrack{media: m, format: f}
	clock := f.ClockRate()
	if clock <= 0 {
		return nil, fmt.Errorf("%s: clock rate %d", formatName(f), clock)
	}
	var err error
	switch f := f.(type) {
	case *format.H264:
		t.codec = ingest.H264
		t.sps, t.pps = nonEmpty(f.SPS), nonEmpty(f.PPS)
		t.unpack, err = newH264Unpacker(f)
	case *format.H265:
		t.codec = ingest.H265
		t.vps, t.sps, t.pps = nonEmpty(f.VPS), nonEmpty(f.SPS), nonEmpty(f.PPS)
		t.unpack, err = newH265Unpacker(f)
	case *format.MPEG4Audio:
		t.codec = ingest.AAC
		t.track, t.unpack, err = newAACTrack(f)
	case *format.MPEG4AudioLATM:
		t.codec = ingest.AAC
		t.track, t.unpack, err = newLATMTrack(f)
	case *format.Opus:
		t.codec = ingest.Opus
		// RTP carries no pre-skip (RFC 7587): the stream starts where the
		// encoder's priming does, so there is nothing to skip.
		t.track, err = ingest.OpusTrack(f.ChannelCount, 0, uint32(clock))
		if err == nil {
			t.unpack, err = newOpusUnpacker(f)
		}
	default:
		return nil, fmt.Errorf("%s: %w", formatName(f), ingest.ErrUnsupportedCodec)
	}
	if err != nil {
		if errors.Is(err, ingest.ErrUnsupportedCodec) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errBadSDP, err)
	}
	if t.codec.Kind() == ingest.Video {
		t.track = ingest.Track{Kind: ingest.Video, Codec: t.codec, ClockRate: uint32(clock)}
		if t.paramsComplete() {
			// The SDP's sets must describe a picture even if in-band ones
			// will replace them: a lying SDP is refused up front.
			if _, err := t.buildVideoTrack(); err != nil {
				return nil, fmt.Errorf("%w: %v", errBadSDP, err)
			}
		}
	}
	t.state.init(t)
	return t, nil
}

// paramsComplete reports whether every parameter set the codec needs is
// known.
func (t *mediaTrack) paramsComplete() bool {
	return len(t.sps) > 0 && len(t.pps) > 0 && (t.codec != ingest.H265 || len(t.vps) > 0)
}

// buildVideoTrack builds the Track of the current parameter sets.
func (t *mediaTrack) buildVideoTrack() (ingest.Track, error) {
	if t.codec == ingest.H265 {
		return ingest.H265Track(t.vps, t.sps, t.pps, t.track.ClockRate)
	}
	return ingest.H264Track(t.sps, t.pps, t.track.ClockRate)
}

// formatName names an RTP format for messages: its rtpmap ("PCMA/8000"),
// or its payload type when it has none.
func formatName(f format.Format) string {
	if m := f.RTPMap(); m != "" {
		return m
	}
	return fmt.Sprintf("payload type %d", f.PayloadType())
}

func nonEmpty(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	return [][]byte{b}
}
