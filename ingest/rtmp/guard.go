package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// chunkGuard checks what a publisher sends before go-rtmp decodes it.
//
// go-rtmp decodes AMF0 commands and data with go-amf0, which allocates what
// a count in the input says before reading the values: a strict array of
// 2^31 elements (8 bytes on the wire) asks for 32 GiB and a long string
// for up to 4 GiB, and the Go runtime ends the whole process when such an
// allocation fails: no recover helps. It also recurses once per level of
// nesting, so a 16 MiB message of nested arrays overflows the goroutine
// stack, fatal too. And go-rtmp buffers a message of any size up to 16 MiB
// before anything can look at it.
//
// So conn.Read feeds every byte after the handshake to a chunkGuard, which
// follows the chunk stream exactly as go-rtmp v0.0.7 reads it (the same
// header rules, the client's chunk size applied where go-rtmp applies it)
// and, before the bytes reach go-rtmp, rejects
//
//   - a message larger than MaxTagSize (audio, video) or maxCommandSize
//     (anything else), as soon as its header arrives;
//   - an AMF0 command or data message holding a count larger than the
//     bytes that follow it, or values nested deeper than maxGuardAMFDepth;
//   - a message whose length or type changes between its chunks, which no
//     encoder does and which would hide its start from the guard.
//
// Where go-rtmp itself stops reading (a malformed header, a message length
// that go-rtmp panics on, a bad chunk size) the guard lets the rest through:
// go-rtmp decodes nothing more.
type chunkGuard struct {
	maxTagSize int
	chunkSize  int // the client's, as go-rtmp applies it
	streams    map[int]*guardStream

	hdr     []byte       // header bytes of the next chunk, so far
	cur     *guardStream // the stream whose chunk payload is being read
	payload int          // payload bytes left in the current chunk
	done    bool         // go-rtmp reads no further message
	err     error        // the rejection; sticky

	messages int // complete messages, for tests
}

// guardStream is a chunk stream's message in progress.
type guardStream struct {
	length    int
	typeID    byte
	received  int
	completed bool
	body      []byte // kept for the messages the guard checks
}

// Limits of the guard.
const (
	// maxCommandSize bounds messages other than audio and video:
	// commands, metadata and protocol control (OBS's onMetaData is under
	// 2 KiB).
	maxCommandSize = 1 << 20
	// maxGuardAMFDepth bounds the nesting of AMF0 values in commands and
	// data (encoders nest one or two levels).
	maxGuardAMFDepth = 64
	// maxChunkSize is the largest chunk size go-rtmp applies.
	maxChunkSize = 0xffffff
	// defaultChunkSize is RTMP's chunk size until SetChunkSize.
	defaultChunkSize = 128
)

// RTMP message types the guard knows.
const (
	msgSetChunkSize = 1
	msgAudio        = 8
	msgVideo        = 9
	msgDataAMF0     = 18
	msgCommandAMF0  = 20
)

func newChunkGuard(maxTagSize int) *chunkGuard {
	return &chunkGuard{maxTagSize: maxTagSize, chunkSize: defaultChunkSize, streams: map[int]*guardStream{}}
}

// check follows p, the next bytes of the chunk stream. An error rejects p
// and everything after it.
func (g *chunkGuard) check(p []byte) error {
	for len(p) > 0 && !g.done && g.err == nil {
		if g.payload > 0 {
			n := min(g.payload, len(p))
			g.cur.add(p[:n])
			p, g.payload = p[n:], g.payload-n
			if g.payload == 0 {
				g.err = g.chunkEnd()
			}
			continue
		}
		g.hdr = append(g.hdr, p[0])
		p = p[1:]
		if n, ok := chunkHeaderSize(g.hdr); ok && len(g.hdr) == n {
			g.err = g.chunkStart()
			g.hdr = g.hdr[:0]
		}
	}
	return g.err
}

// chunkHeaderSize returns the size of the chunk header starting h, once h
// holds enough of it to tell.
func chunkHeaderSize(h []byte) (int, bool) {
	basic := 1
	switch h[0] & 0x3f {
	case 0:
		basic = 2
	case 1:
		basic = 3
	}
	format := h[0] >> 6
	n := basic + [4]int{11, 7, 3, 0}[format]
	if format == 3 {
		return n, true
	}
	// An extended timestamp follows a 24-bit timestamp of 0xffffff
	// (go-rtmp reads none after a type 3 header).
	if len(h) < basic+3 {
		return 0, false
	}
	if h[basic] == 0xff && h[basic+1] == 0xff && h[basic+2] == 0xff {
		n += 4
	}
	return n, true
}

// chunkStart handles a complete chunk header in g.hdr, as go-rtmp's
// ChunkStreamer.readChunk does.
func (g *chunkGuard) chunkStart() error {
	h := g.hdr
	format, csid, mh := h[0]>>6, int(h[0]&0x3f), h[1:]
	switch csid {
	case 0:
		csid, mh = 64+int(h[1]), h[2:]
	case 1:
		csid, mh = 64+int(h[1])+256*int(h[2]), h[3:]
	}
	s := g.streams[csid]
	if s == nil {
		if len(g.streams) >= maxChunkStreams {
			g.done = true // go-rtmp refuses another chunk stream
			return nil
		}
		s = &guardStream{}
		g.streams[csid] = s
	}
	if s.completed {
		s.received, s.completed, s.body = 0, false, s.body[:0]
	}
	if format <= 1 {
		length, typeID := int(mh[3])<<16|int(mh[4])<<8|int(mh[5]), mh[6]
		if s.received > 0 && (length != s.length || typeID != s.typeID) {
			return failure(reasonProtocol, fmt.Errorf("chunk stream %d: message of type %d and %d bytes changed to type %d and %d bytes after %d bytes",
				csid, s.typeID, s.length, typeID, length, s.received))
		}
		s.length, s.typeID = length, typeID
	}
	if s.received == 0 {
		if err := g.checkSize(s); err != nil {
			return err
		}
	}
	left := s.length - s.received
	if left <= 0 {
		g.done = true // go-rtmp panics on it
		return nil
	}
	g.cur, g.payload = s, min(left, g.chunkSize)
	return nil
}

func (g *chunkGuard) checkSize(s *guardStream) error {
	switch s.typeID {
	case msgAudio, msgVideo:
		if s.length > g.maxTagSize {
			return failure(reasonOversizeTag, fmt.Errorf("FLV tag of %d bytes, larger than %d (MaxTagSize)", s.length, g.maxTagSize))
		}
	default:
		if s.length > maxCommandSize {
			return failure(reasonProtocol, fmt.Errorf("message of type %d and %d bytes, larger than %d", s.typeID, s.length, maxCommandSize))
		}
	}
	return nil
}

func (s *guardStream) add(p []byte) {
	s.received += len(p)
	switch s.typeID {
	case msgSetChunkSize, msgDataAMF0, msgCommandAMF0:
		s.body = append(s.body, p...)
	}
}

// chunkEnd checks a message when its last chunk has arrived, before
// go-rtmp decodes it.
func (g *chunkGuard) chunkEnd() error {
	s := g.cur
	if s.received < s.length {
		return nil
	}
	s.completed = true
	g.messages++
	switch s.typeID {
	case msgSetChunkSize:
		// go-rtmp's decoder and StreamControlState.SetChunkSize.
		if len(s.body) < 4 {
			g.done = true
			return nil
		}
		v := binary.BigEndian.Uint32(s.body)
		if v == 0 || v > math.MaxInt32 {
			g.done = true
			return nil
		}
		g.chunkSize = int(min(v, maxChunkSize))
	case msgDataAMF0, msgCommandAMF0:
		if err := checkAMF0(s.body); err != nil {
			return failure(reasonProtocol, fmt.Errorf("AMF0 %s: %w", map[byte]string{msgDataAMF0: "data", msgCommandAMF0: "command"}[s.typeID], err))
		}
	}
	return nil
}

// AMF0 markers go-amf0 decodes.
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0Null        = 0x05
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0a
	amf0Date        = 0x0b
	amf0LongString  = 0x0c
)

// errAMFStop ends the walk where go-amf0 returns an error without
// allocating: go-rtmp decodes no further.
var errAMFStop = errors.New("go-amf0 stops here")

// checkAMF0 walks the AMF0 values of a message body in order, as go-amf0
// decodes them, and rejects a count that go-amf0 would allocate for
// without the bytes to back it, or nesting deeper than maxGuardAMFDepth.
// It walks every value, further than go-rtmp may decode: a well-formed
// message passes whatever go-rtmp decodes of it.
func checkAMF0(b []byte) error {
	w := amf0Walker{b: b}
	for w.pos < len(w.b) {
		switch err := w.value(0); {
		case errors.Is(err, errAMFStop):
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

type amf0Walker struct {
	b   []byte
	pos int
}

// take skips n bytes; errAMFStop if there are fewer (go-amf0 reads EOF).
func (w *amf0Walker) take(n int) ([]byte, error) {
	if n > len(w.b)-w.pos {
		return nil, errAMFStop
	}
	w.pos += n
	return w.b[w.pos-n : w.pos], nil
}

func (w *amf0Walker) uint(n int) (int, error) {
	b, err := w.take(n)
	if err != nil {
		return 0, err
	}
	v := 0
	for _, c := range b {
		v = v<<8 | int(c)
	}
	return v, nil
}

// counted checks a count read at the current position against the bytes
// left: go-amf0 allocates for it first.
func (w *amf0Walker) counted(what string, n int) error {
	if left := len(w.b) - w.pos; n > left {
		return fmt.Errorf("%s of %d at byte %d, with %d bytes left", what, n, w.pos, left)
	}
	return nil
}

func (w *amf0Walker) value(depth int) error {
	if depth > maxGuardAMFDepth {
		return fmt.Errorf("values nested deeper than %d at byte %d", maxGuardAMFDepth, w.pos)
	}
	m, err := w.take(1)
	if err != nil {
		return err
	}
	switch m[0] {
	case amf0Number:
		_, err = w.take(8)
	case amf0Boolean:
		_, err = w.take(1)
	case amf0String:
		err = w.str(2)
	case amf0LongString:
		err = w.str(4)
	case amf0Object:
		err = w.properties(depth)
	case amf0ECMAArray:
		if _, err = w.take(4); err == nil { // go-amf0 ignores the count
			err = w.properties(depth)
		}
	case amf0StrictArray:
		var n int
		if n, err = w.uint(4); err != nil {
			return err
		}
		if n > math.MaxInt32 {
			return errAMFStop // refused before allocating
		}
		// Every value takes a byte at least.
		if err := w.counted("strict array length", n); err != nil {
			return err
		}
		for ; n > 0 && err == nil; n-- {
			err = w.value(depth + 1)
		}
	case amf0Date:
		_, err = w.take(10)
	case amf0Null:
	default:
		// Object end, movie clip, undefined, reference, unsupported,
		// record set, XML document, typed object, unknown: go-amf0
		// returns an error.
		err = errAMFStop
	}
	return err
}

// str skips a string with an n-byte length. go-amf0 allocates the length
// before reading: harmless for 2-byte lengths, not for 4-byte ones.
func (w *amf0Walker) str(n int) error {
	l, err := w.uint(n)
	if err != nil {
		return err
	}
	if n == 4 {
		if err := w.counted("long string length", l); err != nil {
			return err
		}
	}
	_, err = w.take(l)
	return err
}

// properties skips the name/value pairs of an object or ECMA array, up to
// the end marker that go-amf0 requires after an empty name.
func (w *amf0Walker) properties(depth int) error {
	for {
		l, err := w.uint(2)
		if err != nil {
			return err
		}
		if l == 0 {
			m, err := w.take(1)
			if err != nil {
				return err
			}
			if m[0] != amf0ObjectEnd {
				return errAMFStop
			}
			return nil
		}
		if _, err := w.take(l); err != nil {
			return err
		}
		if err := w.value(depth + 1); err != nil {
			return err
		}
	}
}
