package ingest

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/av1"
)

// AV1Sample turns a temporal unit of OBUs (the low-overhead bitstream format
// that RTMP, MPEG-TS and RTP depacketizers produce) into a CMAF sample: the
// same OBUs without temporal delimiters, which the AV1 ISOBMFF binding
// (section 2.4) says a sample should not contain. It checks the OBU framing
// and returns a copy that never aliases data, or nil when nothing is left.
func AV1Sample(data []byte) ([]byte, error) {
	type span struct{ start, end int }
	var keep []span
	size := 0
	for pos := 0; pos < len(data); {
		start := pos
		hdr, err := av1.ParseOBUHeader(data[pos:])
		if err != nil {
			return nil, fmt.Errorf("av1: OBU at byte %d: %w", pos, err)
		}
		pos += hdr.HeaderSize
		if pos > len(data) {
			return nil, fmt.Errorf("av1: OBU at byte %d: truncated header", start)
		}
		if hdr.HasSizeField {
			n, sz, err := av1.ReadLEB128(data[pos:])
			if err != nil {
				return nil, fmt.Errorf("av1: OBU at byte %d: size: %w", start, err)
			}
			pos += sz
			if n > uint64(len(data)-pos) {
				return nil, fmt.Errorf("av1: OBU at byte %d: size %d exceeds the %d bytes left", start, n, len(data)-pos)
			}
			pos += int(n)
		} else {
			pos = len(data) // without a size field the OBU runs to the end
		}
		if hdr.Type == av1.OBUTemporalDelimiter {
			continue
		}
		keep = append(keep, span{start, pos})
		size += pos - start
	}
	if size == 0 {
		return nil, nil
	}
	out := make([]byte, 0, size)
	for _, s := range keep {
		out = append(out, data[s.start:s.end]...)
	}
	return out, nil
}
