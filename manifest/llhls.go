package manifest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// Low-Latency HLS (rfc8216bis, Appendix B.1): the parts of a media playlist
// and what goes with them. A playlist with parts carries, in this order:
//
//	#EXT-X-SERVER-CONTROL  after the target duration (4.4.3.8)
//	#EXT-X-PART-INF
//	... segments; those within three target durations of the end list their
//	    parts (EXT-X-PART) between their tags and their EXTINF ...
//	the parts of the segment being produced, after its own DISCONTINUITY,
//	    MAP and PROGRAM-DATE-TIME tags, which must precede its first part
//	    (4.4.4.9) and cannot be inserted later (6.2.1: playlists only grow
//	    at the end)
//	#EXT-X-PRELOAD-HINT    the next part (and its init segment if it is new)
//	#EXT-X-RENDITION-REPORT for every other rendition

// Multiples of the target durations, from the spec's rules and
// recommendations.
const (
	// holdBackTargets: HOLD-BACK is at least three target durations
	// (4.4.3.8).
	holdBackTargets = 3
	// partHoldBackParts: PART-HOLD-BACK must be at least twice and should
	// be three times the part target (4.4.3.8).
	partHoldBackParts = 3
	// skipUntilTargets: the Skip Boundary is at least six target durations
	// (4.4.3.8).
	skipUntilTargets = 6
	// partsTargets: EXT-X-PART tags are listed for the last three target
	// durations (6.2.2).
	partsTargets = 3
)

// appendServerControl appends EXT-X-SERVER-CONTROL and EXT-X-PART-INF.
// PART-TARGET is the packager's, in whole milliseconds, which no part
// exceeds.
func appendServerControl(b []byte, target uint64, partTarget time.Duration) []byte {
	part := durationMillis(partTarget)
	b = append(b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL="...)
	b = appendFixed3(b, skipUntilTargets*target*1000)
	b = append(b, ",HOLD-BACK="...)
	b = appendFixed3(b, holdBackTargets*target*1000)
	b = append(b, ",PART-HOLD-BACK="...)
	b = appendFixed3(b, partHoldBackParts*part)
	b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
	b = appendFixed3(b, part)
	return append(b, '\n')
}

// skippedSegments is the number of leading segments a delta update leaves
// out (6.2.5.1): those further from the end of the last segment than the
// Skip Boundary. A segment is skipped only when all of it is, so a client
// merging the update never misses media.
func skippedSegments(segs []*packager.Segment, target time.Duration) int {
	last := segs[len(segs)-1]
	end := last.StartOffset() + last.Length()
	boundary := end - skipUntilTargets*target
	n := 0
	for n < len(segs)-1 && segs[n].StartOffset()+segs[n].Length() <= boundary {
		n++
	}
	return n
}

// partsHorizon is the earliest segment start whose parts are listed: three
// target durations before the end of the newest part.
func partsHorizon(tt *packager.TrackTimeline, target time.Duration) uint64 {
	last := tt.Segments[len(tt.Segments)-1]
	end, ts := last.Start+last.Duration, last.Timescale
	if n := len(tt.Pending); n > 0 {
		end, ts = tt.Pending[n-1].End(), tt.Pending[n-1].Timescale
	}
	span, ok := millisToTicks(uint64(partsTargets*target/time.Millisecond), ts)
	if !ok || span > end {
		return 0
	}
	return end - span
}

// appendParts appends one EXT-X-PART per part (4.4.4.9). Durations are
// written to the millisecond, like EXTINF; PART-TARGET is rounded up, so no
// written duration exceeds it.
func appendParts(b []byte, track string, parts []*packager.Part) []byte {
	for _, p := range parts {
		b = append(b, "#EXT-X-PART:DURATION="...)
		b = appendFixed3(b, nearestMillis(p.Duration, p.Timescale))
		b = append(b, ",URI=\""...)
		b = append(b, track...)
		b = append(b, '/')
		b = appendPartName(b, p.Start)
		b = append(b, '"')
		if p.Independent {
			b = append(b, ",INDEPENDENT=YES"...)
		}
		b = append(b, '\n')
	}
	return b
}

func appendPartName(b []byte, start uint64) []byte {
	b = append(b, "part-"...)
	b = strconv.AppendUint(b, start, 10)
	return append(b, ".m4s"...)
}

// appendLiveEdge appends what follows the last segment of a live
// low-latency playlist: the parts of the segment being produced, the
// preload hint and the rendition reports. prevInit is the init segment in
// effect after the last segment.
func appendLiveEdge(b []byte, tl *packager.Timeline, tt *packager.TrackTimeline, prevInit string) []byte {
	if len(tt.Pending) > 0 {
		if tt.PendingDiscontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if in := tt.PendingInit; in != nil && in.Name != prevInit {
			b = appendMap(b, tt.Name, in.Name)
			prevInit = in.Name
		}
		b = appendDate(b, tt.Pending[0].Start, tt.Pending[0].Timescale)
		b = appendParts(b, tt.Name, tt.Pending)
	}
	if tt.NextPart != "" {
		// Appendix B.1: the init segment of the hinted part is hinted too
		// when it is not the one of the last part (a new period starts).
		if in := tt.PendingInit; in != nil && in.Name != prevInit {
			b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\""...)
			b = append(b, tt.Name...)
			b = append(b, '/')
			b = append(b, in.Name...)
			b = append(b, "\"\n"...)
		}
		b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""...)
		b = append(b, tt.Name...)
		b = append(b, '/')
		b = append(b, tt.NextPart...)
		b = append(b, "\"\n"...)
	}
	// Appendix B.1: one report per other rendition of the multivariant
	// playlist, so that a client switching renditions can ask for the
	// right MSN and part at once.
	for _, o := range tl.Tracks {
		if o == nil || o == tt {
			continue
		}
		msn, part, ok := lastPart(o)
		if !ok {
			continue
		}
		b = append(b, "#EXT-X-RENDITION-REPORT:URI=\""...)
		b = append(b, o.Name...)
		b = append(b, ".m3u8\",LAST-MSN="...)
		b = strconv.AppendUint(b, msn, 10)
		if part >= 0 {
			b = append(b, ",LAST-PART="...)
			b = strconv.AppendInt(b, int64(part), 10)
		}
		b = append(b, '\n')
	}
	return b
}

// lastPart is what a rendition report states (4.4.5.4): the MSN of the
// rendition's last segment or, when it has parts, of its last part, and the
// index of that part (-1 without parts). ok is false for a rendition
// without segments (its playlist does not exist yet).
func lastPart(tt *packager.TrackTimeline) (msn uint64, part int, ok bool) {
	if len(tt.Segments) == 0 {
		return 0, -1, false
	}
	if n := len(tt.Pending); n > 0 {
		return tt.PendingSeq, n - 1, true
	}
	last := tt.Segments[len(tt.Segments)-1]
	return last.Seq, len(last.Parts) - 1, true
}

// checkParts checks what the low-latency writer relies on: parts that fit
// their segment, have its timescale, a URL-safe next part name and no part
// longer than the part target (it would break 4.4.4.9).
func checkParts(tt *packager.TrackTimeline, partTarget time.Duration) error {
	check := func(p *packager.Part, ts uint32) error {
		switch {
		case p == nil:
			return fmt.Errorf("%w: track %s: nil part", errInvalid, tt.Name)
		case p.Timescale == 0 || p.Timescale != ts:
			return fmt.Errorf("%w: track %s: part %d has timescale %d", errInvalid, tt.Name, p.Start, p.Timescale)
		case p.End() < p.Start || p.End()/uint64(p.Timescale) >= maxMillis/1000:
			return fmt.Errorf("%w: track %s: part %d ends beyond the year 9999", errInvalid, tt.Name, p.Start)
		case nearestMillis(p.Duration, p.Timescale) > durationMillis(partTarget):
			return fmt.Errorf("%w: track %s: part %d is longer than the part target %v", errInvalid, tt.Name, p.Start, partTarget)
		}
		return nil
	}
	for _, s := range tt.Segments {
		for _, p := range s.Parts {
			if err := check(p, s.Timescale); err != nil {
				return err
			}
		}
	}
	if len(tt.Pending) > 0 {
		ts := tt.Pending[0].Timescale
		for _, p := range tt.Pending {
			if err := check(p, ts); err != nil {
				return err
			}
		}
		if in := tt.PendingInit; in != nil && !pathElement(in.Name) {
			return fmt.Errorf("%w: track %s: pending init segment name %q", errInvalid, tt.Name, in.Name)
		}
	}
	if tt.NextPart != "" && !pathElement(tt.NextPart) {
		return fmt.Errorf("%w: track %s: next part name %q", errInvalid, tt.Name, tt.NextPart)
	}
	return nil
}

// checkReports checks the names of the other renditions, which rendition
// reports put into URIs.
func checkReports(tl *packager.Timeline, tt *packager.TrackTimeline) error {
	for _, o := range tl.Tracks {
		if o != nil && o != tt && !pathElement(o.Name) {
			return fmt.Errorf("%w: track name %q is not a URL path element", errInvalid, o.Name)
		}
	}
	return nil
}
