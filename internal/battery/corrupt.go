package battery

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"
)

// Cases that send real media (ffmpeg's) with bytes flipped: what a broken
// encoder or a bad link delivers. They reach past the framing into the
// codec parsers (SPS, PPS, AudioSpecificConfig) and the packager.

// flip returns a copy of b with n random bytes from offset from on
// replaced by random values.
func flip(r *rand.Rand, b []byte, from, n int) []byte {
	out := append([]byte(nil), b...)
	if len(out) <= from {
		return out
	}
	for range n {
		out[from+r.IntN(len(out)-from)] = byte(r.Uint32())
	}
	return out
}

// corruptedConfig publishes, once per variant on a fresh connection, the
// sample's first second with its sequence header of the kind given
// (video: avcC, whose SPS starts at byte 13 of the tag; audio:
// AudioSpecificConfig, from byte 2) randomly corrupted.
func corruptedConfig(name string, video bool) hostileCase {
	return hostileCase{name: "rtmp/" + name, timeout: 60 * time.Second, run: func(ctx context.Context, e *env) error {
		r := rand.New(rand.NewPCG(uint64(len(name)), 21))
		tags := media(e.samples.a)[:45]
		for i := range e.count(150, 40) {
			if ctx.Err() != nil {
				return nil
			}
			bad := make([]flvTag, len(tags))
			for j, t := range tags {
				if t.sequenceHeader() && t.video() == video {
					from := 2
					if video {
						from = 14 // past the SPS's NAL header
					}
					t.body = flip(r, t.body, from, 1+r.IntN(3))
				}
				bad[j] = t
			}
			// Eight names, each republished within the reconnect grace
			// with another broken configuration: distinct names would
			// fill max-streams for the window and its retention.
			p, err := rtmpPublish(ctx, e.rtmp, fmt.Sprintf("battery-%s-%d", name, i%8))
			if err != nil {
				return fmt.Errorf("variant %d: %w", i, err)
			}
			_ = p.sendAll(bad)
			p.close()
		}
		return nil
	}}
}

// bitflippedFrames publishes the whole sample with about one byte in 200
// of every NAL unit's payload (not its length or header, not the sequence
// headers) replaced, and as many of every AAC frame's: the framing holds,
// the media is broken (SEI, slice headers, ADTS-less AAC).
func bitflippedFrames(ctx context.Context, e *env) error {
	r := rand.New(rand.NewPCG(9, 10))
	p, err := rtmpPublish(ctx, e.rtmp, "battery-bitflipped-frames")
	if err != nil {
		return err
	}
	defer p.close()
	for _, t := range media(e.samples.a) {
		switch {
		case t.sequenceHeader():
		case t.video() && len(t.body) > 5:
			b := append([]byte(nil), t.body...)
			for off := 5; off+4 < len(b); {
				n := int(binary.BigEndian.Uint32(b[off:]))
				if n < 2 || off+4+n > len(b) {
					break
				}
				copy(b[off+5:off+4+n], flip(r, b[off+5:off+4+n], 0, 1+n/200))
				off += 4 + n
			}
			t.body = b
		case t.audio() && len(t.body) > 2:
			t.body = flip(r, t.body, 2, 1+len(t.body)/200)
		}
		if err := p.send(t); err != nil {
			return nil // ended by the server: its answer
		}
	}
	return nil
}

// corruptedTS sends ffmpeg's MPEG-TS over SRT with about one byte in 5000
// replaced after the first ten packets (so the program is found): broken
// PES headers, continuity counters, PSI tables, NAL units.
func corruptedTS(ctx context.Context, e *env) error {
	c, err := srtDial(e.srt, "publish:live/battery-srt-corrupted-ts")
	if err != nil {
		return err
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(11, 12))
	ts := flip(r, e.samples.ts, 10*188, len(e.samples.ts)/5000)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for off := 0; off < len(ts); off += 1316 {
		if _, err := c.Write(ts[off:min(off+1316, len(ts))]); err != nil {
			return nil // ended by the server: its answer
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}
