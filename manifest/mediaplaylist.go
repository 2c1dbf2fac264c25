package manifest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// MediaOptions are the inputs of a media playlist render that are not in
// the snapshot: the client's delivery directives that change the document.
type MediaOptions struct {
	// Skip asks for a Playlist Delta Update (_HLS_skip, rfc8216bis 6.2.5.1);
	// default SkipNone: the whole playlist. It is ignored when the playlist
	// cannot skip: parts off (no CAN-SKIP-UNTIL) or an ended stream.
	Skip Skip
}

// Skip is the value of the _HLS_skip delivery directive.
type Skip uint8

const (
	// SkipNone: no _HLS_skip, the full playlist.
	SkipNone Skip = iota
	// SkipYes: _HLS_skip=YES, skip the segments older than CAN-SKIP-UNTIL.
	SkipYes
	// SkipV2: _HLS_skip=v2, skip EXT-X-DATERANGE tags as well. The playlists
	// have none, so the update is the same as YES with an (empty)
	// RECENTLY-REMOVED-DATERANGES list, which v2 requires (4.4.5.2).
	SkipV2
)

// String is the directive's value ("", "YES", "v2").
func (s Skip) String() string {
	switch s {
	case SkipYes:
		return "YES"
	case SkipV2:
		return "v2"
	}
	return ""
}

// MediaPlaylist renders the HLS media playlist of one rendition ("v0",
// "a0"): the segments of its playlist window, each with its
// EXT-X-PROGRAM-DATE-TIME, an EXT-X-MAP wherever the init segment changes and
// EXT-X-DISCONTINUITY where a new period starts. With parts on
// (tl.PartTarget > 0) it is a Low-Latency HLS playlist (llhls.go): server
// control, the parts of the newest segments and of the segment being
// produced, a preload hint, rendition reports, and, on request, a delta
// update. It returns an error wrapping packager.ErrNotFound for an unknown
// rendition and packager.ErrNotYet while the rendition has no segment.
func MediaPlaylist(tl *packager.Timeline, track string, o MediaOptions) ([]byte, error) {
	if tl == nil {
		return nil, fmt.Errorf("%w: no snapshot", errInvalid)
	}
	var tt *packager.TrackTimeline
	for _, x := range tl.Tracks {
		// Not tl.Track: a broken snapshot with a nil track must not panic.
		if x != nil && x.Name == track {
			tt = x
			break
		}
	}
	if tt == nil {
		return nil, fmt.Errorf("manifest %s: rendition %q: %w", tl.Stream, track, packager.ErrNotFound)
	}
	if len(tt.Segments) == 0 {
		return nil, fmt.Errorf("manifest %s: rendition %s has no segment: %w", tl.Stream, track, packager.ErrNotYet)
	}
	if err := checkTrack(tt); err != nil {
		return nil, fmt.Errorf("stream %s: %w", tl.Stream, err)
	}
	target := targetSeconds(tl.TargetDuration)
	if target == 0 {
		return nil, fmt.Errorf("%w: stream %s: target duration %v", errInvalid, tl.Stream, tl.TargetDuration)
	}
	ll := tl.PartTarget > 0
	if ll {
		if err := checkParts(tt, tl.PartTarget); err != nil {
			return nil, fmt.Errorf("stream %s: %w", tl.Stream, err)
		}
		if err := checkReports(tl, tt); err != nil {
			return nil, fmt.Errorf("stream %s: %w", tl.Stream, err)
		}
	}
	// rfc8216bis 6.2.5.1: skip only what CAN-SKIP-UNTIL allows, never in
	// an ended playlist.
	skipped := 0
	if ll && !tl.Ended && o.Skip != SkipNone {
		skipped = skippedSegments(tt.Segments, time.Duration(target)*time.Second)
	}
	segs := tt.Segments[skipped:]

	// About 150 bytes per segment with the date, EXTINF and URI lines, and
	// an EXT-X-MAP now and then; parts add about 70 bytes each.
	size := 256 + len(segs)*(150+2*len(tt.Name))
	if ll {
		size += 512 + (len(tt.Pending)+12*int(target))*(70+len(tt.Name)) + len(tl.Tracks)*64
	}
	b := make([]byte, 0, size)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:"...)
	// 6.2.1: no higher version than the tags need: 7 for what we always
	// write (EXT-X-MAP needs 6), 9 for EXT-X-SKIP (section 8). No
	// EXT-X-DATERANGE is ever skipped, so a v2 update needs no 10.
	if skipped > 0 {
		b = append(b, '9')
	} else {
		b = append(b, '7')
	}
	b = append(b, "\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendUint(b, target, 10)
	b = append(b, '\n')
	if ll {
		b = appendServerControl(b, target, tl.PartTarget)
	}
	b = append(b, "#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, tt.MediaSequence(), 10)
	// rfc8216bis 4.4.3.3: always written, so that a client joining after a
	// discontinuity left the window still lines up renditions. A delta
	// update keeps it (4.4.5.2): it counts the skipped segments too.
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, tt.DiscontinuitySequence, 10)
	b = append(b, '\n')
	if segmentsIndependent(tt.Segments) {
		b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}

	prevInit := ""
	if skipped > 0 {
		// The EXT-X-MAP of the first segment kept goes before EXT-X-SKIP:
		// the skipped segments took theirs with them.
		b = appendMap(b, tt.Name, segs[0].Init.Name)
		prevInit = segs[0].Init.Name
		b = append(b, "#EXT-X-SKIP:SKIPPED-SEGMENTS="...)
		b = strconv.AppendUint(b, uint64(skipped), 10)
		if o.Skip == SkipV2 {
			b = append(b, `,RECENTLY-REMOVED-DATERANGES=""`...)
		}
		b = append(b, '\n')
	}
	// rfc8216bis 6.2.2: EXT-X-PART tags go once they are more than three
	// target durations from the end of the playlist.
	partsFrom := uint64(0)
	if ll {
		partsFrom = partsHorizon(tt, time.Duration(target)*time.Second)
	}
	for _, s := range segs {
		// The packager counts in DiscontinuitySequence only the flagged
		// segments that left the window, so a flagged first segment keeps
		// its tag (rfc8216bis 4.4.4.3 allows it on the first segment).
		if s.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		// rfc8216bis 4.4.4.5: an EXT-X-MAP applies until the next one, so
		// one is needed before the first segment and at every change.
		if s.Init.Name != prevInit {
			b = appendMap(b, tt.Name, s.Init.Name)
			prevInit = s.Init.Name
		}
		// DESIGN decision 2: segment times are UTC, so every segment has
		// its date and clients can align renditions and periods by it.
		b = appendDate(b, s.Start, s.Timescale)
		if ll && s.Start >= partsFrom {
			// 4.4.4.9: the segment's tags above apply to its first part too.
			b = appendParts(b, tt.Name, s.Parts)
		}
		b = append(b, "#EXTINF:"...)
		b = appendFixed3(b, nearestMillis(s.Duration, s.Timescale))
		b = append(b, ",\n"...)
		b = append(b, tt.Name...)
		b = append(b, '/')
		b = strconv.AppendUint(b, s.Start, 10)
		b = append(b, ".m4s\n"...)
	}
	if ll && !tl.Ended {
		b = appendLiveEdge(b, tl, tt, prevInit)
	}
	if tl.Ended {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b, nil
}

// appendMap appends the EXT-X-MAP of an init segment of rendition track.
func appendMap(b []byte, track, init string) []byte {
	b = append(b, "#EXT-X-MAP:URI=\""...)
	b = append(b, track...)
	b = append(b, '/')
	b = append(b, init...)
	return append(b, "\"\n"...)
}

// appendDate appends the EXT-X-PROGRAM-DATE-TIME of a segment starting at
// tick start.
func appendDate(b []byte, start uint64, ts uint32) []byte {
	b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
	b = appendDateTime(b, floorMillis(start, ts))
	return append(b, '\n')
}

// targetSeconds is EXT-X-TARGETDURATION: a decimal-integer number of
// seconds (rfc8216bis 4.4.3.1). The packager fixes a whole number; a
// fraction is rounded up so that the bound still holds.
func targetSeconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}

// segmentsIndependent reports whether every segment starts with a key
// frame (rfc8216bis 4.4.2.1: EXT-X-INDEPENDENT-SEGMENTS may only be written
// then).
func segmentsIndependent(segs []*packager.Segment) bool {
	for _, s := range segs {
		if !s.Independent {
			return false
		}
	}
	return true
}
