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
// samples. The sample data is copied exactly once, into the segment's
// buffer; the returned bytes are never copied again.
//
// styp carries msdh (a DASH media segment) and cmfs (a CMAF segment); msix is
// left out because there is no sidx. tfdt is always version 1: times are
// absolute since 1970 and need 64 bits.
func encodeSegment(samples []sample, seq uint64) (data []byte, payload int, err error) {
	frag, err := mp4.CreateFragment(uint32(seq), trackID) // mfhd: Seq truncated to 32 bits
	if err != nil {
		return nil, 0, fmt.Errorf("create fragment: %w", err)
	}
	trun := frag.Moof.Traf.Trun
	trun.Samples = make([]mp4.Sample, 0, len(samples))
	frag.Mdat.DataParts = make([][]byte, 0, len(samples))
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
	styp := mp4.NewStyp("msdh", 0, []string{"msdh", "cmfs"})
	size := styp.Size() + frag.Size()
	data = make([]byte, size)
	sw := bits.NewFixedSliceWriterFromSlice(data)
	if err := styp.EncodeSW(sw); err != nil {
		return nil, 0, fmt.Errorf("encode styp: %w", err)
	}
	if err := frag.EncodeSW(sw); err != nil {
		return nil, 0, fmt.Errorf("encode fragment: %w", err)
	}
	if sw.Len() != len(data) {
		return nil, 0, fmt.Errorf("encoded %d bytes, expected %d", sw.Len(), len(data))
	}
	return data, payload, nil
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
