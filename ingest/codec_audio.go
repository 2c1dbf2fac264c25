package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/aac"
)

// aacFrameSamples is the length of an AAC-LC frame in samples (ISO/IEC
// 14496-3, GASpecificConfig frameLengthFlag 0). The 960-sample variant
// (frameLengthFlag 1) is not detected: mp4ff's parser skips GASpecificConfig.
const aacFrameSamples = 1024

// maxASCLen bounds the AudioSpecificConfig we accept. The supported object
// types take at most about 18 bytes, even with both frequencies escaped and
// the SBR/PS sync extension; anything much longer is trailing garbage.
const maxASCLen = 64

// aacChannels maps an AudioSpecificConfig channelConfiguration to a channel
// count (ISO/IEC 14496-3 Table 1.19). 0 (a program config element decides)
// and the reserved values are missing: we cannot describe them in a sample
// entry.
var aacChannels = [...]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8}

// AACTrack builds an AAC track from an AudioSpecificConfig (ISO/IEC 14496-3
// 1.6.2.1), as carried by an FLV/RTMP AAC sequence header or an MPEG-4
// descriptor. AAC-LC, HE-AAC and HE-AACv2 are supported. For HE-AAC the
// SampleRate is the output rate (the SBR rate, twice the core rate) and
// HE-AACv2 (parametric stereo) has 2 channels, as a decoder outputs them;
// FrameSamples is counted at that output rate (1024 for AAC-LC, 2048 for
// HE-AAC). The configuration is copied.
func AACTrack(asc []byte, clockRate uint32) (t Track, err error) {
	defer recoverParser("aac", &err)
	if clockRate == 0 {
		return Track{}, errors.New("aac: clock rate is 0")
	}
	if len(asc) < 2 || len(asc) > maxASCLen {
		return Track{}, fmt.Errorf("aac: AudioSpecificConfig: %d bytes, need 2 to %d", len(asc), maxASCLen)
	}
	hdr, err := aac.DecodeAudioSpecificConfigHeader(bytes.NewReader(asc))
	if err != nil {
		return Track{}, fmt.Errorf("aac: AudioSpecificConfig: %w", err)
	}
	switch hdr.ObjectType {
	case aac.AAClc, aac.HEAACv1, aac.HEAACv2:
	default:
		return Track{}, fmt.Errorf("aac: %w: audio object type %d (use AAC-LC, HE-AAC or HE-AACv2)", ErrUnsupportedCodec, hdr.ObjectType)
	}
	cfg, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(asc))
	if err != nil {
		return Track{}, fmt.Errorf("aac: AudioSpecificConfig: %w", err)
	}
	cc := int(cfg.ChannelConfiguration)
	if cc >= len(aacChannels) || aacChannels[cc] == 0 {
		return Track{}, fmt.Errorf("aac: %w: channel configuration %d", ErrUnsupportedCodec, cc)
	}
	channels := aacChannels[cc]
	rate, frame := cfg.SamplingFrequency, aacFrameSamples
	if cfg.SBRPresentFlag && cfg.ExtensionFrequency > 0 && cfg.ExtensionFrequency != rate {
		// SBR doubles the output rate, so a frame is 2048 output samples.
		// With the SBR rate equal to the core rate (downsampled SBR) the
		// output stays at 1024 samples per frame.
		if cfg.ExtensionFrequency != 2*rate {
			return Track{}, fmt.Errorf("aac: %w: SBR rate %d Hz is neither the core rate %d Hz nor twice it", ErrUnsupportedCodec, cfg.ExtensionFrequency, rate)
		}
		rate, frame = cfg.ExtensionFrequency, 2*aacFrameSamples
	}
	if cfg.PSPresentFlag && channels == 1 {
		channels = 2
	}
	if rate <= 0 || rate > 192000 {
		return Track{}, fmt.Errorf("aac: AudioSpecificConfig: sample rate %d out of range", rate)
	}
	return Track{
		Kind:                Audio,
		Codec:               AAC,
		ClockRate:           clockRate,
		CodecString:         fmt.Sprintf("mp4a.40.%d", cfg.ObjectType),
		SampleRate:          rate,
		Channels:            channels,
		FrameSamples:        frame,
		AudioSpecificConfig: bytes.Clone(asc),
	}, nil
}

// OpusTrack builds an Opus track. Opus always runs at 48 kHz. Its frames
// vary in length, so FrameSamples is 0: OpusPacketSamples reads each packet's
// duration. Only mono and stereo (channel mapping family 0) are supported: more channels need a
// channel mapping table that Track does not carry.
func OpusTrack(channels int, preSkip uint16, clockRate uint32) (Track, error) {
	if clockRate == 0 {
		return Track{}, errors.New("opus: clock rate is 0")
	}
	if channels < 1 || channels > 2 {
		return Track{}, fmt.Errorf("opus: %w: %d channels (mono and stereo are supported)", ErrUnsupportedCodec, channels)
	}
	return Track{
		Kind:        Audio,
		Codec:       Opus,
		ClockRate:   clockRate,
		CodecString: "opus",
		SampleRate:  48000,
		Channels:    channels,
		OpusPreSkip: preSkip,
	}, nil
}

// OpusTrackFromHead builds an Opus track from an Opus identification header
// ("OpusHead", RFC 7845 5.1), as carried by an enhanced-RTMP 'Opus'
// sequence start or a Matroska/Ogg codec private.
func OpusTrackFromHead(head []byte, clockRate uint32) (Track, error) {
	const minLen = 19 // magic 8, version 1, channels 1, pre-skip 2, rate 4, gain 2, family 1
	if len(head) < minLen {
		return Track{}, fmt.Errorf("opus: OpusHead: %d bytes, need at least %d", len(head), minLen)
	}
	if string(head[:8]) != "OpusHead" {
		return Track{}, fmt.Errorf("opus: OpusHead: magic %q, want \"OpusHead\"", head[:8])
	}
	if v := head[8]; v>>4 != 0 {
		return Track{}, fmt.Errorf("opus: %w: OpusHead version %d", ErrUnsupportedCodec, v)
	}
	if family := head[18]; family != 0 {
		return Track{}, fmt.Errorf("opus: %w: channel mapping family %d (family 0, mono or stereo, is supported)", ErrUnsupportedCodec, family)
	}
	return OpusTrack(int(head[9]), binary.LittleEndian.Uint16(head[10:12]), clockRate)
}
