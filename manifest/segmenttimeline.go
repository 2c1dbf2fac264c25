package manifest

import (
	"strconv"

	"github.com/liveorigin/liveorigin/packager"
)

// appendSegmentTimeline appends the SegmentTimeline of one track in one
// period (ISO/IEC 23009-1 5.3.9.6): runs of consecutive segments of equal
// duration become one S with @r. @t is written on the first S and after a
// gap or an overlap, where the start does not follow from the previous
// end.
func appendSegmentTimeline(b []byte, segs []*packager.Segment) []byte {
	b = append(b, "        <SegmentTimeline>\n"...)
	var next uint64
	for i := 0; i < len(segs); {
		s := segs[i]
		j := i + 1
		for j < len(segs) && segs[j].Duration == s.Duration && segs[j].Start == segs[j-1].Start+segs[j-1].Duration {
			j++
		}
		b = append(b, "          <S"...)
		if i == 0 || s.Start != next {
			b = append(b, ` t="`...)
			b = strconv.AppendUint(b, s.Start, 10)
			b = append(b, '"')
		}
		b = append(b, ` d="`...)
		b = strconv.AppendUint(b, s.Duration, 10)
		b = append(b, '"')
		if r := j - i - 1; r > 0 {
			b = append(b, ` r="`...)
			b = strconv.AppendUint(b, uint64(r), 10)
			b = append(b, '"')
		}
		b = append(b, "/>\n"...)
		last := segs[j-1]
		next = last.Start + last.Duration
		i = j
	}
	return append(b, "        </SegmentTimeline>\n"...)
}
