package ingest

import (
	"errors"
	"fmt"
)

// opusMaxPacketSamples is 120 ms at 48 kHz, the longest packet (RFC 6716 3.2.5).
const opusMaxPacketSamples = 5760

var errOpusPacket = errors.New("malformed opus packet")

// opusFrameSamples are the frame durations of the 32 TOC configurations in
// 48 kHz samples (RFC 6716 3.1, Table 2): SILK 10/20/40/60 ms, Hybrid
// 10/20 ms, CELT 2.5/5/10/20 ms.
var opusFrameSamples = [32]uint16{
	480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB, MB, WB
	480, 960, 480, 960, // Hybrid SWB, FB
	120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT NB, WB, SWB, FB
}

// OpusPacketSamples returns the duration of an Opus packet in 48 kHz samples
// from its TOC byte and, for code 3, the frame count byte (RFC 6716 3.1-3.2).
// Opus frames vary in length, so an Opus Track has no FrameSamples: each
// packet gives its own duration. A packet that is empty, declares no frames
// or lasts more than 120 ms is an error.
func OpusPacketSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty packet", errOpusPacket)
	}
	toc := packet[0]
	frame := int(opusFrameSamples[toc>>3])
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without a frame count", errOpusPacket)
		}
		frames = int(packet[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: code 3 packet with 0 frames", errOpusPacket)
		}
	}
	if d := frames * frame; d <= opusMaxPacketSamples {
		return d, nil
	}
	return 0, fmt.Errorf("%w: %d frames of %d samples exceed 120 ms", errOpusPacket, frames, frame)
}
