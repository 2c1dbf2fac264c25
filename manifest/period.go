package manifest

import (
	"fmt"

	"github.com/liveorigin/liveorigin/packager"
)

// layout is the window of a snapshot cut into DASH periods: for each period
// with segments in the window, the run of each track's segments that
// belongs to it.
type layout struct {
	periods []layoutPeriod
	// runs[pi*nTracks+ti] is the [from, to) range of
	// tl.Tracks[ti].Segments in periods[pi].
	runs    [][2]int
	tracks  []*packager.TrackTimeline
	nTracks int
	// startMillis and endMillis bound the window over all tracks: the
	// earliest segment start and the latest segment end.
	startMillis, endMillis uint64
}

type layoutPeriod struct {
	period      *packager.Period
	startMillis uint64
}

// segments returns the segments of track ti in period pi.
func (l *layout) segments(pi, ti int) []*packager.Segment {
	r := l.runs[pi*l.nTracks+ti]
	return l.tracks[ti].Segments[r[0]:r[1]]
}

// layoutPeriods assigns every segment in the window to its period. The
// packager keeps segments in time order and periods oldest first, so each
// track's segments of one period are one contiguous run; a segment of an
// unknown period, or out of order, is a broken snapshot.
func layoutPeriods(tl *packager.Timeline) (layout, error) {
	n := len(tl.Tracks)
	l := layout{
		periods: make([]layoutPeriod, 0, len(tl.Periods)),
		runs:    make([][2]int, 0, len(tl.Periods)*n),
		tracks:  tl.Tracks,
		nTracks: n,
	}
	next := make([]int, n)
	for _, p := range tl.Periods {
		if p == nil {
			return layout{}, fmt.Errorf("%w: stream %s: nil period", errInvalid, tl.Stream)
		}
		if p.Start < 0 || uint64(p.Start.Milliseconds()) > maxMillis {
			return layout{}, fmt.Errorf("%w: stream %s: period %s starts at %v", errInvalid, tl.Stream, p.ID, p.Start)
		}
		base := len(l.runs)
		held := false
		for ti, tt := range tl.Tracks {
			from, to := next[ti], next[ti]
			for to < len(tt.Segments) && tt.Segments[to].Period == p.ID {
				to++
			}
			next[ti] = to
			l.runs = append(l.runs, [2]int{from, to})
			held = held || to > from
		}
		if !held {
			// A period whose segments all left the window is not listed
			// (DASH-IF IOP: periods ending before the time shift buffer
			// are removed).
			l.runs = l.runs[:base]
			continue
		}
		start := uint64(p.Start.Milliseconds())
		if k := len(l.periods); k > 0 && start <= l.periods[k-1].startMillis {
			return layout{}, fmt.Errorf("%w: stream %s: period %s does not start after period %s", errInvalid, tl.Stream, p.ID, l.periods[k-1].period.ID)
		}
		l.periods = append(l.periods, layoutPeriod{period: p, startMillis: start})
	}
	for ti, tt := range tl.Tracks {
		if next[ti] < len(tt.Segments) {
			s := tt.Segments[next[ti]]
			return layout{}, fmt.Errorf("%w: stream %s: track %s: segment %d has period %q, not listed in that order", errInvalid, tl.Stream, tt.Name, s.Seq, s.Period)
		}
		first, last := tt.Segments[0], tt.Segments[len(tt.Segments)-1]
		start := floorMillis(first.Start, first.Timescale)
		end := ceilMillis(last.Start+last.Duration, last.Timescale)
		if ti == 0 || start < l.startMillis {
			l.startMillis = start
		}
		l.endMillis = max(l.endMillis, end)
	}
	if k := len(l.periods); k > 0 {
		// A coarse timescale can put a segment's end, in ms, before its
		// period's start; the presentation never ends before its last
		// period starts.
		l.endMillis = max(l.endMillis, l.periods[k-1].startMillis)
	}
	return l, nil
}
