package manifest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// MediaPlaylist renders the HLS media playlist of one rendition ("v0",
// "a0"): the segments of its playlist window, each with its
// EXT-X-PROGRAM-DATE-TIME, an EXT-X-MAP wherever the init segment changes and
// EXT-X-DISCONTINUITY where a new period starts. It returns an error
// wrapping packager.ErrNotFound for an unknown rendition and
// packager.ErrNotYet while the rendition has no segment.
func MediaPlaylist(tl *packager.Timeline, track string) ([]byte, error) {
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

	// About 150 bytes per segment with the date, EXTINF and URI lines, and
	// an EXT-X-MAP now and then; one allocation in the common case.
	b := make([]byte, 0, 256+len(tt.Segments)*(150+2*len(tt.Name)))
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendUint(b, target, 10)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, tt.MediaSequence(), 10)
	// rfc8216bis 4.4.3.3: always written, so that a client joining after a
	// discontinuity left the window still lines up renditions.
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, tt.DiscontinuitySequence, 10)
	b = append(b, '\n')
	if segmentsIndependent(tt.Segments) {
		b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}

	prevInit := ""
	for _, s := range tt.Segments {
		// The packager counts in DiscontinuitySequence only the flagged
		// segments that left the window, so a flagged first segment keeps
		// its tag (rfc8216bis 4.4.4.3 allows it on the first segment).
		if s.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		// rfc8216bis 4.4.4.5: an EXT-X-MAP applies until the next one, so
		// one is needed before the first segment and at every change.
		if s.Init.Name != prevInit {
			b = append(b, "#EXT-X-MAP:URI=\""...)
			b = append(b, tt.Name...)
			b = append(b, '/')
			b = append(b, s.Init.Name...)
			b = append(b, "\"\n"...)
			prevInit = s.Init.Name
		}
		// DESIGN decision 2: segment times are UTC, so every segment has
		// its date and clients can align renditions and periods by it.
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = appendDateTime(b, floorMillis(s.Start, s.Timescale))
		b = append(b, "\n#EXTINF:"...)
		b = appendFixed3(b, nearestMillis(s.Duration, s.Timescale))
		b = append(b, ",\n"...)
		b = append(b, tt.Name...)
		b = append(b, '/')
		b = strconv.AppendUint(b, s.Start, 10)
		b = append(b, ".m4s\n"...)
	}
	if tl.Ended {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b, nil
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
