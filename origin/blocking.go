package origin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/liveorigin/liveorigin/packager"
)

// Blocking Playlist Reload, exactly as rfc8216bis 6.2.5.2 says:
//
//   - _HLS_msn=M holds the request until the playlist has segment M (or a
//     later one); with _HLS_part=N, until it has part N of segment M, a part
//     index past the end of a complete segment meaning part 0 of the next.
//     A segment that left the playlist counts as there: the whole, current
//     playlist is the answer.
//   - 400 at once for _HLS_part without _HLS_msn, for a malformed value, for
//     M beyond the last segment + 2, and for a part beyond the Advance Part
//     Limit (3/PART-TARGET parts past the last one).
//   - 503 after three target durations.
//   - An ended stream answers at once (its playlist has EXT-X-ENDLIST, which
//     makes the directives void).
//
// A waiting request holds no lock and polls nothing: it sleeps on the
// snapshot's Changed channel, its context and one timer. Requests waiting
// for the same segment or part wake on the same snapshot and share its
// rendered document.

// blockTargets is how long a request may block, in target durations
// (6.2.5.2: 503 after three).
const blockTargets = 3

// errBlockTimeout: the segment, part or object waited for did not come in
// time (503).
var errBlockTimeout = fmt.Errorf("%w: not available within three target durations", packager.ErrNotYet)

// blockState is where a blocking request stands against a snapshot.
type blockState int

const (
	blockWait   blockState = iota // not there yet
	blockReady                    // answer now
	blockTooFar                   // beyond the allowed advance: 400
)

func (s *Server) serveMediaPlaylist(w http.ResponseWriter, r *http.Request) Kind {
	q, err := parseHLSQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, KindMediaList, err)
		return KindMediaList
	}
	tl, err := s.timeline(r)
	if err != nil {
		s.writeError(w, r, KindMediaList, err)
		return KindMediaList
	}
	track := chi.URLParam(r, "rendition")
	// Without parts the playlist advertises no delivery directives; a client
	// that sends them anyway gets the playlist.
	if !q.blocking() || tl.PartTarget == 0 {
		if tl.PartTarget > 0 {
			tl = s.freshEdge(r, tl, track)
		}
		d, err := s.cache.forTimeline(tl).mediaDoc(track, q.skip)
		s.serveDoc(w, r, KindMediaList, tl, d, err, "application/vnd.apple.mpegurl")
		noteReload(w, tl, track, tl.TargetDuration)
		return KindMediaList
	}
	tl, err = s.await(r, KindBlockingList, tl, func(tl *packager.Timeline) (bool, error) {
		tt, err := tl.Track(track)
		if err != nil {
			return false, err
		}
		switch playlistState(tl, tt, q) {
		case blockTooFar:
			return false, fmt.Errorf("%w: _HLS_msn=%d _HLS_part=%d is too far ahead of the playlist", errBadRequest, q.msn, q.part)
		case blockReady:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		if !errors.Is(err, errGone) {
			s.writeError(w, r, KindBlockingList, err)
		}
		return KindBlockingList
	}
	d, err := s.cache.forTimeline(tl).mediaDoc(track, q.skip)
	s.serveDoc(w, r, KindBlockingList, tl, d, err, "application/vnd.apple.mpegurl")
	noteReload(w, tl, track, tl.PartTarget)
	return KindBlockingList
}

// A playlist request without delivery directives is how a low-latency
// client tunes in: it starts PART-HOLD-BACK behind the edge it reads,
// counting the edge's age from when the answer arrived (hls.js, Apple's
// players without a CDN Age). An edge whose newest part was made a while
// ago would put the client that much further behind, for as long as it
// plays. So such a request is answered at once only when the rendition's
// newest part is younger than freshAgeParts of the part target; otherwise
// it waits for the next part, at most freshWaitParts part targets. A
// stream whose newest part is older than that (its publisher stalled)
// answers at once.
const (
	freshAgeParts  = 0.25
	freshWaitParts = 2
)

// freshEdge returns the snapshot to answer a directive-less media playlist
// request of a live low-latency stream from (see freshAgeParts). Its wait
// counts as a media_playlist wait.
func (s *Server) freshEdge(r *http.Request, tl *packager.Timeline, track string) *packager.Timeline {
	tt, err := tl.Track(track)
	if err != nil || tl.Ended || tt.NextPart == "" || tt.LastPartAt.IsZero() {
		return tl
	}
	maxWait := time.Duration(freshWaitParts * float64(tl.PartTarget))
	age := s.opts.Now().Sub(tt.LastPartAt)
	if age < time.Duration(freshAgeParts*float64(tl.PartTarget)) || age >= maxWait {
		return tl
	}
	last := tt.LastPartAt
	fresh, err := s.awaitFor(r, KindMediaList, tl, maxWait-age, func(tl *packager.Timeline) (bool, error) {
		tt, err := tl.Track(track)
		return err != nil || tt.LastPartAt.After(last), nil
	})
	if err != nil {
		// Not in time, or the client left: the newest snapshot will do.
		if fresh, err = s.timeline(r); err != nil {
			return tl
		}
	}
	return fresh
}

// errGone: the client went away while it waited; nothing to answer.
var errGone = errors.New("request canceled")

// await holds a request until ready says so for the stream's newest
// snapshot, the stream ends (answered at once: ready is not asked), the
// request's context ends (errGone) or three target durations pass
// (errBlockTimeout). It returns the snapshot to answer from. A request
// that waits is counted while it waits and its wait observed, by kind.
func (s *Server) await(r *http.Request, kind Kind, tl *packager.Timeline, ready func(*packager.Timeline) (bool, error)) (*packager.Timeline, error) {
	return s.awaitFor(r, kind, tl, 0, ready)
}

// awaitFor is await with another limit than three target durations (when
// limit > 0).
func (s *Server) awaitFor(r *http.Request, kind Kind, tl *packager.Timeline, limit time.Duration, ready func(*packager.Timeline) (bool, error)) (*packager.Timeline, error) {
	var timeout <-chan time.Time
	var waitStart time.Time // zero until the request waits
	defer func() {
		if !waitStart.IsZero() {
			m := s.metrics.waits[kind]
			m.waiting.Dec()
			m.duration.Observe(time.Since(waitStart).Seconds())
		}
	}()
	for {
		if tl.Ended {
			return tl, nil
		}
		ok, err := ready(tl)
		if err != nil || ok {
			return tl, err
		}
		if timeout == nil {
			if limit <= 0 {
				limit = blockTargets * max(tl.TargetDuration, time.Second)
			}
			timeout = s.opts.After(limit)
			waitStart = time.Now()
			s.metrics.waits[kind].waiting.Inc()
		}
		if s.waiting != nil {
			s.waiting(tl)
		}
		select {
		case <-tl.Changed():
		case <-r.Context().Done():
			return nil, errGone
		case <-timeout:
			return nil, errBlockTimeout
		}
		if tl, err = s.timeline(r); err != nil {
			return nil, err
		}
	}
}

// playlistState decides a blocking playlist request against a snapshot.
func playlistState(tl *packager.Timeline, tt *packager.TrackTimeline, q hlsQuery) blockState {
	if len(tt.Segments) == 0 {
		return blockWait // no playlist yet: nothing to measure the advance by
	}
	lastMSN := tt.Segments[len(tt.Segments)-1].Seq
	// 6.2.5.2: more than two segments ahead is refused.
	if q.msn > lastMSN+2 {
		return blockTooFar
	}
	if !q.hasPart {
		if q.msn <= lastMSN {
			return blockReady
		}
		return blockWait
	}
	msn, part := normalizePart(tt, q.msn, q.part)
	switch {
	case msn <= lastMSN:
		return blockReady
	case msn == tt.PendingSeq && part < uint64(len(tt.Pending)):
		return blockReady
	case partsAhead(tl, tt, msn, part) > advancePartLimit(tl.PartTarget):
		return blockTooFar
	}
	return blockWait
}

// normalizePart applies 6.2.5.2: a part index past the last part of a
// complete segment is part 0 of the next segment.
func normalizePart(tt *packager.TrackTimeline, msn, part uint64) (uint64, uint64) {
	first := tt.Segments[0].Seq
	for msn >= first && msn-first < uint64(len(tt.Segments)) {
		s := tt.Segments[msn-first]
		if part < uint64(len(s.Parts)) {
			break
		}
		msn, part = msn+1, 0
	}
	return msn, part
}

// partsAhead is how many parts (msn, part) lies beyond the last part of the
// playlist, for a request not yet satisfied. Parts of segments not begun are
// counted at the segment target's worth of parts each.
func partsAhead(tl *packager.Timeline, tt *packager.TrackTimeline, msn, part uint64) float64 {
	perSegment := 1.0
	if tl.PartTarget > 0 && tl.SegmentTarget > tl.PartTarget {
		perSegment = float64(tl.SegmentTarget) / float64(tl.PartTarget)
	}
	lastMSN, lastPart := tt.Segments[len(tt.Segments)-1].Seq, float64(len(tt.Segments[len(tt.Segments)-1].Parts)-1)
	if len(tt.Pending) > 0 {
		lastMSN, lastPart = tt.PendingSeq, float64(len(tt.Pending)-1)
	}
	if msn <= lastMSN {
		return float64(part) - lastPart
	}
	rest := max(perSegment-1-lastPart, 0) // parts the newest segment is still to get
	return rest + float64(msn-lastMSN-1)*perSegment + float64(part) + 1
}

// advancePartLimit is the Advance Part Limit (6.2.5.2): three divided by
// the part target in seconds when it is below a second, otherwise three.
func advancePartLimit(partTarget time.Duration) float64 {
	if partTarget > 0 && partTarget < time.Second {
		return 3 / partTarget.Seconds()
	}
	return 3
}
