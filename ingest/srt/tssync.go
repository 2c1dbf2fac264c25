package srt

import (
	"bytes"
	"fmt"
)

// tsSync tells MPEG-TS from anything else on an SRT connection. The TS
// reader resynchronises silently on garbage (it has to: srt-live-transmit's
// 1456-byte messages split TS packets, and a lost message shifts them), so a
// caller sending something else entirely would never be noticed. tsSync
// follows the 188-byte packet structure across messages and counts the
// bytes outside it; when they are the majority the payload is not TS.
//
// Real TS loses at most a packet's worth of bytes per lost message. Random
// bytes keep about one byte in ten inside "packets" (a 0x47 that happens to
// sit 188 bytes before another, or at the end of a message where the next
// one cannot be checked yet).
type tsSync struct {
	synced bool
	// skip is the number of bytes left in the current packet.
	skip int
	// good and bad count bytes inside and outside packets, halved when
	// their sum passes syncWindow so that they describe recent traffic.
	good, bad int
}

const (
	tsPacketSize = 188
	tsSyncByte   = 0x47
	// syncWarmUp is how much traffic is judged at the earliest.
	syncWarmUp = 64 << 10
	// syncWindow bounds the memory of the counters.
	syncWindow = 1 << 20
)

// feed checks the next bytes of the stream.
func (t *tsSync) feed(b []byte) error {
	for len(b) > 0 {
		if t.synced {
			if t.skip > 0 {
				n := min(t.skip, len(b))
				b, t.skip = b[n:], t.skip-n
				continue
			}
			if b[0] == tsSyncByte {
				t.good += tsPacketSize
				t.skip = tsPacketSize
				continue
			}
			t.synced = false
		}
		i := syncCandidate(b)
		if i < 0 {
			t.bad += len(b)
			break
		}
		t.bad += i
		b, t.synced = b[i:], true
	}
	if t.good+t.bad > syncWindow {
		t.good, t.bad = t.good/2, t.bad/2
	}
	if t.good+t.bad >= syncWarmUp && t.bad > t.good {
		return fmt.Errorf("not MPEG-TS: %d of the last %d bytes are outside 188-byte TS packets (is the caller sending -f mpegts?)",
			t.bad, t.good+t.bad)
	}
	return nil
}

// syncCandidate returns the first offset where a TS packet may start: a
// sync byte followed by another one a packet later, or near the end of b
// where the next one cannot be checked yet. -1 when there is none.
func syncCandidate(b []byte) int {
	for off := 0; off < len(b); {
		i := bytes.IndexByte(b[off:], tsSyncByte)
		if i < 0 {
			return -1
		}
		i += off
		if next := i + tsPacketSize; next >= len(b) || b[next] == tsSyncByte {
			return i
		}
		off = i + 1
	}
	return -1
}
