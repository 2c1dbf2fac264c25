package battery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	gosrt "github.com/datarhei/gosrt"
)

// srtDial connects an SRT caller (gosrt) with streamID.
func srtDial(addr, streamID string) (gosrt.Conn, error) {
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamID
	cfg.ConnectionTimeout = 3 * time.Second
	return gosrt.Dial("srt", addr, cfg)
}

// srtHandshake is an SRT handshake control packet (header and CIF),
// version 4 induction or version 5 conclusion.
func srtHandshake(r *rand.Rand, conclusion bool) []byte {
	b := make([]byte, 16+48)
	binary.BigEndian.PutUint32(b[0:], 0x80000000) // control, type 0: handshake
	binary.BigEndian.PutUint32(b[8:], r.Uint32()) // timestamp
	cif := b[16:]
	version, typ, ext := uint32(4), uint32(1), uint16(2) // induction
	if conclusion {
		version, typ, ext = 5, 0xffffffff, 0x0005
	}
	binary.BigEndian.PutUint32(cif[0:], version)
	binary.BigEndian.PutUint16(cif[6:], ext)
	binary.BigEndian.PutUint32(cif[8:], r.Uint32()&0x7fffffff) // initial sequence
	binary.BigEndian.PutUint32(cif[12:], 1500)
	binary.BigEndian.PutUint32(cif[16:], 8192)
	binary.BigEndian.PutUint32(cif[20:], typ)
	binary.BigEndian.PutUint32(cif[24:], r.Uint32()) // socket id
	binary.BigEndian.PutUint32(cif[28:], r.Uint32()) // SYN cookie: a guess
	cif[32], cif[33], cif[34], cif[35] = 127, 0, 0, 1
	if conclusion {
		// A handshake extension claiming more blocks than there are.
		b = append(b, 0x00, 0x01, 0xff, 0xff, 1, 2, 3, 4)
	}
	return b
}

func udpBlast(ctx context.Context, addr string, n int, packet func(r *rand.Rand, i int) []byte) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(uint64(n), 11))
	for i := range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_, _ = c.Write(packet(r, i))
		if i%200 == 199 {
			time.Sleep(time.Millisecond) // keep the local socket buffer from dropping most of them
		}
	}
	return nil
}

// srtStillAccepts: after a flood, a well-behaved caller still gets in.
// gosrt sends its induction once (libsrt repeats it every 250 ms), so a
// handshake lost in a socket buffer the flood filled is tried again, up
// to three times.
func srtStillAccepts(e *env, name string) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var c interface{ Close() error }
		if c, err = srtDial(e.srt, "publish:live/"+name); err == nil {
			if attempt > 1 {
				e.log.Info("srt caller got in after the flood", "attempt", attempt)
			}
			return c.Close()
		}
	}
	return fmt.Errorf("a well-behaved caller was refused after the flood, 3 times: %w", err)
}

func srtCases() []hostileCase {
	return []hostileCase{
		{name: "srt/random-datagrams", run: func(ctx context.Context, e *env) error {
			if err := udpBlast(ctx, e.srt, e.count(5000, 1000), func(r *rand.Rand, _ int) []byte {
				return randomBytes(r, 1+r.IntN(1500))
			}); err != nil {
				return err
			}
			return srtStillAccepts(e, "battery-srt-after-random")
		}},
		{name: "srt/handshake-flood", run: func(ctx context.Context, e *env) error {
			if err := udpBlast(ctx, e.srt, e.count(10000, 2000), func(r *rand.Rand, i int) []byte {
				return srtHandshake(r, i%2 == 1)
			}); err != nil {
				return err
			}
			return srtStillAccepts(e, "battery-srt-after-flood")
		}},
		{name: "srt/bad-stream-ids", run: func(ctx context.Context, e *env) error {
			var errs []error
			for _, id := range []string{
				"garbage", "publish:", "publish:live/", "publish:../../etc/passwd", "publish:live/../../x",
				"publish:live/" + strings.Repeat("x", 500), "#!::m=publish", "#!::r=live/a,m=frobnicate",
				"#!::r=live/" + e.clean + ",m=publish", "publish:live/" + e.clean, "publish:live/a\x00b", "publish:live/%2e%2e",
			} {
				if ctx.Err() != nil {
					break
				}
				c, err := srtDial(e.srt, id)
				if err == nil {
					_ = c.Close()
					errs = append(errs, fmt.Errorf("stream id %q accepted", id))
				}
			}
			return errors.Join(errs...)
		}},
		{name: "srt/corrupted-mpegts", run: corruptedTS},
		{name: "srt/garbage-after-handshake", run: func(ctx context.Context, e *env) error {
			c, err := srtDial(e.srt, "publish:live/battery-srt-garbage")
			if err != nil {
				return err
			}
			defer c.Close()
			r := rand.New(rand.NewPCG(3, 4))
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := range e.count(3000, 600) {
				msg := randomBytes(r, 1316)
				if i%2 == 1 {
					// MPEG-TS-looking: sync bytes, random headers and lengths.
					for off := 0; off < len(msg); off += 188 {
						msg[off] = 0x47
					}
				}
				if _, err := c.Write(msg); err != nil {
					return nil // the server ended the caller: its answer
				}
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
			}
			return nil
		}},
	}
}

// count is full in a full run, short in a short one.
func (e *env) count(full, short int) int {
	if e.opts.Short {
		return short
	}
	return full
}
