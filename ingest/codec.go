package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
)

// Video track constructors. Every protocol adapter builds its Tracks here, so
// the same stream yields the same Track (and so the same init segment)
// whichever protocol carried it.
//
// The constructors parse codec configurations that come straight off the
// network. They never panic: mp4ff's parsers can panic on some garbage, so
// each constructor recovers and returns an error instead.

// maxDimension bounds the picture size we accept from a parameter set. Larger
// values come from garbage (or underflowed cropping), not from real encoders.
const maxDimension = 16384

// H264Track builds an H.264 track from its parameter sets (raw NAL units,
// without start codes or length prefixes). The first SPS gives the
// resolution and the codec string. The parameter sets are copied.
func H264Track(sps, pps [][]byte, clockRate uint32) (t Track, err error) {
	defer recoverParser("h264", &err)
	if clockRate == 0 {
		return Track{}, errors.New("h264: clock rate is 0")
	}
	if len(sps) == 0 || len(sps[0]) < 4 {
		return Track{}, errors.New("h264: no SPS")
	}
	if len(pps) == 0 || len(pps[0]) < 2 {
		return Track{}, errors.New("h264: no PPS")
	}
	for i, n := range sps {
		if len(n) == 0 || avc.GetNaluType(n[0]) != avc.NALU_SPS {
			return Track{}, fmt.Errorf("h264: SPS %d is not an SPS NAL unit", i)
		}
	}
	for i, n := range pps {
		if len(n) == 0 || avc.GetNaluType(n[0]) != avc.NALU_PPS {
			return Track{}, fmt.Errorf("h264: PPS %d is not a PPS NAL unit", i)
		}
	}
	// The VUI beyond the aspect ratio is not needed for the sample entry.
	s, err := avc.ParseSPSNALUnit(sps[0], false)
	if err != nil {
		return Track{}, fmt.Errorf("h264: SPS: %w", err)
	}
	w, h := int(s.Width), int(s.Height)
	if err := checkDimensions(w, h); err != nil {
		return Track{}, fmt.Errorf("h264: SPS: %w", err)
	}
	return Track{
		Kind:        Video,
		Codec:       H264,
		ClockRate:   clockRate,
		CodecString: avc.CodecString("avc1", s),
		Width:       w,
		Height:      h,
		SPS:         copyNALUs(sps),
		PPS:         copyNALUs(pps),
	}, nil
}

// H264TrackFromConfig builds an H.264 track from an
// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), as carried by an
// FLV/RTMP AVC sequence header. Any NALU length size (1 to 4 bytes) is
// accepted; H264ConfigLengthSize tells which one the samples use.
func H264TrackFromConfig(avcC []byte, clockRate uint32) (t Track, err error) {
	defer recoverParser("h264", &err)
	sps, pps, _, err := parseAVCConfig(avcC)
	if err != nil {
		return Track{}, fmt.Errorf("h264: %w", err)
	}
	return H264Track(sps, pps, clockRate)
}

// H265Track builds an H.265 track from its parameter sets (raw NAL units).
// The first SPS gives the resolution and the codec string ("hvc1": the
// parameter sets travel in the init segment). The parameter sets are copied.
func H265Track(vps, sps, pps [][]byte, clockRate uint32) (t Track, err error) {
	defer recoverParser("h265", &err)
	if clockRate == 0 {
		return Track{}, errors.New("h265: clock rate is 0")
	}
	if len(vps) == 0 {
		return Track{}, errors.New("h265: no VPS")
	}
	if len(sps) == 0 || len(sps[0]) < 3 {
		return Track{}, errors.New("h265: no SPS")
	}
	if len(pps) == 0 {
		return Track{}, errors.New("h265: no PPS")
	}
	for _, set := range []struct {
		name string
		typ  hevc.NaluType
		nals [][]byte
	}{{"VPS", hevc.NALU_VPS, vps}, {"SPS", hevc.NALU_SPS, sps}, {"PPS", hevc.NALU_PPS, pps}} {
		for i, n := range set.nals {
			if len(n) < 2 || hevc.GetNaluType(n[0]) != set.typ {
				return Track{}, fmt.Errorf("h265: %s %d is not a %s NAL unit", set.name, i, set.name)
			}
		}
	}
	s, err := hevc.ParseSPSNALUnit(sps[0])
	if err != nil {
		return Track{}, fmt.Errorf("h265: SPS: %w", err)
	}
	w32, h32 := s.ImageSize()
	w, h := int(w32), int(h32)
	if err := checkDimensions(w, h); err != nil {
		return Track{}, fmt.Errorf("h265: SPS: %w", err)
	}
	return Track{
		Kind:        Video,
		Codec:       H265,
		ClockRate:   clockRate,
		CodecString: hevc.CodecString("hvc1", s),
		Width:       w,
		Height:      h,
		VPS:         copyNALUs(vps),
		SPS:         copyNALUs(sps),
		PPS:         copyNALUs(pps),
	}, nil
}

// H265TrackFromConfig builds an H.265 track from an
// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), as carried by an
// enhanced-RTMP 'hvc1' sequence start. Any NALU length size is accepted;
// H265ConfigLengthSize tells which one the samples use.
func H265TrackFromConfig(hvcC []byte, clockRate uint32) (t Track, err error) {
	defer recoverParser("h265", &err)
	vps, sps, pps, _, err := parseHEVCConfig(hvcC)
	if err != nil {
		return Track{}, fmt.Errorf("h265: %w", err)
	}
	return H265Track(vps, sps, pps, clockRate)
}

// AV1TrackFromConfig builds an AV1 track from an AV1CodecConfigurationRecord
// (the av1C payload). The record must carry the sequence header OBU: it gives
// the resolution and the full codec string. The record is copied.
func AV1TrackFromConfig(av1C []byte, clockRate uint32) (t Track, err error) {
	defer recoverParser("av1", &err)
	if clockRate == 0 {
		return Track{}, errors.New("av1: clock rate is 0")
	}
	rec, err := av1.DecodeAV1CodecConfRec(av1C)
	if err != nil {
		return Track{}, fmt.Errorf("av1: av1C: %w", err)
	}
	sh, err := rec.SequenceHeader()
	if err != nil {
		return Track{}, fmt.Errorf("av1: av1C sequence header: %w", err)
	}
	w, h := int(sh.Width()), int(sh.Height())
	if err := checkDimensions(w, h); err != nil {
		return Track{}, fmt.Errorf("av1: sequence header: %w", err)
	}
	return Track{
		Kind:        Video,
		Codec:       AV1,
		ClockRate:   clockRate,
		CodecString: sh.CodecString("av01"),
		Width:       w,
		Height:      h,
		AV1Config:   bytes.Clone(av1C),
	}, nil
}

// H264ConfigLengthSize returns the NALU length size (1 to 4 bytes) that
// samples described by an AVCDecoderConfigurationRecord use.
func H264ConfigLengthSize(avcC []byte) (int, error) {
	if len(avcC) < 5 {
		return 0, fmt.Errorf("h264: avcC: %d bytes, need at least 5", len(avcC))
	}
	return int(avcC[4]&0x03) + 1, nil
}

// H265ConfigLengthSize returns the NALU length size (1 to 4 bytes) that
// samples described by an HEVCDecoderConfigurationRecord use.
func H265ConfigLengthSize(hvcC []byte) (int, error) {
	if len(hvcC) < 23 {
		return 0, fmt.Errorf("h265: hvcC: %d bytes, need at least 23", len(hvcC))
	}
	return int(hvcC[21]&0x03) + 1, nil
}

// parseAVCConfig reads an AVCDecoderConfigurationRecord itself rather than
// with mp4ff's DecodeAVCDecConfRec, which rejects NALU length sizes other
// than 4 (FLV encoders may declare 1 or 2). Trailing fields (chroma format,
// bit depth, SPS extensions) are ignored: the SPS carries them.
func parseAVCConfig(b []byte) (sps, pps [][]byte, lengthSize int, err error) {
	if len(b) < 7 {
		return nil, nil, 0, fmt.Errorf("avcC: %d bytes, need at least 7", len(b))
	}
	if b[0] != 1 {
		return nil, nil, 0, fmt.Errorf("avcC: configurationVersion %d, want 1", b[0])
	}
	if lengthSize, err = H264ConfigLengthSize(b); err != nil {
		return nil, nil, 0, err
	}
	r := configReader{b: b, pos: 5}
	numSPS := int(r.u8() & 0x1f)
	for i := 0; i < numSPS; i++ {
		sps = append(sps, r.nalu())
	}
	numPPS := int(r.u8())
	for i := 0; i < numPPS; i++ {
		pps = append(pps, r.nalu())
	}
	if r.err != nil {
		return nil, nil, 0, fmt.Errorf("avcC: %w", r.err)
	}
	return sps, pps, lengthSize, nil
}

// parseHEVCConfig reads an HEVCDecoderConfigurationRecord; like
// parseAVCConfig it accepts NALU length sizes other than 4.
func parseHEVCConfig(b []byte) (vps, sps, pps [][]byte, lengthSize int, err error) {
	if len(b) < 23 {
		return nil, nil, nil, 0, fmt.Errorf("hvcC: %d bytes, need at least 23", len(b))
	}
	if b[0] != 1 {
		return nil, nil, nil, 0, fmt.Errorf("hvcC: configurationVersion %d, want 1", b[0])
	}
	if lengthSize, err = H265ConfigLengthSize(b); err != nil {
		return nil, nil, nil, 0, err
	}
	r := configReader{b: b, pos: 22}
	numArrays := int(r.u8())
	for i := 0; i < numArrays && r.err == nil; i++ {
		typ := hevc.NaluType(r.u8() & 0x3f)
		numNalus := int(r.u16())
		for j := 0; j < numNalus && r.err == nil; j++ {
			n := r.nalu()
			switch typ {
			case hevc.NALU_VPS:
				vps = append(vps, n)
			case hevc.NALU_SPS:
				sps = append(sps, n)
			case hevc.NALU_PPS:
				pps = append(pps, n)
			}
			// SEI and other arrays are not needed in the sample entry.
		}
	}
	if r.err != nil {
		return nil, nil, nil, 0, fmt.Errorf("hvcC: %w", r.err)
	}
	return vps, sps, pps, lengthSize, nil
}

// configReader reads big-endian fields of a decoder configuration record,
// remembering the first overrun instead of panicking.
type configReader struct {
	b   []byte
	pos int
	err error
}

func (r *configReader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n > len(r.b)-r.pos {
		r.err = fmt.Errorf("truncated at byte %d: need %d more bytes, have %d", r.pos, n, len(r.b)-r.pos)
		return false
	}
	return true
}

func (r *configReader) u8() byte {
	if !r.need(1) {
		return 0
	}
	r.pos++
	return r.b[r.pos-1]
}

func (r *configReader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.pos += 2
	return binary.BigEndian.Uint16(r.b[r.pos-2:])
}

// nalu reads a NAL unit preceded by a 16-bit length.
func (r *configReader) nalu() []byte {
	n := int(r.u16())
	if !r.need(n) {
		return nil
	}
	if n == 0 {
		r.err = fmt.Errorf("empty parameter set at byte %d", r.pos)
		return nil
	}
	r.pos += n
	return r.b[r.pos-n : r.pos]
}

func checkDimensions(w, h int) error {
	if w <= 0 || h <= 0 || w > maxDimension || h > maxDimension {
		return fmt.Errorf("picture size %dx%d out of range (1 to %d)", w, h, maxDimension)
	}
	return nil
}

func copyNALUs(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, n := range in {
		out[i] = bytes.Clone(n)
	}
	return out
}

// recoverParser turns a panic inside a codec parser into an error, so that
// a malformed configuration from the network ends one publisher, not the
// process.
func recoverParser(codec string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: malformed codec configuration (parser panicked: %v)", codec, r)
	}
}
