package battery

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"
)

// rawRTMP is a case that dials the RTMP port, optionally completes the
// handshake, writes what send returns, and expects the server to close
// the connection (closes: true) or merely to survive.
func rawRTMP(name string, handshake, closes bool, send func(r *rand.Rand) []byte) hostileCase {
	return hostileCase{name: "rtmp/" + name, run: func(ctx context.Context, e *env) error {
		var c net.Conn
		var err error
		if handshake {
			c, err = rtmpHandshaken(ctx, e.rtmp)
		} else {
			c, err = dial(ctx, e.rtmp)
		}
		if err != nil {
			return err
		}
		defer c.Close()
		writeAll(c, send(rand.New(rand.NewPCG(uint64(len(name)), 7))))
		if tc, ok := c.(*net.TCPConn); ok && !closes {
			_ = tc.CloseWrite()
		}
		return expectClosed(ctx, c)
	}}
}

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

func setChunkSize(n uint32) []byte {
	return rtmpMessage(csidControl, msgSetChunkSize, 0, binary.BigEndian.AppendUint32(nil, n))
}

func rtmpCases() []hostileCase {
	return []hostileCase{
		rawRTMP("random-bytes", false, true, func(r *rand.Rand) []byte { return randomBytes(r, 64<<10) }),
		rawRTMP("handshake-then-garbage", true, true, func(r *rand.Rand) []byte { return randomBytes(r, 64<<10) }),
		rawRTMP("truncated-handshake", false, false, func(r *rand.Rand) []byte { return append([]byte{3}, randomBytes(r, 700)...) }),
		rawRTMP("truncated-chunk-header", true, false, func(*rand.Rand) []byte { return []byte{csidCommand, 0, 0, 0, 0, 1} }),
		rawRTMP("truncated-message", true, false, func(*rand.Rand) []byte {
			body := connectCommand()
			return rtmpMessage(csidCommand, msgCommand, 0, body)[:40]
		}),
		rawRTMP("zero-length-message", true, true, func(*rand.Rand) []byte {
			return append(chunkHeader(csidCommand, msgCommand, 0, 0, 0), rtmpMessage(csidCommand, msgCommand, 0, connectCommand())...)
		}),
		rawRTMP("oversized-video-message", true, true, func(r *rand.Rand) []byte {
			return append(chunkHeader(csidVideo, msgVideo, 1, 0, 0xffffff), randomBytes(r, 128)...)
		}),
		rawRTMP("oversized-command-message", true, true, func(r *rand.Rand) []byte {
			return append(chunkHeader(csidCommand, msgCommand, 0, 0, 0xffffff), randomBytes(r, 128)...)
		}),
		rawRTMP("length-changes-between-chunks", true, true, func(*rand.Rand) []byte {
			b := chunkHeader(csidVideo, msgVideo, 1, 0, 300)
			b = append(b, make([]byte, 128)...)
			// A type 1 header in the middle of the message, with another length.
			b = append(b, 0x40|csidVideo, 0, 0, 0, 0, 0x10, 0, msgVideo)
			return append(b, make([]byte, 4096)...)
		}),
		rawRTMP("extended-timestamp-max", true, false, func(*rand.Rand) []byte {
			return append(chunkHeader(csidData, msgData, 0, 0xffffffff, 4), 0x05, 0x05, 0x05, 0x05)
		}),
		rawRTMP("chunk-size-0", true, true, func(*rand.Rand) []byte {
			return append(setChunkSize(0), rtmpMessage(csidCommand, msgCommand, 0, connectCommand())...)
		}),
		rawRTMP("chunk-size-2^31", true, true, func(*rand.Rand) []byte {
			return append(setChunkSize(1<<31), rtmpMessage(csidCommand, msgCommand, 0, connectCommand())...)
		}),
		rawRTMP("chunk-size-max-then-huge-message", true, true, func(r *rand.Rand) []byte {
			b := setChunkSize(0x7fffffff)
			b = append(b, chunkHeader(csidVideo, msgVideo, 1, 0, 0xfffff0)...)
			return append(b, randomBytes(r, 256<<10)...)
		}),
		rawRTMP("chunk-size-1-flood", true, false, func(*rand.Rand) []byte {
			// Chunk size 1: a 16 KiB message is 16384 chunks.
			b := setChunkSize(1)
			body := make([]byte, 16<<10)
			b = append(b, chunkHeader(csidVideo, msgVideo, 1, 0, len(body))...)
			for i := range body {
				if i > 0 {
					b = append(b, 0xc0|csidVideo)
				}
				b = append(b, body[i])
			}
			return b
		}),
		rawRTMP("amf0-nested-100000", true, true, func(*rand.Rand) []byte {
			return rtmpMessage(csidCommand, msgCommand, 0, connectCommand(nestedObjects(100000)))
		}),
		rawRTMP("amf0-huge-string", true, true, func(*rand.Rand) []byte {
			// A long string (0x0c) claiming 4 GiB.
			return rtmpMessage(csidCommand, msgCommand, 0, connectCommand([]byte{0x0c, 0xff, 0xff, 0xff, 0xff, 'a'}))
		}),
		rawRTMP("amf0-huge-strict-array", true, true, func(*rand.Rand) []byte {
			return rtmpMessage(csidCommand, msgCommand, 0, connectCommand([]byte{0x0a, 0x7f, 0xff, 0xff, 0xff, 0x05}))
		}),
		rawRTMP("amf0-huge-ecma-array", true, false, func(*rand.Rand) []byte {
			return rtmpMessage(csidData, msgData, 0, concat(amfStr("@setDataFrame"), amfStr("onMetaData"), []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0, 0, 9}))
		}),
		rawRTMP("amf0-many-properties", true, false, func(*rand.Rand) []byte {
			// 900 KiB of properties in one connect: under the size limit, all valid.
			var props []string
			for i := range 60000 {
				props = append(props, fmt.Sprintf("k%d", i), "v")
			}
			return rtmpMessage(csidCommand, msgCommand, 0, connectCommand(amfObject(props...)))
		}),
		rawRTMP("amf0-publish-huge-name", true, false, func(*rand.Rand) []byte {
			b := rtmpMessage(csidCommand, msgCommand, 0, connectCommand())
			b = append(b, rtmpMessage(csidCommand, msgCommand, 0, concat(amfStr("createStream"), amfNum(2), amfNull()))...)
			name := strings.Repeat("n", 60000)
			return append(b, rtmpMessage(8, msgCommand, 1, concat(amfStr("publish"), amfNum(0), amfNull(), amfStr(name), amfStr("live")))...)
		}),
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
			tags := sequenceHeaders(s.a)
			for _, t := range media(s.a)[:60] {
				if t.video() && !t.sequenceHeader() {
					b := append([]byte(nil), t.body...)
					b[2], b[3], b[4] = 0x80, 0, 0 // -8388608 ms
					t.body = b
				}
				tags = append(tags, t)
			}
			return tags
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
		{name: "rtmp/publish-clean-name", run: publishCleanName},
	}
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
	p, err := rtmpPublish(ctx, e.rtmp, cleanName)
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
			return fmt.Errorf("a second publisher on %q was not refused (%s did not grow)", cleanName, series)
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
