package packager

import (
	"fmt"
	"hash/crc32"
	"math"
	"strconv"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// trackID of the single track in every init and media segment (CMAF: one
// track per file).
const trackID = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeSegment writes one CMAF media segment: styp + moof + mdat holding all
// samples (parts off). The sample data is copied exactly once, into the
// segment's buffer; the returned bytes are never copied again. tfdt is
// always version 1: times are absolute since 1970 and need 64 bits.
func encodeSegment(samples []sample, seq uint64) (data []byte, payload int, err error) {
	frag, payload, err := buildFragment(samples, uint32(seq)) // mfhd: Seq truncated to 32 bits
	if err != nil {
		return nil, 0, err
	}
	styp := newStyp()
	data, err = encodeBoxes(styp.Size()+frag.Size(), styp, frag)
	if err != nil {
		return nil, 0, err
	}
	return data, payload, nil
}

// encodeChunk writes one CMAF chunk of a segment cut into parts: moof+mdat
// with its own tfdt and mfhd sequence number. The first chunk of a segment
// starts with the segment's styp and a prft (ISO/IEC 14496-12 8.16.5), which
// ties the chunk's decode time to the wall clock for LL-DASH clients
// (ProducerReferenceTime): times are UTC already (DESIGN decision 2), so the
// prft states the tfdt itself, as NTP time. The chunks of a segment
// concatenated are a valid CMAF segment.
func encodeChunk(samples []sample, mfhdSeq uint32, first bool, timescale uint32) (data []byte, payload int, err error) {
	frag, payload, err := buildFragment(samples, mfhdSeq)
	if err != nil {
		return nil, 0, err
	}
	if !first {
		data, err = encodeBoxes(frag.Size(), frag)
	} else {
		styp := newStyp()
		prft := mp4.CreatePrftBox(1, mp4.PrftTimeEncoderOutput, trackID, ntpTime(samples[0].dts, timescale), samples[0].dts)
		data, err = encodeBoxes(styp.Size()+prft.Size()+frag.Size(), styp, prft, frag)
	}
	if err != nil {
		return nil, 0, err
	}
	return data, payload, nil
}

// buildFragment makes the moof+mdat of samples. The sample data is
// referenced, not copied: encodeBoxes copies it once.
func buildFragment(samples []sample, mfhdSeq uint32) (*mp4.Fragment, int, error) {
	frag, err := mp4.CreateFragment(mfhdSeq, trackID)
	if err != nil {
		return nil, 0, fmt.Errorf("create fragment: %w", err)
	}
	trun := frag.Moof.Traf.Trun
	trun.Samples = make([]mp4.Sample, 0, len(samples))
	frag.Mdat.DataParts = make([][]byte, 0, len(samples))
	payload := 0
	for _, s := range samples {
		if uint64(len(s.data)) > math.MaxUint32 {
			return nil, 0, fmt.Errorf("sample of %d bytes", len(s.data))
		}
		flags := mp4.NonSyncSampleFlags
		if s.key {
			flags = mp4.SyncSampleFlags
		}
		frag.AddSample(mp4.NewSample(flags, s.dur, uint32(len(s.data)), s.cto), samples[0].dts)
		frag.Mdat.AddSampleDataPart(s.data)
		payload += len(s.data)
	}
	frag.Moof.Traf.Tfdt.Version = 1
	return frag, payload, nil
}

// newStyp is the segment type box: msdh (a DASH media segment) and cmfs (a
// CMAF segment); msix is left out because there is no sidx.
func newStyp() *mp4.StypBox { return mp4.NewStyp("msdh", 0, []string{"msdh", "cmfs"}) }

// encodeBoxes writes boxes into one buffer of exactly size bytes.
func encodeBoxes(size uint64, boxes ...interface{ EncodeSW(bits.SliceWriter) error }) ([]byte, error) {
	data := make([]byte, size)
	sw := bits.NewFixedSliceWriterFromSlice(data)
	for _, b := range boxes {
		if err := b.EncodeSW(sw); err != nil {
			return nil, fmt.Errorf("encode %T: %w", b, err)
		}
	}
	if sw.Len() != len(data) {
		return nil, fmt.Errorf("encoded %d bytes, expected %d", sw.Len(), len(data))
	}
	return data, nil
}

// ntpEpochOffset is 1970-01-01 in seconds since 1900-01-01 (the NTP epoch).
const ntpEpochOffset = 2208988800

// ntpTime converts ticks since 1970 to an NTP timestamp (seconds since 1900
// and a 32-bit binary fraction), exactly.
func ntpTime(t uint64, timescale uint32) mp4.NTP64 {
	ts := uint64(timescale)
	secs := t/ts + ntpEpochOffset
	frac := (t % ts << 32) / ts
	return mp4.NTP64(secs<<32 | frac)
}

// segmentETag is a strong validator: the start time (unique within the
// track) and a CRC-32C of the bytes, cheap enough for every segment.
func segmentETag(start uint64, data []byte) string {
	b := make([]byte, 0, 2+16+1+8)
	b = append(b, '"')
	b = strconv.AppendUint(b, start, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(crc32.Checksum(data, castagnoli)), 16)
	b = append(b, '"')
	return string(b)
}
