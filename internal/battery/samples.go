package battery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// flvTag is one FLV tag of a sample: what an RTMP publisher sends as one
// audio (8), video (9) or data (18) message.
type flvTag struct {
	typ  byte
	ts   uint32 // milliseconds
	body []byte
}

func (t flvTag) video() bool { return t.typ == 9 }
func (t flvTag) audio() bool { return t.typ == 8 }

// sequenceHeader reports whether the tag is an AVC or AAC sequence header.
func (t flvTag) sequenceHeader() bool {
	return len(t.body) >= 2 && t.body[1] == 0 && (t.video() || t.audio())
}

// keyframe reports whether a video tag is a key frame.
func (t flvTag) keyframe() bool { return t.video() && len(t.body) > 0 && t.body[0]>>4 == 1 }

// samples are short streams encoded once by ffmpeg, which the RTMP cases
// publish whole or twisted.
type samples struct {
	// a: 320x240 30 fps H.264 (key frame a second, no B-frames) and AAC
	// 48 kHz stereo; b: 160x120 H.264 and AAC 44.1 kHz mono.
	a, b []flvTag
	// ts is a as MPEG-TS, what an SRT caller sends.
	ts []byte
}

func makeSamples(ctx context.Context, ffmpeg string) (*samples, error) {
	gen := func(size string, rate, channels int) ([]flvTag, error) {
		out, err := encode(ctx, ffmpeg,
			"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=%d", rate),
			"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-ac", fmt.Sprint(channels), "-b:a", "64k", "-f", "flv", "pipe:1")
		if err != nil {
			return nil, err
		}
		tags, err := readFLV(out)
		if err != nil {
			return nil, fmt.Errorf("ffmpeg's FLV sample: %w", err)
		}
		return tags, nil
	}
	var s samples
	var err error
	if s.ts, err = encode(ctx, ffmpeg,
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "mpegts", "pipe:1"); err != nil {
		return nil, err
	}
	if s.a, err = gen("320x240", 48000, 2); err != nil {
		return nil, err
	}
	if s.b, err = gen("160x120", 44100, 1); err != nil {
		return nil, err
	}
	return &s, nil
}

// readFLV splits an FLV file into its tags.
func readFLV(b []byte) ([]flvTag, error) {
	if len(b) < 13 || string(b[:3]) != "FLV" {
		return nil, errors.New("not an FLV file")
	}
	off := int(binary.BigEndian.Uint32(b[5:9])) + 4 // header, then PreviousTagSize0
	var tags []flvTag
	for off+11 <= len(b) {
		size := int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		ts := uint32(b[off+4])<<16 | uint32(b[off+5])<<8 | uint32(b[off+6]) | uint32(b[off+7])<<24
		if off+11+size > len(b) {
			return nil, fmt.Errorf("tag at %d: %d bytes, %d left", off, size, len(b)-off-11)
		}
		tags = append(tags, flvTag{typ: b[off] & 0x1f, ts: ts, body: b[off+11 : off+11+size]})
		off += 11 + size + 4
	}
	if len(tags) == 0 {
		return nil, errors.New("no tags")
	}
	return tags, nil
}

// media returns the audio and video tags of a sample, without its
// script data.
func media(tags []flvTag) []flvTag {
	var out []flvTag
	for _, t := range tags {
		if t.audio() || t.video() {
			out = append(out, t)
		}
	}
	return out
}
