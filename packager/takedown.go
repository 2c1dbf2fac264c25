package packager

import (
	"fmt"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// ErrTakenDown: the stream was taken down by an operator (Registry.Takedown).
// Lookups answer it (it is also ErrGone: 410), and publishers are refused
// with it (wrapped with ingest.ErrRefused) until the refusal expires.
var ErrTakenDown error = takenDownError{}

type takenDownError struct{}

func (takenDownError) Error() string        { return "taken down by an operator" }
func (takenDownError) Is(target error) bool { return target == ErrGone }

// StreamEvent is what Options.OnStreamEvent is told about.
type StreamEvent int

const (
	// StreamStarted: a fresh stream began under a name (not a publisher
	// returning within the reconnect grace). A CDN may still hold the
	// playlists of an earlier stream of that name.
	StreamStarted StreamEvent = iota
	// StreamEnded: the stream ended (its playlists now end with
	// EXT-X-ENDLIST): the reconnect grace expired, its track layout
	// changed, it was taken down, or the server is shutting down.
	StreamEnded
)

func (e StreamEvent) String() string {
	if e == StreamStarted {
		return "started"
	}
	return "ended"
}

// emit tells Options.OnStreamEvent. It runs with the stream's lock held:
// the callback must return at once and must not call the Registry.
func (st *stream) emit(ev StreamEvent) {
	if f := st.r.opts.OnStreamEvent; f != nil {
		f(st.name, ev)
	}
}

// Takedown removes a stream at once: its publisher is disconnected (its
// next write fails), its segments are dropped from memory, every lookup of
// the name answers ErrTakenDown (410) and every publish of the name is
// refused, until refuseFor has passed (then the name is free again and
// unknown: 404). Requests waiting on the stream wake and get ErrTakenDown.
// It reports whether the stream was held; a name that was not is still
// refused for refuseFor.
func (r *Registry) Takedown(name string, refuseFor time.Duration) (bool, error) {
	if err := ingest.ValidateName(name); err != nil {
		return false, err
	}
	now := r.opts.Now()
	r.mu.Lock()
	st := r.streams[name]
	if st != nil {
		delete(r.streams, name)
		r.metrics.deleteStream(name)
	}
	if r.takedowns == nil {
		r.takedowns = make(map[string]time.Time)
	}
	r.takedowns[name] = now.Add(refuseFor)
	r.mu.Unlock()
	if st == nil {
		r.log.Info("stream taken down", "stream", name, "held", false, "refuse_for", refuseFor.String())
		return false, nil
	}
	st.mu.Lock()
	if st.sess != nil {
		st.sess.closeLocked(fmt.Errorf("%w: %w", ingest.ErrRefused, ErrTakenDown))
	}
	st.endLocked(now, "taken down") // waiters wake on this snapshot
	st.removed = true
	st.tracks, st.periods = nil, nil
	st.mu.Unlock()
	st.sessionLog().Info("stream taken down", "held", true, "refuse_for", refuseFor.String())
	return true, nil
}

// takenDown reports whether name is refused at now; an expired refusal is
// forgotten. The caller holds r.mu for writing.
func (r *Registry) takenDownLocked(name string, now time.Time) bool {
	until, ok := r.takedowns[name]
	if !ok {
		return false
	}
	if !now.Before(until) {
		delete(r.takedowns, name)
		return false
	}
	return true
}

// TakenDown lists the names refused after a takedown, with when each
// refusal ends.
func (r *Registry) TakenDown() map[string]time.Time {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(r.takedowns))
	for name := range r.takedowns {
		if r.takenDownLocked(name, now) {
			out[name] = r.takedowns[name]
		}
	}
	return out
}

// Kick disconnects a stream's publisher; the stream waits for it (or
// another publisher) to return within the reconnect grace, as after any
// disconnect. It reports whether the stream had a publisher.
func (r *Registry) Kick(name string) bool {
	r.mu.RLock()
	st := r.streams[name]
	r.mu.RUnlock()
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sess == nil {
		return false
	}
	st.sess.closeLocked(fmt.Errorf("%w: kicked by an operator", ingest.ErrClosed))
	return true
}
