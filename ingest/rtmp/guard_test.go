package rtmp

import (
	"errors"
	"strings"
	"testing"
)

// TestChunkGuardCaptures: the guard follows real sessions to their last
// message without objecting.
func TestChunkGuardCaptures(t *testing.T) {
	for _, name := range []string{captureFFmpeg, captureAVCAAC, captureHVC1} {
		c := readCapture(t, name)
		for _, step := range []int{len(c), 1000, 1} {
			g := newChunkGuard(DefaultMaxTagSize)
			var err error
			for p := c[handshakeSize:]; len(p) > 0 && err == nil; p = p[min(step, len(p)):] {
				err = g.check(p[:min(step, len(p))])
			}
			if err != nil || g.done || g.payload != 0 || len(g.hdr) != 0 || g.messages != len(rtmpMessageEnds(c)) {
				t.Errorf("%s in %d-byte reads: err %v, done %v, %d messages (want %d), in a chunk: %v",
					name, step, err, g.done, g.messages, len(rtmpMessageEnds(c)), g.payload != 0 || len(g.hdr) != 0)
			}
		}
	}
}

// nested is n strict arrays of one element, each in the next, around null.
func nested(n int) []byte {
	return join([]byte(strings.Repeat("\x0a\x00\x00\x00\x01", n)), []byte{amfNull})
}

func TestChunkGuard(t *testing.T) {
	cmd := func(body ...[]byte) []byte { return rtmpMessage(csidCommand, msgCommandAMF0, 0, join(body...)) }
	data := func(body ...[]byte) []byte { return rtmpMessage(csidData, msgDataAMF0, 1, join(body...)) }
	connect := join(amfStr("connect"), amfNum(1), amfObj(amfObject, prop("app", amfStr("live"))))
	strictArrayBomb := cat("0a 7fffffff")
	chunkSize := func(n string) []byte { return rtmpMessage(2, msgSetChunkSize, 0, cat(n)) }
	for _, tc := range []struct {
		name   string
		in     []byte
		reason string // of the rejection; "" accepted
		done   bool   // go-rtmp reads nothing further
	}{
		{"connect", cmd(connect), "", false},
		{"strict array of 2^31-1 elements in 4 bytes", data(amfStr("onTextData"), strictArrayBomb), reasonProtocol, false},
		{"strict array bomb as a command argument", cmd(amfStr("FCPublish"), amfNum(2), []byte{amfNull}, strictArrayBomb), reasonProtocol, false},
		{"strict array bomb in an object", cmd(amfStr("connect"), amfNum(1), amfObj(amfObject, prop("app", strictArrayBomb))), reasonProtocol, false},
		{"long string of 4 GiB as the command name", cmd(cat("0c ffffffff")), reasonProtocol, false},
		{"long string longer than the message", data(cat("0c 00000010"), []byte("short")), reasonProtocol, false},
		{"long string that fits", data(cat("0c 00000005"), []byte("short")), "", false},
		{"strict array that fits", data(amfStr("x"), cat("0a 00000002 05 05")), "", false},
		{"strict array go-amf0 refuses", data(amfStr("x"), cat("0a 80000000")), "", false},
		{"string longer than the message", data(cat("02 ffff 41")), "", false},
		{"values after an unsupported marker", data(amfStr("x"), cat("06"), strictArrayBomb), "", false},
		{"nested 64 deep", data(amfStr("x"), nested(maxGuardAMFDepth)), "", false},
		{"nested 65 deep", data(amfStr("x"), nested(maxGuardAMFDepth+1)), reasonProtocol, false},
		{"nested objects", data(amfStr("x"), []byte(strings.Repeat("\x03\x00\x01a", 100))), reasonProtocol, false},
		{"video larger than MaxTagSize, at its header", cat("06 000000 001001 09 01000000"), reasonOversizeTag, false},
		{"video of MaxTagSize", rtmpMessage(csidVideo, msgVideo, 1, make([]byte, 4096)), "", false},
		{"command larger than maxCommandSize", cat("03 000000 100001 14 00000000"), reasonProtocol, false},
		{"message type changed within the message", join(cat("03 000000 0000c8 14 00000000"), make([]byte, 128), cat("43 000000 0000c8 08")), reasonProtocol, false},
		{"message length changed within the message", join(cat("03 000000 0000c8 14 00000000"), make([]byte, 128), cat("43 000000 0000c9 14")), reasonProtocol, false},
		{"message header repeated within the message", join(cat("03 000000 0000c8 12 00000000"), amfStr("x"), make([]byte, 125), cat("43 000000 0000c8 12"), make([]byte, 72)), "", false},
		{"bomb in 1-byte chunks", join(chunkSize("00000001"), chunked(cmd(cat("0c ffffffff")))), reasonProtocol, false},
		{"bomb in 4096-byte chunks", join(chunkSize("00001000"), rtmpMessageSized(csidData, msgDataAMF0, join(amfStr("x"), make([]byte, 9*22), strictArrayBomb), 4096)), reasonProtocol, false},
		{"chunk size above 0xffffff", join(chunkSize("7fffffff"), rtmpMessageSized(csidData, msgDataAMF0, join(amfStr("x"), strictArrayBomb), maxChunkSize)), reasonProtocol, false},
		{"chunk size 0", join(chunkSize("00000000"), data(strictArrayBomb)), "", true},
		{"chunk size with the top bit", join(chunkSize("80000080"), data(strictArrayBomb)), "", true},
		{"extended timestamp", join(cat("03 ffffff 000005 14 00000000 00000001 0c ffffffff")), reasonProtocol, false},
		{"2-byte chunk stream id", cat("00 05 000000 000005 14 00000000 0c ffffffff"), reasonProtocol, false},
		{"3-byte chunk stream id", cat("01 05 01 000000 000005 14 00000000 0c ffffffff"), reasonProtocol, false},
		{"interleaved chunk streams", join(cat("03 000000 000085 14 00000000"), make([]byte, 9*14), []byte{amfNull, amfNull},
			cat("04 000000 000005 14 00000000 0c 00000000"), cat("c3 0c ffffffff")), reasonProtocol, false},
		{"message of length 0: go-rtmp panics", join(cat("03 000000 000000 14 00000000"), cmd(cat("0c ffffffff"))), "", true},
		{"65 chunk streams", join(manyChunkStreams(maxChunkStreams+1), cmd(cat("0c ffffffff"))), "", true},
		{"64 chunk streams", join(manyChunkStreams(maxChunkStreams-1), cmd(cat("0c ffffffff"))), reasonProtocol, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{len(tc.in), 1} {
				g := newChunkGuard(4096)
				var err error
				for p := tc.in; len(p) > 0 && err == nil; p = p[min(step, len(p)):] {
					err = g.check(p[:min(step, len(p))])
				}
				var de *demuxError
				switch {
				case tc.reason == "" && err != nil:
					t.Errorf("%d-byte reads: rejected: %v", step, err)
				case tc.reason != "" && (!errors.As(err, &de) || de.reason != tc.reason):
					t.Errorf("%d-byte reads: %v, want a rejection for %q", step, err, tc.reason)
				case g.done != tc.done:
					t.Errorf("%d-byte reads: done %v, want %v", step, g.done, tc.done)
				}
				if err != nil {
					t.Logf("%v", err)
				}
			}
		})
	}
}

// rtmpMessageSized encodes a message in chunks of size.
func rtmpMessageSized(csid int, typeID byte, body []byte, size int) []byte {
	n := len(body)
	b := []byte{byte(csid), 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n), typeID, 0, 0, 0, 0}
	for i := 0; ; i += size {
		b = append(b, body[i:min(i+size, n)]...)
		if i+size >= n {
			return b
		}
		b = append(b, 0xc0|byte(csid))
	}
}

// chunked re-encodes the messages of rtmpMessage (one type 0 header, then
// 128-byte chunks) in 1-byte chunks.
func chunked(m []byte) []byte {
	csid := m[0] & 0x3f
	hdr, body := m[:12], m[12:]
	var plain []byte
	for i := 0; i < len(body); i += 129 {
		plain = append(plain, body[i:min(i+128, len(body))]...)
	}
	b := append([]byte(nil), hdr...)
	for i, c := range plain {
		if i > 0 {
			b = append(b, 0xc0|csid)
		}
		b = append(b, c)
	}
	return b
}

// manyChunkStreams is a one-byte audio message on each of n chunk streams
// (3 to 65599; the 2-byte form from 64).
func manyChunkStreams(n int) []byte {
	var b []byte
	for i := range n {
		csid := 3 + i
		if csid < 64 {
			b = append(b, byte(csid))
		} else {
			b = append(b, 0, byte(csid-64))
		}
		b = append(b, cat("000000 000001 08 01000000 af")...)
	}
	return b
}
