package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/liveorigin/liveorigin/ingest"
)

// onMetaData tells which elementary streams a publisher will send. Only the
// codec ids matter here, so this is a small AMF0 reader (AMF0 spec 2.1-2.17)
// of our own rather than a general decoder: it skips every other value,
// bounds nesting and never panics on garbage.

// metaData is what onMetaData declares.
type metaData struct {
	video, audio codecHint
}

// codecHint is a declared codec id.
type codecHint struct {
	present bool         // the property was there (absent means unknown)
	codec   ingest.Codec // "" when the id is not one we package
	id      string       // the id as sent, for logs: "7", "hvc1"
}

// expected reports whether a track of this kind should be waited for.
func (h codecHint) expected() bool { return h.present && h.codec != "" }

const maxAMFDepth = 16

var errAMF = errors.New("malformed AMF0 onMetaData")

// parseMetaData reads the payload of an @setDataFrame data message:
// "onMetaData" and an object or ECMA array of properties. Other data
// frames yield an empty metaData.
func parseMetaData(b []byte) (metaData, error) {
	r := amfReader{b: b}
	var md metaData
	if len(b) > 0 && b[0] == amfString {
		r.pos++
		if name := r.str(2); r.err == nil && name != "onMetaData" {
			return metaData{}, nil
		}
	}
	if r.err != nil {
		return metaData{}, fmt.Errorf("%w: %w", errAMF, r.err)
	}
	if r.pos >= len(b) {
		return md, nil
	}
	marker := b[r.pos]
	if marker != amfObject && marker != amfECMAArray {
		return metaData{}, fmt.Errorf("%w: onMetaData value has AMF0 type %d, want an object or ECMA array", errAMF, marker)
	}
	r.pos++
	if marker == amfECMAArray {
		r.take(4) // the count is advisory; the end marker ends the array
	}
	r.properties(1, func(name string, v amfValue) {
		switch name {
		case "videocodecid":
			md.video = v.codecHint(videoCodecIDs)
		case "audiocodecid":
			md.audio = v.codecHint(audioCodecIDs)
		}
	})
	if r.err != nil {
		return metaData{}, fmt.Errorf("%w: %w", errAMF, r.err)
	}
	return md, nil
}

// FLV codec ids and, for enhanced RTMP, FourCCs as numbers or strings.
var (
	videoCodecIDs = map[string]ingest.Codec{
		"7": ingest.H264, "12": ingest.H265,
		"avc1": ingest.H264, "hvc1": ingest.H265, "av01": ingest.AV1,
	}
	audioCodecIDs = map[string]ingest.Codec{
		"10": ingest.AAC, "mp4a": ingest.AAC, "Opus": ingest.Opus,
	}
)

const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfReference   = 0x07
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0a
	amfDate        = 0x0b
	amfLongString  = 0x0c
)

// amfValue is a scalar property value; others are skipped.
type amfValue struct {
	isNumber, isString bool
	num                float64
	str                string
}

// codecHint interprets a codec id: a number (an FLV codec id, or an
// enhanced-RTMP FourCC packed into a number) or a FourCC string.
func (v amfValue) codecHint(known map[string]ingest.Codec) codecHint {
	var id string
	switch {
	case v.isString:
		id = v.str
	case v.isNumber && v.num >= 0 && v.num < 1<<32 && v.num == math.Trunc(v.num):
		n := uint32(v.num)
		if n > 0xff {
			var fc [4]byte
			binary.BigEndian.PutUint32(fc[:], n)
			id = string(fc[:])
		} else {
			id = strconv.FormatUint(uint64(n), 10)
		}
	case v.isNumber:
		id = strconv.FormatFloat(v.num, 'g', -1, 64)
	default:
		return codecHint{} // null, undefined, an object: as if absent
	}
	return codecHint{present: true, codec: known[id], id: id}
}

type amfReader struct {
	b   []byte
	pos int
	err error
}

func (r *amfReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.err = fmt.Errorf("truncated at byte %d: need %d more bytes, have %d", r.pos, n, len(r.b)-r.pos)
		return nil
	}
	r.pos += n
	return r.b[r.pos-n : r.pos]
}

// str reads a string with a lenSize-byte length.
func (r *amfReader) str(lenSize int) string {
	l := r.take(lenSize)
	if l == nil {
		return ""
	}
	n := 0
	for _, c := range l {
		n = n<<8 | int(c)
	}
	return string(r.take(n))
}

// properties reads name/value pairs up to the object end marker (or the end
// of the data: some encoders leave the marker out) and calls f for scalar
// values.
func (r *amfReader) properties(depth int, f func(string, amfValue)) {
	for r.err == nil && r.pos < len(r.b) {
		if len(r.b)-r.pos >= 3 && r.b[r.pos] == 0 && r.b[r.pos+1] == 0 && r.b[r.pos+2] == amfObjectEnd {
			r.pos += 3
			return
		}
		name := r.str(2)
		v := r.value(depth)
		if r.err == nil && f != nil {
			f(name, v)
		}
	}
}

// value reads one value, skipping the content of compound ones.
func (r *amfReader) value(depth int) amfValue {
	if depth > maxAMFDepth {
		r.err = fmt.Errorf("values nested deeper than %d", maxAMFDepth)
		return amfValue{}
	}
	m := r.take(1)
	if m == nil {
		return amfValue{}
	}
	switch m[0] {
	case amfNumber:
		if b := r.take(8); b != nil {
			return amfValue{isNumber: true, num: math.Float64frombits(binary.BigEndian.Uint64(b))}
		}
	case amfBoolean:
		r.take(1)
	case amfString:
		return amfValue{isString: true, str: r.str(2)}
	case amfLongString:
		return amfValue{isString: true, str: r.str(4)}
	case amfObject:
		r.properties(depth+1, nil)
	case amfECMAArray:
		r.take(4)
		r.properties(depth+1, nil)
	case amfStrictArray:
		l := r.take(4)
		if l != nil {
			// Each value takes at least one byte, so the data bounds the loop.
			for n := binary.BigEndian.Uint32(l); n > 0 && r.err == nil; n-- {
				r.value(depth + 1)
			}
		}
	case amfDate:
		r.take(10)
	case amfReference:
		r.take(2)
	case amfNull, amfUndefined:
	default:
		r.err = fmt.Errorf("unsupported AMF0 type %d at byte %d", m[0], r.pos-1)
	}
	return amfValue{}
}
