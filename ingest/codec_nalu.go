package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
)

// NAL unit framing. CMAF samples carry H.264/H.265 as NAL units with 4-byte
// big-endian length prefixes ("AVCC" framing). MPEG-TS and RTP carry Annex-B
// start codes; FLV carries length prefixes of the size its decoder
// configuration record declares (1, 2 or 4 bytes).

var startCode = []byte{0, 0, 1}

// AnnexBToAVCC converts an H.264 Annex-B access unit (NAL units separated by
// 00 00 01 or 00 00 00 01 start codes) to 4-byte length-prefixed NAL units,
// dropping access unit delimiters (CMAF does not need them). Bytes before the
// first start code are ignored; without a start code the result is empty.
// The result never aliases annexB.
func AnnexBToAVCC(annexB []byte) []byte {
	return annexBToLengthPrefixed(annexB, func(n []byte) bool {
		return avc.GetNaluType(n[0]) == avc.NALU_AUD
	})
}

// AnnexBToHVCC is AnnexBToAVCC for H.265 (whose access unit delimiter is NAL
// unit type 35).
func AnnexBToHVCC(annexB []byte) []byte {
	return annexBToLengthPrefixed(annexB, func(n []byte) bool {
		return hevc.GetNaluType(n[0]) == hevc.NALU_AUD
	})
}

func annexBToLengthPrefixed(annexB []byte, drop func(nalu []byte) bool) []byte {
	var nalus [][]byte
	forEachAnnexBNALU(annexB, func(n []byte) { nalus = append(nalus, n) })
	return lengthPrefixed(nalus, drop)
}

// NALUsToSample joins the NAL units of one H.264 or H.265 access unit (as
// MPEG-TS and RTP depacketizers return them, without start codes) into a
// CMAF sample: 4-byte length prefixes, access unit delimiters dropped. The
// result never aliases nalus; it is empty when nothing is left.
func NALUsToSample(codec Codec, nalus [][]byte) []byte {
	switch codec {
	case H264:
		return lengthPrefixed(nalus, func(n []byte) bool { return avc.GetNaluType(n[0]) == avc.NALU_AUD })
	case H265:
		return lengthPrefixed(nalus, func(n []byte) bool { return hevc.GetNaluType(n[0]) == hevc.NALU_AUD })
	}
	return nil
}

func lengthPrefixed(nalus [][]byte, drop func(nalu []byte) bool) []byte {
	size := 0
	for _, n := range nalus {
		if len(n) > 0 && !drop(n) {
			size += 4 + len(n)
		}
	}
	if size == 0 {
		return nil
	}
	out := make([]byte, 0, size)
	for _, n := range nalus {
		if len(n) > 0 && !drop(n) {
			out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
			out = append(out, n...)
		}
	}
	return out
}

// forEachAnnexBNALU calls f with every non-empty NAL unit of an Annex-B
// stream. Zero bytes before a start code (the leading byte of a 4-byte start
// code, trailing_zero_8bits) are not part of the preceding NAL unit.
func forEachAnnexBNALU(b []byte, f func([]byte)) {
	i := bytes.Index(b, startCode)
	if i < 0 {
		return
	}
	start := i + 3
	for start < len(b) {
		next := bytes.Index(b[start:], startCode)
		end := len(b)
		if next >= 0 {
			end = start + next
		}
		n := b[start:end]
		for len(n) > 0 && n[len(n)-1] == 0 {
			n = n[:len(n)-1]
		}
		if len(n) > 0 {
			f(n)
		}
		if next < 0 {
			return
		}
		start = end + 3
	}
}

// AVCCToNALUs splits length-prefixed NAL units (lengthSize 1 to 4 bytes) into
// NAL units, which alias data. Empty NAL units are skipped. A length that
// runs past the end of data is an error.
func AVCCToNALUs(data []byte, lengthSize int) ([][]byte, error) {
	var nalus [][]byte
	err := forEachLengthPrefixedNALU(data, lengthSize, func(n []byte) { nalus = append(nalus, n) })
	return nalus, err
}

// NormalizeAVCC returns a copy of length-prefixed NAL units (lengthSize 1 to 4
// bytes, as an FLV decoder configuration record declares) with 4-byte
// lengths, the CMAF sample form. Empty NAL units are dropped. The result never
// aliases data, so data may be a reused read buffer; it is nil when data
// holds no NAL unit.
func NormalizeAVCC(data []byte, lengthSize int) ([]byte, error) {
	count, size := 0, 0
	if err := forEachLengthPrefixedNALU(data, lengthSize, func(n []byte) {
		count++
		size += 4 + len(n)
	}); err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, nil
	}
	if lengthSize == 4 && size == len(data) {
		return bytes.Clone(data), nil // already normal: one copy, no walk
	}
	out := make([]byte, 0, size)
	_ = forEachLengthPrefixedNALU(data, lengthSize, func(n []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	})
	return out, nil
}

func forEachLengthPrefixedNALU(data []byte, lengthSize int, f func([]byte)) error {
	if lengthSize < 1 || lengthSize > 4 {
		return fmt.Errorf("NALU length size %d, want 1 to 4", lengthSize)
	}
	for pos := 0; pos < len(data); {
		if len(data)-pos < lengthSize {
			return fmt.Errorf("truncated NALU length at byte %d of %d", pos, len(data))
		}
		var n uint64
		for _, c := range data[pos : pos+lengthSize] {
			n = n<<8 | uint64(c)
		}
		pos += lengthSize
		if n > uint64(len(data)-pos) {
			return fmt.Errorf("NALU length %d at byte %d exceeds the %d bytes left", n, pos-lengthSize, len(data)-pos)
		}
		if n > 0 {
			f(data[pos : pos+int(n)])
		}
		pos += int(n)
	}
	return nil
}

// IsH264Keyframe reports whether 4-byte length-prefixed H.264 data holds an
// IDR picture. Malformed data is not a keyframe.
func IsH264Keyframe(avcc []byte) bool {
	key := false
	_ = forEachLengthPrefixedNALU(avcc, 4, func(n []byte) {
		if avc.GetNaluType(n[0]) == avc.NALU_IDR {
			key = true
		}
	})
	return key
}

// IsH265Keyframe reports whether 4-byte length-prefixed H.265 data holds an
// IDR or CRA picture, where decoding can start. BLA pictures only appear
// when streams are spliced, which a live encoder does not do.
func IsH265Keyframe(avcc []byte) bool {
	key := false
	_ = forEachLengthPrefixedNALU(avcc, 4, func(n []byte) {
		switch hevc.GetNaluType(n[0]) {
		case hevc.NALU_IDR_W_RADL, hevc.NALU_IDR_N_LP, hevc.NALU_CRA:
			key = true
		}
	})
	return key
}
