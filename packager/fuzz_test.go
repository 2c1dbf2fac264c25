package packager

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/liveorigin/liveorigin/ingest"
)

// FuzzTrackConfig feeds network-supplied codec configurations through the
// ingest constructors, as an adapter does, and then to Start's packaging:
// a Track the constructors accept must package into a decodable init
// segment. The same bytes are also put into a Track by hand, next to
// derived fields that no longer match them: errors are fine there, panics
// and undecodable init segments are not.
func FuzzTrackConfig(f *testing.F) {
	h264 := cachedClip(f, "h264.mp4").track
	h265 := cachedClip(f, "hevc.mp4").track
	av1 := cachedClip(f, "av1.mp4").track
	aac := cachedClip(f, "aac.mp4").track
	opus := cachedClip(f, "opus.mp4").track
	f.Add(uint8(0), h264.SPS[0], h264.PPS[0])
	f.Add(uint8(1), h265.SPS[0], h265.PPS[0])
	f.Add(uint8(2), av1.AV1Config, []byte(nil))
	f.Add(uint8(3), aac.AudioSpecificConfig, []byte(nil))
	f.Add(uint8(4), []byte{2}, []byte(nil))
	f.Add(uint8(0), []byte{0x67, 0xff, 0x00}, []byte{0x68})
	f.Add(uint8(3), []byte{0x2b, 0x92, 0x08, 0x00}, []byte(nil)) // HE-AAC
	f.Fuzz(func(t *testing.T, codec uint8, a, b []byte) {
		var built ingest.Track
		var err error
		hand := ingest.Track{ClockRate: 90000}
		switch codec % 5 {
		case 0:
			built, err = ingest.H264Track([][]byte{a}, [][]byte{b}, 90000)
			hand = h264
			hand.SPS, hand.PPS = [][]byte{a}, [][]byte{b}
		case 1:
			built, err = ingest.H265Track(h265.VPS, [][]byte{a}, [][]byte{b}, 90000)
			hand = h265
			hand.SPS, hand.PPS = [][]byte{a}, [][]byte{b}
		case 2:
			built, err = ingest.AV1TrackFromConfig(a, 90000)
			hand = av1
			hand.AV1Config = a
		case 3:
			built, err = ingest.AACTrack(a, 90000)
			hand = aac
			hand.AudioSpecificConfig = a
		case 4:
			channels := 0
			if len(a) > 0 {
				channels = int(a[0])
			}
			built, err = ingest.OpusTrack(channels, 312, 90000)
			hand = opus
			hand.Channels = channels
		}
		if err == nil {
			cfg, err := newTrackConfig(built)
			if err != nil {
				t.Fatalf("ingest accepted a %s track that does not package: %v", built.Codec, err)
			}
			checkTrackConfig(t, cfg)
		}
		hand.ClockRate = 90000
		if cfg, err := newTrackConfig(hand); err == nil {
			checkTrackConfig(t, cfg)
		}
	})
}

func checkTrackConfig(t *testing.T, cfg trackConfig) {
	t.Helper()
	if cfg.timescale == 0 {
		t.Fatal("timescale 0")
	}
	if _, err := mp4.DecodeFile(bytes.NewReader(cfg.init.Data)); err != nil {
		t.Fatalf("init segment does not decode: %v", err)
	}
}

// FuzzWriteAU drives a session with arbitrary access units, reconnects,
// configuration changes and clock steps, and checks the timeline's
// invariants: no segment longer than allowed, Seq +1, time never going back.
//
// Each operation takes 6 bytes: op, track, DTS step (int16, ms), PTS offset
// (int8, frames), flags.
func FuzzWriteAU(f *testing.F) {
	f.Add(seedOps(func(i int) []byte { return op(0, byte(i%2), 33, 2, byte(boolByte(i%60 == 0))) }, 400))
	f.Add(seedOps(func(i int) []byte {
		switch {
		case i == 150:
			return op(210, 0, 0, 0, 0) // reconnect
		case i == 300:
			return op(225, 0, 0, 0, 0) // new SPS
		case i%50 == 49:
			return op(240, 0, 3, 0, 0) // clock step and tick
		}
		return op(0, byte(i%2), 21, 0, byte(boolByte(i%90 == 0)))
	}, 450))
	f.Add(seedOps(func(i int) []byte { return op(0, 0, -5, -3, 1) }, 50))
	f.Fuzz(func(t *testing.T, ops []byte) {
		log := newPartLog()
		if tl := runOps(t, ops, log); tl != nil {
			checkInvariants(t, tl, true)
			for _, tt := range tl.Tracks {
				checkPartsConsistent(t, tl, tt, log)
			}
		}
	})
}

// checkPartsConsistent checks what must hold of parts whatever the input:
// a segment is its parts' bytes, no part exceeds PartTarget, and a part a
// snapshot showed pending is in its segment with the same bytes.
func checkPartsConsistent(t *testing.T, tl *Timeline, tt *TrackTimeline, log *partLog) {
	t.Helper()
	for _, seg := range append(append([]*Segment{}, tt.Retained...), tt.Segments...) {
		var cat []byte
		next := seg.Start
		for k, p := range seg.Parts {
			cat = append(cat, p.Data...)
			if p.Start != next || p.Index != k || p.Length() > tl.PartTarget {
				t.Fatalf("%s seg %d part %d: start %d (want %d) index %d length %v (target %v)", tt.Name, seg.Seq, k, p.Start, next,
					p.Index, p.Length(), tl.PartTarget)
			}
			next = p.End()
			if got, ok := log.seen[tt.Name][p.Start]; ok && !bytes.Equal(got, p.Data) {
				t.Fatalf("%s seg %d part %d: published pending with other bytes", tt.Name, seg.Seq, k)
			}
		}
		if !bytes.Equal(cat, seg.Data) || next != seg.Start+seg.Duration {
			t.Fatalf("%s seg %d: not its parts", tt.Name, seg.Seq)
		}
	}
}

// runOps plays FuzzWriteAU's operations and returns the final timeline.
func runOps(t *testing.T, ops []byte, log *partLog) *Timeline {
	{
		e := newEnv(t, Options{Window: 6 * time.Second, ReconnectGrace: 5 * time.Second, MaxTargetDuration: 4 * time.Second})
		v1, v2, a := videoTrack(t, 1000), cachedClip(t, "h264_160x120.mp4").track, aacTrack(t, 1000)
		v2.ClockRate = 1000
		sess, err := e.r.Publish(context.Background(), testInfo("fz"))
		if err != nil {
			t.Fatal(err)
		}
		_ = sess.Start([]ingest.Track{v1, a})
		dts := [2]int64{}
		for len(ops) >= 6 {
			o, track, step, cto, flags := ops[0], int(ops[1]%2), int64(int16(binary.BigEndian.Uint16(ops[2:4]))), int64(int8(ops[4])), ops[5]
			ops = ops[6:]
			switch {
			case o <= 200:
				dts[track] += step
				au := ingest.AccessUnit{Track: track, DTS: dts[track], PTS: dts[track] + cto*33, Key: flags&1 != 0 || track == 1,
					Data: make([]byte, int(flags)%64)}
				_ = sess.WriteAU(au)
				if tl, err := e.r.Timeline("fz"); err == nil {
					log.record(tl)
				}
			case o <= 220:
				sess.Close(nil)
				if s, err := e.r.Publish(context.Background(), testInfo("fz")); err == nil {
					sess = s
					_ = sess.Start([]ingest.Track{v1, a})
				}
			case o <= 230:
				_ = sess.Start([]ingest.Track{v2, a})
				v1, v2 = v2, v1
			default:
				e.clock.Advance(time.Duration(step) * time.Second / 4)
				e.r.tick()
			}
		}
		sess.Close(nil)
		tl, _ := e.r.Timeline("fz")
		return tl
	}
}

func op(o, track byte, step int16, cto int8, flags byte) []byte {
	b := []byte{o, track, 0, 0, byte(cto), flags}
	binary.BigEndian.PutUint16(b[2:4], uint16(step))
	return b
}

func seedOps(gen func(i int) []byte, n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, gen(i)...)
	}
	return b
}

func boolByte(v bool) int {
	if v {
		return 1
	}
	return 0
}
