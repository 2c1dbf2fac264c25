package origin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// Objects at the live edge that do not exist yet:
//
//   - A part named by the preload hint, or any part a little ahead of the
//     newest (within the Advance Part Limit), is held until it exists and
//     then served whole (rfc8216bis 6.2.6: a hinted resource must be
//     requestable when hinted; no byte of a part is sent before all of it
//     can be). 503 after three target durations; 404 if the stream moves
//     past it without making it (a timestamp jump changed the plan).
//   - LL-DASH: the segment being produced is sent while it grows, one HTTP
//     chunk per CMAF chunk as it is packaged, each flushed at once; the
//     response ends when the segment completes. Its bytes are then exactly
//     the segment's, so a CDN may keep them as the (immutable) segment. If
//     the segment cannot complete (the stream ends mid-segment, three
//     target durations pass), the response is aborted, never ended cleanly:
//     a client or cache must not take a truncated body for the segment.

// servePart serves an LL-HLS part, holding the request while it is near
// the live edge.
func (s *Server) servePart(w http.ResponseWriter, r *http.Request, tl *packager.Timeline, rendition string, start uint64) {
	var part *packager.Part
	tl, err := s.await(r, KindPart, tl, func(tl *packager.Timeline) (bool, error) {
		tt, err := tl.Track(rendition)
		if err != nil {
			return false, err
		}
		part, err = tt.Part(start)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, packager.ErrNotYet) && nearLiveEdge(tl, tt, start):
			return false, nil
		}
		return false, err
	})
	if errors.Is(err, errGone) {
		return
	}
	if err == nil && part == nil {
		// The stream ended: its last parts were flushed into the final
		// snapshot, which may hold this one.
		var tt *packager.TrackTimeline
		if tt, err = tl.Track(rendition); err == nil {
			part, err = tt.Part(start)
		}
		if errors.Is(err, packager.ErrNotYet) {
			err = fmt.Errorf("part %d: the stream ended: %w", start, packager.ErrNotFound)
		}
	}
	if err != nil {
		s.writeError(w, r, KindPart, err)
		return
	}
	// Media time is UTC (DESIGN decision 2): the part was complete at its end.
	end := time.Unix(0, 0).Add(part.Length() + time.Duration(float64(part.Start)/float64(part.Timescale)*float64(time.Second)))
	s.serveImmutable(w, r, KindPart, tl, rendition, part.Data, part.ETag, end)
}

// nearLiveEdge reports whether a part that does not exist yet is worth
// waiting for: it starts at most the Advance Part Limit's worth of parts
// after the newest part ends (the preload hint names the very next one).
func nearLiveEdge(tl *packager.Timeline, tt *packager.TrackTimeline, start uint64) bool {
	if tl.PartTarget == 0 || tt.NextPart == "" {
		return false
	}
	next, ok := packager.ParsePartName(tt.NextPart)
	if !ok || start < next {
		return false
	}
	ts := tt.Timescale
	if ts == 0 {
		return false
	}
	ahead := time.Duration(float64(tl.PartTarget) * advancePartLimit(tl.PartTarget))
	return start-next <= uint64(ahead.Seconds()*float64(ts))
}

// serveGrowingSegment sends the segment being produced as it grows
// (LL-DASH). It returns false, having written nothing, when start is not
// the segment being produced.
func (s *Server) serveGrowingSegment(w http.ResponseWriter, r *http.Request, tl *packager.Timeline, tt *packager.TrackTimeline, start uint64) bool {
	if tl.PartTarget == 0 || tl.Ended || tt.NextPart == "" || tt.PendingStart != start || r.Header.Get("Range") != "" {
		return false
	}
	rendition := tt.Name
	h := w.Header()
	setMediaType(h, tt)
	// The body will be the immutable segment; no validator yet, no length.
	cachePolicy(h, s.cacheFor(KindSegment, tl))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true
	}
	rc := http.NewResponseController(w)
	sent, written, done := 0, 0, false // parts and bytes sent; all sent
	step := func(tl *packager.Timeline) (bool, error) {
		tt, err := tl.Track(rendition)
		if err != nil {
			return false, err
		}
		if seg, err := tt.Segment(start); err == nil {
			// Complete: the rest of its bytes, which are its parts'.
			if written > len(seg.Data) {
				return false, fmt.Errorf("segment %d is shorter than what was sent", start)
			}
			_, err := w.Write(seg.Data[written:])
			done = err == nil
			return true, err
		}
		if tt.PendingStart != start || tt.NextPart == "" {
			return false, fmt.Errorf("segment %d is no longer being produced", start)
		}
		for ; sent < len(tt.Pending); sent++ {
			data := tt.Pending[sent].Data
			if _, err := w.Write(data); err != nil {
				return false, err
			}
			written += len(data)
		}
		return false, rc.Flush()
	}
	tl, err := s.await(r, KindSegment, tl, step)
	if err == nil && !done {
		// The stream ended: its last segments were flushed into the final
		// snapshot, which may hold this one complete.
		_, err = step(tl)
	}
	if err != nil {
		if !errors.Is(err, errGone) {
			s.log.Debug("growing segment aborted", "path", logPath(r.URL.Path), "request_id", requestID(w), "err", err)
		}
		abort(w)
	}
	return true
}

// setMediaType sets the Content-Type of a track's media objects.
func setMediaType(h http.Header, tt *packager.TrackTimeline) {
	if tt.Track.Kind == ingest.Audio {
		h.Set("Content-Type", "audio/mp4")
	} else {
		h.Set("Content-Type", "video/mp4")
	}
}

// abort marks the response as broken: the connection is closed without
// ending the body (observeRequests raises http.ErrAbortHandler once the
// request is counted and logged).
func abort(w http.ResponseWriter) {
	if sw, ok := w.(*statusWriter); ok {
		sw.aborted = true
	}
}
