package battery

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/yutopp/go-rtmp/message"
)

// Publishing cases: a well-formed RTMP session (go-rtmp's client) that
// publishes what no encoder sends.

// published is a case that publishes name with go-rtmp's client and
// sends the tags tags returns; the server may end the publisher (that is
// its answer to nonsense), it must not be harmed.
func published(name string, tags func(s *samples) []flvTag) hostileCase {
	return hostileCase{name: "rtmp/" + name, run: func(ctx context.Context, e *env) error {
		p, err := rtmpPublish(ctx, e.rtmp, "battery-"+strings.ReplaceAll(name, "/", "-"))
		if err != nil {
			return err
		}
		defer p.close()
		_ = p.sendAll(tags(e.samples))
		return nil
	}}
}

func rtmpPublishCases() []hostileCase {
	return []hostileCase{
		published("flv-lying-nalu-length", func(s *samples) []flvTag {
			return append(sequenceHeaders(s.a), flvTag{typ: 9, ts: 0, body: []byte{0x17, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x65, 0x88}})
		}),
		published("flv-lying-avcc-length", func(s *samples) []flvTag {
			// configurationVersion 1, one SPS claiming 65535 bytes.
			return []flvTag{{typ: 9, body: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0xff, 0xff, 0x67, 0x64}}}
		}),
		published("flv-truncated-tags", func(s *samples) []flvTag {
			return append(sequenceHeaders(s.a), flvTag{typ: 9, body: []byte{0x17}}, flvTag{typ: 8, body: []byte{0xaf}}, flvTag{typ: 9, body: []byte{0x17, 1, 0}})
		}),
		published("flv-aac-header-1-byte", func(s *samples) []flvTag {
			return []flvTag{{typ: 8, body: []byte{0xaf, 0, 0x12}}}
		}),
		published("flv-negative-composition-time", func(s *samples) []flvTag {
			return withCompositionTime(s, 0x80, 0, 0) // -8388608 ms
		}),
		published("avc-resolution-change", func(s *samples) []flvTag {
			a, b := media(s.a), media(s.b)
			return concatTags(a[:len(a)/2], shift(only(b, flvTag.video), a[len(a)/2-1].ts+33), shift(only(a[len(a)/2:], flvTag.audio), 0))
		}),
		published("video-codec-change", func(s *samples) []flvTag {
			a := media(s.a)
			half := a[len(a)/2:]
			// Enhanced RTMP: an HEVC sequence start with a garbage record,
			// then the H.264 frames again, then a legacy Sorenson H.263 frame.
			hevc := flvTag{typ: 9, ts: half[0].ts, body: append([]byte{0x90, 'h', 'v', 'c', '1'}, make([]byte, 40)...)}
			sorenson := flvTag{typ: 9, ts: half[len(half)-1].ts, body: []byte{0x12, 0, 0, 0x84, 0, 0}}
			return concatTags(a[:len(a)/2], []flvTag{hevc}, half, []flvTag{sorenson})
		}),
		published("aac-config-change", func(s *samples) []flvTag {
			a, b := media(s.a), media(s.b)
			return concatTags(a[:len(a)/2], shift(only(b, flvTag.audio), a[len(a)/2-1].ts+20), only(a[len(a)/2:], flvTag.video))
		}),
		published("timestamps-jump-back", func(s *samples) []flvTag {
			a := media(s.a)
			return concatTags(shift(a[:len(a)/2], 10000), a[len(a)/2:])
		}),
		published("timestamps-jump-forward-5h", func(s *samples) []flvTag {
			a := media(s.a)
			return concatTags(a[:len(a)/2], shift(a[len(a)/2:], uint32(5*time.Hour/time.Millisecond)))
		}),
		published("timestamps-wrap-2^32", func(s *samples) []flvTag {
			return shift(media(s.a), 1<<32-1500) // wraps after 1.5 s
		}),
		published("timestamps-all-zero", func(s *samples) []flvTag {
			return shift(media(s.a), 0, 0)
		}),
		published("keyframe-less", func(s *samples) []flvTag {
			var tags []flvTag
			for _, t := range media(s.a) {
				if !t.keyframe() || t.sequenceHeader() {
					tags = append(tags, t)
				}
			}
			return tags
		}),
		published("sequence-headers-only", func(s *samples) []flvTag {
			var tags []flvTag
			for i := range 2000 {
				for _, t := range sequenceHeaders(s.a) {
					t.ts = uint32(i)
					tags = append(tags, t)
				}
			}
			return tags
		}),
		published("flv-huge-composition-time", func(s *samples) []flvTag {
			return withCompositionTime(s, 0x7f, 0xff, 0xff) // +8388607 ms: PTS two hours ahead
		}),
		published("flv-empty-frames-and-zero-length-nalus", func(s *samples) []flvTag {
			tags := sequenceHeaders(s.a)
			for i := range 30 {
				ts := uint32(i * 33)
				tags = append(tags,
					flvTag{typ: 9, ts: ts, body: []byte{0x17, 1, 0, 0, 0}},
					flvTag{typ: 9, ts: ts, body: []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 0}},
					flvTag{typ: 8, ts: ts, body: []byte{0xaf, 1}},
					flvTag{typ: 9, ts: ts, body: []byte{0x17, 2, 0, 0, 0}}) // end of sequence
			}
			return tags
		}),
		published("enhanced-multitrack-lies", func(s *samples) []flvTag {
			tags := sequenceHeaders(s.a)
			for i, body := range [][]byte{
				// Multitrack, OneTrack, coded frames, avc1, track 0: no payload.
				{0x96, 0x01, 'a', 'v', 'c', '1', 0},
				// ManyTracks with a track size larger than the tag.
				{0x96, 0x11, 'a', 'v', 'c', '1', 0, 0xff, 0xff, 0xff, 0x65},
				// ManyTracksManyCodecs: per-track fourCCs, an unknown one, sizes 0.
				{0x96, 0x21, 'z', 'z', 'z', 'z', 7, 0, 0, 0, 'a', 'v', 'c', '1', 0, 0, 0, 0},
				// A multitrack inside a multitrack.
				{0x96, 0x06, 'a', 'v', 'c', '1', 0},
				// An unknown multitrack type and packet type.
				{0x96, 0xf9, 'a', 'v', 'c', '1', 0},
				// Audio: Multitrack (5), ManyTracks, mp4a, a lying size.
				{0x95, 0x11, 'm', 'p', '4', 'a', 0, 0x7f, 0xff, 0xff},
				// Enhanced video with a fourCC and nothing else.
				{0x91, 'h', 'v', 'c', '1'},
				{0x9f},
			} {
				typ := byte(9)
				if body[0] == 0x95 {
					typ = 8
				}
				tags = append(tags, flvTag{typ: typ, ts: uint32(i * 33), body: body})
			}
			return tags
		}),
		published("sequence-header-storm", func(s *samples) []flvTag {
			// The codec configuration alternating with every frame.
			a, b := sequenceHeaders(s.a), sequenceHeaders(s.b)
			var tags []flvTag
			for i, t := range media(s.a) {
				hdr := a
				if i%2 == 1 {
					hdr = b
				}
				tags = append(tags, shift(hdr, t.ts, t.ts)...)
				if !t.sequenceHeader() {
					tags = append(tags, t)
				}
			}
			return tags
		}),
		corruptedConfig("corrupted-avc-config", true),
		corruptedConfig("corrupted-aac-config", false),
		{name: "rtmp/bitflipped-frames", run: bitflippedFrames},
		{name: "rtmp/metadata-nonsense", run: metadataNonsense},
		{name: "rtmp/publish-churn", run: publishChurn},
		{name: "rtmp/two-publishes-one-connection", run: twoPublishes},
		{name: "rtmp/publish-clean-name", run: publishCleanName},
	}
}

// withCompositionTime is sample a's first two seconds with every video
// frame's composition time set to the 24-bit value given.
func withCompositionTime(s *samples, b2, b3, b4 byte) []flvTag {
	tags := sequenceHeaders(s.a)
	for _, t := range media(s.a)[:60] {
		if t.video() && !t.sequenceHeader() {
			b := append([]byte(nil), t.body...)
			b[2], b[3], b[4] = b2, b3, b4
			t.body = b
		}
		tags = append(tags, t)
	}
	return tags
}

// amfECMA encodes an ECMA array of number properties.
func amfECMA(props map[string]float64) []byte {
	b := []byte{0x08, 0, 0, 0, byte(len(props))}
	for k, v := range props {
		b = append(b, byte(len(k)>>8), byte(len(k)))
		b = append(b, k...)
		b = append(b, amfNum(v)...)
	}
	return append(b, 0, 0, 0x09)
}

// metadataNonsense sends onMetaData with values no encoder sends, then
// the sample.
func metadataNonsense(ctx context.Context, e *env) error {
	p, err := rtmpPublish(ctx, e.rtmp, "battery-metadata-nonsense")
	if err != nil {
		return err
	}
	defer p.close()
	for _, props := range []map[string]float64{
		{"width": math.NaN(), "height": -1, "framerate": 1e308, "videocodecid": 999, "audiocodecid": -5, "duration": math.Inf(1)},
		{"videocodecid": math.Float64frombits(0x7ff8000000000001), "audiocodecid": 1.5, "audiosamplerate": -44100, "stereo": 2},
		{"videocodecid": 7, "audiocodecid": 10, "videodatarate": math.Inf(-1), "audiosamplesize": 1 << 62},
	} {
		body := concat(amfStr("onMetaData"), amfECMA(props))
		if err := p.stream.Write(csidData, 0, &message.DataMessage{
			Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body),
		}); err != nil {
			return nil // ended by the server: its answer
		}
	}
	_ = p.sendAll(media(e.samples.a)[:90])
	return nil
}

// publishChurn publishes and drops one name again and again: each
// return is a reconnect within the grace period.
func publishChurn(ctx context.Context, e *env) error {
	for i := range e.count(60, 20) {
		if ctx.Err() != nil {
			return nil
		}
		p, err := rtmpPublish(ctx, e.rtmp, "battery-churn")
		if err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
		_ = p.sendAll(shift(media(e.samples.a)[:20], uint32(i*1000)))
		p.close()
	}
	return nil
}

// twoPublishes publishes two names on one stream of one connection.
func twoPublishes(ctx context.Context, e *env) error {
	p, err := rtmpPublish(ctx, e.rtmp, "battery-first-of-two")
	if err != nil {
		return err
	}
	defer p.close()
	_ = p.sendAll(media(e.samples.a)[:30])
	_ = p.stream.Publish(&message.NetStreamPublish{PublishingName: "battery-second-of-two", PublishingType: "live"})
	_ = p.sendAll(shift(media(e.samples.b)[:30], 1000))
	_ = p.stream.Publish(&message.NetStreamPublish{PublishingName: e.clean, PublishingType: "live"})
	_ = p.sendAll(shift(media(e.samples.a)[:30], 2000))
	return nil
}

// publishCleanName publishes on the clean stream's name: the server must
// refuse it (liveorigin_rtmp_publish_refused_total{reason="already_publishing"}
// grows) and the clean stream go on.
func publishCleanName(ctx context.Context, e *env) error {
	const series = `liveorigin_rtmp_publish_refused_total{reason="already_publishing"}`
	before, err := e.admin.counters(ctx)
	if err != nil {
		return err
	}
	p, err := rtmpPublish(ctx, e.rtmp, e.clean)
	if err == nil {
		defer p.close()
		_ = p.sendAll(sequenceHeaders(e.samples.b))
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		after, err := e.admin.counters(ctx)
		if err == nil && after[series] > before[series] {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("a second publisher on %q was not refused (%s did not grow)", e.clean, series)
		case <-tick.C:
		}
	}
}

func sequenceHeaders(tags []flvTag) []flvTag {
	var out []flvTag
	for _, t := range tags {
		if t.sequenceHeader() {
			out = append(out, t)
		}
	}
	return out
}

func only(tags []flvTag, keep func(flvTag) bool) []flvTag {
	var out []flvTag
	for _, t := range tags {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// shift adds by to every timestamp (modulo 2^32, as RTMP's are); with a
// fixed value, every timestamp becomes it.
func shift(tags []flvTag, by uint32, fixed ...uint32) []flvTag {
	out := make([]flvTag, len(tags))
	for i, t := range tags {
		t.ts += by
		if len(fixed) > 0 {
			t.ts = fixed[0]
		}
		out[i] = t
	}
	return out
}

func concatTags(parts ...[]flvTag) []flvTag {
	var out []flvTag
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
