package battery

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
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
			b := connectAndCreateStream()
			name := strings.Repeat("n", 60000)
			return append(b, rtmpMessage(8, msgCommand, 1, concat(amfStr("publish"), amfNum(0), amfNull(), amfStr(name), amfStr("live")))...)
		}),
		rawRTMP("amf0-publish-long-string-4GiB", true, true, func(*rand.Rand) []byte {
			b := connectAndCreateStream()
			return append(b, rtmpMessage(8, msgCommand, 1, concat(amfStr("publish"), amfNum(0), amfNull(), []byte{0x0c, 0xff, 0xff, 0xff, 0xf0, 'x'}))...)
		}),
		rawRTMP("create-stream-flood", true, false, func(*rand.Rand) []byte {
			b := rtmpMessage(csidCommand, msgCommand, 0, connectCommand())
			for i := range 5000 {
				b = append(b, rtmpMessage(csidCommand, msgCommand, 0, concat(amfStr("createStream"), amfNum(float64(i+2)), amfNull()))...)
			}
			return b
		}),
		rawRTMP("partial-messages-on-60-chunk-streams", true, false, func(r *rand.Rand) []byte {
			// 60 video messages of 4 MiB begun at once, 256 KiB of each sent
			// (chunk size 64 KiB): go-rtmp buffers them all.
			b := concat(connectAndCreateStream(), setChunkSize(64<<10))
			payload := randomBytes(r, 64<<10)
			for csid := 4; csid < 4+60; csid++ {
				b = append(b, chunkHeader(csid, msgVideo, 1, 0, 4<<20)...)
				b = append(b, payload...)
			}
			for range 3 {
				for csid := 4; csid < 4+60; csid++ {
					b = append(b, 0xc0|byte(csid))
					b = append(b, payload...)
				}
			}
			return b
		}),
	}
}

// connectAndCreateStream is a connect and a createStream (which go-rtmp
// answers with stream id 1), without waiting for the answers.
func connectAndCreateStream() []byte {
	return concat(rtmpMessage(csidCommand, msgCommand, 0, connectCommand()),
		rtmpMessage(csidCommand, msgCommand, 0, concat(amfStr("createStream"), amfNum(2), amfNull())))
}
