package packager

import (
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// Lookup errors. The origin turns them into status codes in one place.
var (
	// ErrNotFound: no such stream, track or object (404).
	ErrNotFound = errors.New("not found")
	// ErrGone: the object existed but has left the window (410).
	ErrGone = errors.New("gone from the live window")
	// ErrNotYet: the object lies in the future of a live stream (503).
	ErrNotYet = errors.New("not available yet")
)

// Timeline is an immutable snapshot of one stream's live window. A new
// snapshot replaces it on every change (a segment added or evicted, the
// stream ending); readers never lock. Every field is read-only.
type Timeline struct {
	Stream string
	// Version increases with every snapshot of the stream.
	Version uint64
	// Updated is the wall-clock time the snapshot was made (Last-Modified).
	Updated time.Time
	// Ended is set when the stream has ended (reconnect grace expired or the
	// server shut down): HLS gets EXT-X-ENDLIST, the MPD signals the end.
	Ended bool
	// TargetDuration is the HLS EXT-X-TARGETDURATION, a whole number of
	// seconds fixed for the life of the stream; no segment exceeds it.
	TargetDuration time.Duration
	// SegmentTarget is the configured segment target duration.
	SegmentTarget time.Duration
	// Window is the length of the playlist window (DASH timeShiftBufferDepth).
	Window time.Duration
	// Tracks in a stable order: video tracks first, then audio.
	Tracks []*TrackTimeline
	// Periods are the publish sessions (and configuration changes) that
	// still have segments in the window, oldest first. A reconnect starts a
	// new period (HLS discontinuity, DASH Period).
	Periods []*Period
	// PartTarget is the LL-HLS part target duration (EXT-X-PART-INF
	// PART-TARGET) in whole milliseconds: the configured part target,
	// rounded up, or the longest part of the stream if one had to be longer
	// (a frame longer than the target, or a frame rate whose parts would
	// otherwise be shorter than 85% of it, rfc8216bis 4.4.4.9). No part
	// exceeds it. 0 when parts are off (Options.PartsOff).
	PartTarget time.Duration

	// changed is closed when a newer snapshot replaces this one.
	changed chan struct{}
}

// Changed returns a channel that is closed when a newer snapshot exists.
func (t *Timeline) Changed() <-chan struct{} { return t.changed }

// Track returns the track with the given rendition name ("v0", "a0").
func (t *Timeline) Track(name string) (*TrackTimeline, error) {
	for _, tr := range t.Tracks {
		if tr.Name == name {
			return tr, nil
		}
	}
	return nil, ErrNotFound
}

// Period is one continuous stretch of a stream with one timestamp mapping
// and one set of init segments.
type Period struct {
	// ID is stable across snapshots and unique within the stream: "p" and the
	// start in milliseconds since the Unix epoch.
	ID string
	// Start is the period's start since 1970-01-01T00:00:00Z (the media
	// timeline origin, DESIGN decision 2).
	Start time.Duration
}

// TrackTimeline is one rendition (one CMAF track) of a stream.
type TrackTimeline struct {
	// Name is the rendition id, stable across periods: "v0" for the first
	// video track, "a0" for the first audio track. It is the path element of
	// the rendition's objects (NAME/v0.m3u8, NAME/v0/...) and the DASH
	// Representation id.
	Name string
	// Track is the codec description of the newest period.
	Track ingest.Track
	// Timescale of tfdt and sample durations (video 90000, audio the sample rate).
	Timescale uint32
	// FrameRate measured over the window (video only), 0 when unknown.
	FrameRate float64
	// PeakBandwidth is the largest segment bitrate in the window and
	// AverageBandwidth the mean over the window, in bits per second.
	PeakBandwidth, AverageBandwidth int
	// Segments in the playlist window, oldest first.
	Segments []*Segment
	// Retained are segments that left the playlist window but stay
	// fetchable for one more window, oldest first, all before Segments.
	Retained []*Segment
	// DiscontinuitySequence is the EXT-X-DISCONTINUITY-SEQUENCE for
	// Segments[0]: the number of discontinuities before it.
	DiscontinuitySequence uint64

	// Low latency (empty when parts are off).

	// Pending are the completed parts of the segment being produced, in
	// order: it is not a Segment yet. Its parts become that segment's Parts
	// (same bytes) when it closes.
	Pending []*Part
	// PendingSeq is the media sequence number the segment being produced
	// will get (the parent segment of Pending); 0 while unknown (before the
	// stream's first part).
	PendingSeq uint64
	// PendingStart is the start (tfdt) of the segment being produced, and
	// the name of its future Segment (LL-DASH serves it while it grows).
	// Valid when NextPart is not "".
	PendingStart uint64
	// PendingMinEnd is, in normal operation, the earliest end of the segment
	// being produced (track timescale): the leader cuts at its first key
	// frame at least SegmentTarget after the segment start (less the 2 ms
	// rounding tolerance), and a follower at its first sample at or after
	// the leader's cut. 0 when unknown (no segment being produced, after a
	// cut without a key frame, a follower behind its leader). A session
	// that ends, a timestamp jump or a configuration change may still end
	// the segment sooner. LL-DASH lists the segment being produced with at
	// least this duration, so that players look for the next segment where
	// it will be.
	PendingMinEnd uint64
	// PendingInit is the init segment of the segment being produced and of
	// the next part, and PendingDiscontinuity tells that it will start a new
	// period (its Discontinuity): a playlist writes their tags before its
	// first part. Valid when NextPart is not "".
	PendingInit          *Init
	PendingDiscontinuity bool
	// LastPartAt is when the track's newest part was made (the packager's
	// clock); zero before its first part. An origin may hold a playlist
	// request until the next part rather than answer with a stale edge.
	LastPartAt time.Time
	// NextPart is the object name of the next part ("part-<start>.m4s"):
	// it starts where the newest part ends (EXT-X-PRELOAD-HINT). "" while
	// no publisher is producing this track (between sessions, after the
	// end).
	NextPart string
}

// MediaSequence is the EXT-X-MEDIA-SEQUENCE: the Seq of the first segment
// in the window.
func (tt *TrackTimeline) MediaSequence() uint64 {
	if len(tt.Segments) == 0 {
		return 0
	}
	return tt.Segments[0].Seq
}

// Segment finds a segment by its start time (the number in its name), in
// the window or retained. Older than anything held: ErrGone; later than the
// newest: ErrNotYet; in between but no such start: ErrNotFound.
func (tt *TrackTimeline) Segment(start uint64) (*Segment, error) {
	for _, list := range [][]*Segment{tt.Retained, tt.Segments} {
		i := sort.Search(len(list), func(i int) bool { return list[i].Start >= start })
		if i < len(list) && list[i].Start == start {
			return list[i], nil
		}
	}
	oldest := tt.Segments
	if len(tt.Retained) > 0 {
		oldest = tt.Retained
	}
	switch {
	case len(oldest) == 0:
		return nil, ErrNotYet
	case start < oldest[0].Start:
		return nil, ErrGone
	case start > tt.Segments[len(tt.Segments)-1].Start:
		return nil, ErrNotYet
	}
	return nil, ErrNotFound
}

// Init finds an init segment by name among those referenced by the
// segments held (window and retained).
func (tt *TrackTimeline) Init(name string) (*Init, error) {
	for _, list := range [][]*Segment{tt.Segments, tt.Retained} {
		for i := len(list) - 1; i >= 0; i-- {
			if list[i].Init.Name == name {
				return list[i].Init, nil
			}
		}
	}
	return nil, ErrNotFound
}

// Init is a CMAF header (ftyp+moov) for one track in one period.
type Init struct {
	// Name is "init-" and a hash of Data, ".mp4": the same bytes always have
	// the same name and a name never has other bytes (DESIGN decision 3).
	Name string
	Data []byte
	// ETag is a strong validator, quoted.
	ETag string
	// Track is the codec description this init segment was made from.
	Track ingest.Track
}

// Segment is one CMAF media segment (moof+mdat) of one track.
type Segment struct {
	// Seq is the media sequence number; it rises by one per segment of the
	// track and never goes back, across reconnects.
	Seq uint64
	// Start is the tfdt of the first sample in the track timescale, counted
	// from 1970-01-01T00:00:00Z; Duration is the sum of sample durations.
	Start, Duration uint64
	Timescale       uint32
	// Data is the segment's bytes; immutable.
	Data []byte
	// ETag is a strong validator, quoted.
	ETag string
	// Init is the init segment that decodes this segment (HLS EXT-X-MAP).
	Init *Init
	// Period is the ID of the period the segment belongs to.
	Period string
	// Discontinuity marks the first segment of a period other than the
	// stream's first (HLS EXT-X-DISCONTINUITY).
	Discontinuity bool
	// Independent is true when the segment starts with a key frame. It is
	// false only for a segment that had to be cut mid-GOP because the
	// encoder's keyframe interval exceeded the target duration.
	Independent bool
	// Parts are the segment's LL-HLS partial segments (CMAF chunks), in
	// order; Data is exactly their bytes concatenated, and each part's Data
	// is a view into it. Empty when parts are off.
	Parts []*Part
}

// Name is the segment's object name within its track: the start time and
// ".m4s" (DASH SegmentTemplate media="$RepresentationID$/$Time$.m4s").
func (s *Segment) Name() string { return strconv.FormatUint(s.Start, 10) + ".m4s" }

// StartTime is the wall-clock time of the segment's first sample
// (EXT-X-PROGRAM-DATE-TIME).
func (s *Segment) StartTime() time.Time {
	return time.Unix(0, 0).Add(s.StartOffset()).UTC()
}

// StartOffset is the segment start since the epoch.
func (s *Segment) StartOffset() time.Duration { return ticks(s.Start, s.Timescale) }

// Length is the segment duration as a time.Duration.
func (s *Segment) Length() time.Duration { return ticks(s.Duration, s.Timescale) }

func ticks(v uint64, timescale uint32) time.Duration {
	ts := uint64(timescale)
	return time.Duration(v/ts)*time.Second + time.Duration(v%ts)*time.Second/time.Duration(ts)
}
