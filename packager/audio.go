package packager

import (
	"errors"
	"fmt"
)

const (
	// aacFrameSamples is the length of an AAC-LC frame (ISO 14496-3).
	aacFrameSamples = 1024
	// opusTimescale: Opus always runs at 48 kHz in ISOBMFF (Opus in ISOBMFF 4.3).
	opusTimescale = 48000
	// maxOpusPacketSamples is 120 ms at 48 kHz, the longest packet (RFC 6716 3.2.5).
	maxOpusPacketSamples = 5760
)

var errOpusPacket = errors.New("malformed opus packet")

// opusFrameSamples are the frame durations of the 32 TOC configurations in
// 48 kHz samples (RFC 6716 3.1, Table 2): SILK 10/20/40/60 ms, Hybrid
// 10/20 ms, CELT 2.5/5/10/20 ms.
var opusFrameSamples = [32]uint16{
	480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB, MB, WB
	480, 960, 480, 960, // Hybrid SWB, FB
	120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT NB, WB, SWB, FB
}

// opusPacketSamples returns the duration of an Opus packet in 48 kHz samples
// from its TOC byte and, for code 3, the frame count byte (RFC 6716 3.1-3.2).
func opusPacketSamples(packet []byte) (uint32, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty packet", errOpusPacket)
	}
	toc := packet[0]
	frame := uint32(opusFrameSamples[toc>>3])
	var frames uint32
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without a frame count", errOpusPacket)
		}
		frames = uint32(packet[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: code 3 packet with 0 frames", errOpusPacket)
		}
	}
	if d := frames * frame; d <= maxOpusPacketSamples {
		return d, nil
	}
	return 0, fmt.Errorf("%w: %d frames of %d samples exceed 120 ms", errOpusPacket, frames, frame)
}
