package packager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/ingest"
)

// maxTracks is the most tracks a session may declare.
const maxTracks = 4

// session is one publisher's connection to a stream (ingest.Session). Its
// methods run on the adapter's goroutine; Close may also come from the
// context watcher or Registry.Close. Everything mutable is guarded by the
// stream's mutex.
type session struct {
	r       *Registry
	st      *stream
	id      string
	info    ingest.PublishInfo
	started time.Time
	log     *slog.Logger

	closed     bool
	stopWatch  func() bool // stops the context watcher; nil once stopped
	renditions []*track    // by AccessUnit.Track
	layout     string
	// offset maps the session's timestamps to the epoch:
	// ns since 1970 = nanos(DTS) + offset.
	anchored        bool
	offset          int64
	warnedForcedCut bool
	// parent is the span of the Publish context (observe.Publisher's
	// publish span): the parent of the session's segment spans.
	parent trace.SpanContext
	// link are the publisher's newest link statistics (SRT), nil until
	// reported.
	link *ingest.LinkStats
}

func newSession(r *Registry, st *stream, info ingest.PublishInfo, now time.Time) *session {
	id := info.SessionID // made by a wrapper (the webhooks) that names the session first
	if id == "" {
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
		id = hex.EncodeToString(b[:])
	}
	info.Query = nil // a secret, and of no use here
	return &session{
		r: r, st: st, id: id, info: info, started: now,
		log: st.log.With("session", id, "protocol", info.Protocol, "remote", info.RemoteAddr),
	}
}

// watch ends the session when ctx ends. Publish has already added to r.wg
// for the watcher.
func (s *session) watch(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		defer s.r.wg.Done()
		s.Close(context.Cause(ctx))
	})
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if s.closed {
		if stop() {
			s.r.wg.Done()
		}
		return
	}
	s.stopWatch = stop
}

// Start declares the session's tracks (see ingest.Session). The first Start
// of a session that continues a stream (a publisher returning within the
// reconnect grace) must have the same track layout, i.e. the same number of
// video and audio tracks; otherwise the old stream ends (its playlists get
// EXT-X-ENDLIST) and a fresh one starts under the same name, with new
// sequence numbers and target duration. A later Start with a changed codec
// configuration ends the current period and starts a new one (a new init
// segment and a discontinuity, but no gap in time).
func (s *session) Start(tracks []ingest.Track) error {
	st := s.st
	if len(tracks) == 0 || len(tracks) > maxTracks {
		return fmt.Errorf("packager %s: %w: %d tracks (1 to %d supported)", st.name, ingest.ErrBadTracks, len(tracks), maxTracks)
	}
	cfgs := make([]trackConfig, len(tracks))
	for i, t := range tracks {
		cfg, err := newTrackConfig(t)
		if err != nil {
			return fmt.Errorf("packager %s: track %d: %w", st.name, i, err)
		}
		cfgs[i] = cfg
	}
	names, layout := renditionNames(cfgs)

	st.mu.Lock()
	defer st.mu.Unlock()
	if s.closed {
		return fmt.Errorf("packager %s: %w", st.name, ingest.ErrClosed)
	}
	now := st.r.opts.Now()
	if s.renditions != nil {
		if layout != s.layout {
			return fmt.Errorf("packager %s: %w: tracks changed from %s to %s; the number and kinds of tracks cannot change within a session",
				st.name, ingest.ErrBadTracks, s.layout, layout)
		}
		changed := false
		for i, tr := range s.renditions {
			changed = changed || tr.cfg.init.Name != cfgs[i].init.Name
		}
		if !changed {
			return nil
		}
		st.endPeriodLocked()
		for i, tr := range s.renditions {
			tr.cfg = cfgs[i]
		}
		s.log.Info("codec configuration changed: new period")
		st.publishLocked(now)
		return nil
	}
	if st.layout != "" && st.layout != layout {
		s.log.Info("track layout changed: ending the stream and starting a fresh one", "old", st.layout, "new", layout)
		st.endLocked(now, "track layout changed")
		st.resetLocked(now)
	}
	if st.layout == "" {
		st.createTracksLocked(layout, cfgs, names)
	}
	s.layout = layout
	s.renditions = make([]*track, len(cfgs))
	for i, cfg := range cfgs {
		tr := st.track(names[i])
		tr.cfg = cfg
		s.renditions[i] = tr
	}
	s.log.Info("tracks declared", "tracks", layout)
	st.publishLocked(now)
	return nil
}

// WriteAU packages one access unit. Malformed access units are dropped and
// counted rather than ending the session; errors mean the session is over or
// the adapter broke the contract.
func (s *session) WriteAU(au ingest.AccessUnit) error {
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.closed {
		return fmt.Errorf("packager %s: %w", st.name, ingest.ErrClosed)
	}
	if s.renditions == nil {
		return fmt.Errorf("packager %s: %w: access unit before Start", st.name, ingest.ErrBadTracks)
	}
	if au.Track < 0 || au.Track >= len(s.renditions) {
		return fmt.Errorf("packager %s: %w: access unit for track %d of %d", st.name, ingest.ErrBadTracks, au.Track, len(s.renditions))
	}
	tr := s.renditions[au.Track]
	st.auAt = st.r.opts.Now()
	tr.mFrames.Inc()
	tr.mBytes.Add(float64(len(au.Data)))
	st.writeLocked(s, tr, au)
	if st.dirty {
		st.publishChangesLocked(st.r.opts.Now())
	}
	if n, max := tr.segmentBytes(), st.r.opts.MaxSegmentBytes; n > max {
		return fmt.Errorf("packager %s: %w: the %s segment in progress holds %d bytes, above max-segment-size %d; lower the encoder's bitrate or keyframe interval",
			st.name, ErrSegmentTooLarge, tr.name, n, max)
	}
	return nil
}

// Close ends the session; the stream waits for the publisher to return.
func (s *session) Close(err error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.closeLocked(err)
}

func (s *session) closeLocked(cause error) {
	if s.closed {
		return
	}
	s.closed = true
	if s.stopWatch != nil {
		if s.stopWatch() {
			s.r.wg.Done()
		}
		s.stopWatch = nil
	}
	st := s.st
	if st.sess != s {
		return
	}
	st.sess = nil
	st.r.metrics.publishersActive.Dec()
	st.endPeriodLocked()
	now := st.r.opts.Now()
	if !st.ended && !st.closing {
		st.graceUntil = now.Add(st.r.opts.ReconnectGrace)
	}
	if cause != nil {
		s.log.Info("publisher disconnected", "err", cause, "grace", st.r.opts.ReconnectGrace)
	} else {
		s.log.Info("publisher left", "grace", st.r.opts.ReconnectGrace)
	}
	if st.dirty {
		st.publishLocked(now)
	}
}
