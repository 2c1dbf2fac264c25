package rtmp

import (
	"errors"
	"fmt"

	"github.com/liveorigin/liveorigin/ingest"
)

// FLV tag bodies, as RTMP audio and video messages carry them: the legacy
// FLV tag headers (FLV spec v10.1 annex E.4.2/E.4.3) and the enhanced-RTMP
// ExAudioTagHeader/ExVideoTagHeader (veovera enhanced-rtmp v2, "Enhanced
// Audio"/"Enhanced Video"). go-flv predates enhanced RTMP, so the bodies are
// parsed here, without library types, so that the parser can be fuzzed.

// packetKind says what a tag carries.
type packetKind uint8

const (
	// packetIgnore: nothing for the packager (end of sequence, metadata,
	// command frames, MPEG-2 TS descriptors, another multitrack track).
	packetIgnore packetKind = iota
	// packetConfig: a decoder configuration record (sequence header).
	packetConfig
	// packetFrame: one coded frame.
	packetFrame
)

// videoTag is a parsed video tag body. data aliases the parsed bytes.
type videoTag struct {
	packet packetKind
	codec  ingest.Codec
	key    bool  // FLV frame type key frame (or generated key frame)
	cts    int32 // composition time offset in ms: PTS = DTS + cts
	data   []byte
}

// audioTag is a parsed audio tag body. data aliases the parsed bytes.
type audioTag struct {
	packet packetKind
	codec  ingest.Codec
	data   []byte
}

// errBadTag marks a tag that cannot be parsed (as opposed to one carrying a
// codec we do not support, which wraps ingest.ErrUnsupportedCodec).
var errBadTag = errors.New("malformed FLV tag")

const (
	legacyVideoAVC  = 7
	legacyVideoHEVC = 12 // not in the FLV spec; the de-facto HEVC id of pre-E-RTMP encoders

	frameTypeKey          = 1
	frameTypeGeneratedKey = 4
	frameTypeCommand      = 5

	// E-RTMP VideoPacketType and AudioPacketType values.
	exSequenceStart        = 0
	exCodedFrames          = 1
	exSequenceEnd          = 2
	exCodedFramesX         = 3 // video: composition time 0
	exVideoMetadata        = 4
	exMPEG2TSSequenceStart = 5
	exVideoMultitrack      = 6
	exAudioMultitrack      = 5
	exModEx                = 7

	// AvMultitrackType.
	oneTrack             = 0
	manyTracks           = 1
	manyTracksManyCodecs = 2

	soundFormatAAC      = 10
	soundFormatExHeader = 9
)

var legacyVideoCodecs = [16]string{
	2: "Sorenson H.263", 3: "Screen video", 4: "On2 VP6", 5: "On2 VP6 with alpha",
	6: "Screen video v2", 7: "AVC", 12: "HEVC",
}

var legacySoundFormats = [16]string{
	0: "linear PCM", 1: "ADPCM", 2: "MP3", 3: "linear PCM little-endian", 4: "Nellymoser 16 kHz",
	5: "Nellymoser 8 kHz", 6: "Nellymoser", 7: "G.711 A-law", 8: "G.711 mu-law", 10: "AAC",
	11: "Speex", 14: "MP3 8 kHz", 15: "device-specific sound",
}

// parseVideoTag parses a video tag body (an RTMP video message payload).
func parseVideoTag(b []byte) (videoTag, error) {
	if len(b) == 0 {
		return videoTag{}, fmt.Errorf("%w: empty video tag", errBadTag)
	}
	if b[0]&0x80 != 0 {
		return parseExVideoTag(b)
	}
	frameType, codecID := b[0]>>4, b[0]&0x0f
	if codecID != legacyVideoAVC && codecID != legacyVideoHEVC {
		return videoTag{}, unsupportedLegacy("video codec", legacyVideoCodecs[codecID], codecID, "H.264, or H.265/AV1 over enhanced RTMP")
	}
	if frameType == frameTypeCommand {
		return videoTag{packet: packetIgnore}, nil
	}
	if len(b) < 5 {
		return videoTag{}, fmt.Errorf("%w: video tag of %d bytes, AVC header needs 5", errBadTag, len(b))
	}
	t := videoTag{codec: ingest.H264, key: isKeyFrameType(frameType), data: b[5:]}
	if codecID == legacyVideoHEVC {
		t.codec = ingest.H265
	}
	switch b[1] { // AVCPacketType
	case 0:
		t.packet = packetConfig
	case 1:
		t.packet = packetFrame
		t.cts = si24(b[2:5])
	case 2:
		t.packet = packetIgnore // end of sequence
	default:
		return videoTag{}, fmt.Errorf("%w: unknown AVCPacketType %d", errBadTag, b[1])
	}
	return t, nil
}

// parseExVideoTag parses an enhanced-RTMP video tag (IsExHeader set).
func parseExVideoTag(b []byte) (videoTag, error) {
	frameType, packetType := (b[0]>>4)&0x07, b[0]&0x0f
	r := tagReader{b: b, pos: 1}
	packetType = r.skipModEx(packetType)
	if r.err != nil {
		return videoTag{}, fmt.Errorf("%w: video: %w", errBadTag, r.err)
	}
	if packetType != exVideoMetadata && frameType == frameTypeCommand {
		return videoTag{packet: packetIgnore}, nil // a UI8 command, no payload
	}
	fourCC, body, ok := r.body(packetType == exVideoMultitrack, exVideoMultitrack)
	if r.err != nil {
		return videoTag{}, fmt.Errorf("%w: video: %w", errBadTag, r.err)
	}
	if packetType == exVideoMultitrack {
		packetType = r.multitrackPacketType
	}
	if !ok {
		return videoTag{packet: packetIgnore}, nil // no default track in this message
	}
	var codec ingest.Codec
	switch string(fourCC[:]) {
	case "avc1":
		codec = ingest.H264
	case "hvc1":
		codec = ingest.H265
	case "av01":
		codec = ingest.AV1
	default:
		return videoTag{}, fmt.Errorf("%w: video FourCC %q (use H.264, H.265 or AV1)", ingest.ErrUnsupportedCodec, string(fourCC[:]))
	}
	t := videoTag{codec: codec, key: isKeyFrameType(frameType)}
	switch packetType {
	case exSequenceStart:
		t.packet, t.data = packetConfig, body
	case exCodedFrames:
		t.packet, t.data = packetFrame, body
		if codec == ingest.H264 || codec == ingest.H265 {
			if len(body) < 3 {
				return videoTag{}, fmt.Errorf("%w: %s coded frames of %d bytes, composition time needs 3", errBadTag, string(fourCC[:]), len(body))
			}
			t.cts, t.data = si24(body), body[3:]
		}
	case exCodedFramesX:
		t.packet, t.data = packetFrame, body
	case exSequenceEnd, exVideoMetadata, exMPEG2TSSequenceStart:
		t.packet = packetIgnore
	default:
		return videoTag{}, fmt.Errorf("%w: unknown VideoPacketType %d", errBadTag, packetType)
	}
	return t, nil
}

// parseAudioTag parses an audio tag body (an RTMP audio message payload).
func parseAudioTag(b []byte) (audioTag, error) {
	if len(b) == 0 {
		return audioTag{}, fmt.Errorf("%w: empty audio tag", errBadTag)
	}
	format := b[0] >> 4
	switch format {
	case soundFormatAAC:
	case soundFormatExHeader:
		return parseExAudioTag(b)
	default:
		return audioTag{}, unsupportedLegacy("sound format", legacySoundFormats[format], format, "AAC, or Opus over enhanced RTMP")
	}
	if len(b) < 2 {
		return audioTag{}, fmt.Errorf("%w: AAC tag of 1 byte, header needs 2", errBadTag)
	}
	t := audioTag{codec: ingest.AAC, data: b[2:]}
	switch b[1] { // AACPacketType
	case 0:
		t.packet = packetConfig
	case 1:
		t.packet = packetFrame
	default:
		return audioTag{}, fmt.Errorf("%w: unknown AACPacketType %d", errBadTag, b[1])
	}
	return t, nil
}

// parseExAudioTag parses an enhanced-RTMP audio tag (SoundFormat 9).
func parseExAudioTag(b []byte) (audioTag, error) {
	r := tagReader{b: b, pos: 1}
	packetType := r.skipModEx(b[0] & 0x0f)
	fourCC, body, ok := r.body(packetType == exAudioMultitrack, exAudioMultitrack)
	if r.err != nil {
		return audioTag{}, fmt.Errorf("%w: audio: %w", errBadTag, r.err)
	}
	if packetType == exAudioMultitrack {
		packetType = r.multitrackPacketType
	}
	if !ok {
		return audioTag{packet: packetIgnore}, nil
	}
	var codec ingest.Codec
	switch string(fourCC[:]) {
	case "mp4a":
		codec = ingest.AAC
	case "Opus":
		codec = ingest.Opus
	default:
		return audioTag{}, fmt.Errorf("%w: audio FourCC %q (use AAC or Opus)", ingest.ErrUnsupportedCodec, string(fourCC[:]))
	}
	t := audioTag{codec: codec}
	switch packetType {
	case exSequenceStart:
		t.packet, t.data = packetConfig, body
	case exCodedFrames:
		t.packet, t.data = packetFrame, body
	case exSequenceEnd, 4: // 4: MultichannelConfig, which AAC and Opus carry in-band
		t.packet = packetIgnore
	default:
		return audioTag{}, fmt.Errorf("%w: unknown AudioPacketType %d", errBadTag, packetType)
	}
	return t, nil
}

// tagReader walks the enhanced-RTMP header fields shared by audio and video,
// remembering the first overrun instead of panicking.
type tagReader struct {
	b   []byte
	pos int
	err error
	// multitrackPacketType is the packet type found after a Multitrack
	// signal.
	multitrackPacketType byte
}

func (r *tagReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.pos {
		r.err = fmt.Errorf("truncated at byte %d: need %d more bytes, have %d", r.pos, n, len(r.b)-r.pos)
		return nil
	}
	r.pos += n
	return r.b[r.pos-n : r.pos]
}

// skipModEx skips ModEx packets (their only defined use, a nanosecond
// timestamp offset, is below RTMP's millisecond precision) and returns the
// packet type that follows them.
func (r *tagReader) skipModEx(packetType byte) byte {
	for packetType == exModEx && r.err == nil {
		size := 0
		if s := r.take(1); s != nil {
			size = int(s[0]) + 1
		}
		if size == 256 {
			if s := r.take(2); s != nil {
				size = int(s[0])<<8 | int(s[1]) + 1
			}
		}
		r.take(size)
		if s := r.take(1); s != nil {
			packetType = s[0] & 0x0f
		}
	}
	return packetType
}

// body reads the FourCC and returns the payload of the tag or, in a
// multitrack tag, of its default track (track id 0, the highest priority
// track by E-RTMP's recommendation); ok is false when the message does not
// carry track 0. Other tracks are not packaged.
func (r *tagReader) body(multitrack bool, multitrackSignal byte) (fourCC [4]byte, body []byte, ok bool) {
	if !multitrack {
		copy(fourCC[:], r.take(4))
		return fourCC, r.b[min(r.pos, len(r.b)):], r.err == nil
	}
	var mtType byte
	if s := r.take(1); s != nil {
		mtType, r.multitrackPacketType = s[0]>>4, s[0]&0x0f
	}
	if r.err == nil && r.multitrackPacketType == multitrackSignal {
		r.err = errors.New("nested multitrack signal")
	}
	if r.err == nil && mtType > manyTracksManyCodecs {
		r.err = fmt.Errorf("unknown multitrack type %d", mtType)
	}
	if mtType != manyTracksManyCodecs {
		copy(fourCC[:], r.take(4))
	}
	for r.err == nil && r.pos < len(r.b) {
		if mtType == manyTracksManyCodecs {
			copy(fourCC[:], r.take(4))
		}
		var id byte
		if s := r.take(1); s != nil {
			id = s[0]
		}
		var track []byte
		if mtType == oneTrack {
			track, r.pos = r.b[min(r.pos, len(r.b)):], len(r.b)
		} else if s := r.take(3); s != nil {
			track = r.take(int(s[0])<<16 | int(s[1])<<8 | int(s[2]))
		}
		if r.err == nil && id == 0 {
			return fourCC, track, true
		}
	}
	return fourCC, nil, false
}

func isKeyFrameType(frameType byte) bool {
	return frameType == frameTypeKey || frameType == frameTypeGeneratedKey
}

// si24 reads a signed 24-bit big-endian integer (FLV CompositionTime).
func si24(b []byte) int32 {
	v := int32(b[0])<<16 | int32(b[1])<<8 | int32(b[2])
	if v&0x800000 != 0 {
		v -= 1 << 24
	}
	return v
}

func unsupportedLegacy(what, name string, id byte, use string) error {
	if name == "" {
		name = "reserved"
	}
	return fmt.Errorf("%w: FLV %s %d (%s); use %s", ingest.ErrUnsupportedCodec, what, id, name, use)
}
