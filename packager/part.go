package packager

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Part is one LL-HLS partial segment of one track: one CMAF chunk
// (moof+mdat; the first part of a segment also carries the styp and a prft).
// Parts are immutable, like segments.
type Part struct {
	// Start is the tfdt of the part's first sample (track timescale, since
	// 1970-01-01T00:00:00Z) and Duration the sum of its sample durations.
	Start, Duration uint64
	Timescale       uint32
	// Data is the chunk's bytes; immutable.
	Data []byte
	// ETag is a strong validator, quoted.
	ETag string
	// Independent is true when the part contains a key frame (rfc8216bis
	// 4.4.4.9 INDEPENDENT=YES): audio parts always, video parts that start a
	// GOP.
	Independent bool
	// Index is the Part Index within its parent segment, from 0.
	Index int
}

// partPrefix and partSuffix frame a part's start time in its object name.
const (
	partPrefix = "part-"
	partSuffix = ".m4s"
)

// Name is the part's object name within its track: "part-<Start>.m4s". A
// part is named by its own start, so the next part's name is known before
// it exists (it starts where the newest part ends: EXT-X-PRELOAD-HINT), and
// a name is never reused for other bytes (DESIGN decision 3).
func (p *Part) Name() string { return PartName(p.Start) }

// End is where the part ends, in its timescale.
func (p *Part) End() uint64 { return p.Start + p.Duration }

// Length is the part duration as a time.Duration.
func (p *Part) Length() time.Duration { return ticks(p.Duration, p.Timescale) }

// PartName is the object name of a part starting at start.
func PartName(start uint64) string {
	return partPrefix + strconv.FormatUint(start, 10) + partSuffix
}

// ParsePartName returns the start time in a part object name; ok is false
// for anything that is not exactly "part-<decimal>.m4s".
func ParsePartName(name string) (start uint64, ok bool) {
	num, found := strings.CutPrefix(name, partPrefix)
	if !found {
		return 0, false
	}
	num, found = strings.CutSuffix(num, partSuffix)
	if !found || num == "" || num[0] == '+' || len(num) > 1 && num[0] == '0' {
		return 0, false
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// Part finds a part by its start time, among the pending parts and the
// parts of the segments held (window and retained). Older than anything
// held: ErrGone; at or after the end of the newest part: ErrNotYet (it
// may come: the preload hint names it); otherwise ErrNotFound.
func (tt *TrackTimeline) Part(start uint64) (*Part, error) {
	for _, p := range tt.Pending {
		if p.Start == start {
			return p, nil
		}
	}
	for _, list := range [][]*Segment{tt.Segments, tt.Retained} {
		i := sort.Search(len(list), func(i int) bool { return list[i].Start > start }) - 1
		if i < 0 {
			continue
		}
		s := list[i]
		if start >= s.Start+s.Duration {
			continue
		}
		k := sort.Search(len(s.Parts), func(k int) bool { return s.Parts[k].Start >= start })
		if k < len(s.Parts) && s.Parts[k].Start == start {
			return s.Parts[k], nil
		}
		return nil, ErrNotFound
	}
	end, ok := tt.partsEnd()
	switch {
	case !ok || start >= end:
		return nil, ErrNotYet
	case start < tt.oldestStart():
		return nil, ErrGone
	}
	return nil, ErrNotFound
}

// partsEnd is where the newest part (pending, or of the newest segment)
// ends; ok is false when the track has neither.
func (tt *TrackTimeline) partsEnd() (end uint64, ok bool) {
	if n := len(tt.Pending); n > 0 {
		return tt.Pending[n-1].End(), true
	}
	if n := len(tt.Segments); n > 0 {
		s := tt.Segments[n-1]
		return s.Start + s.Duration, true
	}
	return 0, false
}

// oldestStart is the start of the oldest segment held.
func (tt *TrackTimeline) oldestStart() uint64 {
	switch {
	case len(tt.Retained) > 0:
		return tt.Retained[0].Start
	case len(tt.Segments) > 0:
		return tt.Segments[0].Start
	case len(tt.Pending) > 0:
		return tt.Pending[0].Start
	}
	return 0
}
