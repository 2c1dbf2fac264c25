package rtsp

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// Limits that tell a broken or hostile source from a lossy one. Reaching
// one ends the session with a sessionError.
const (
	// maxBadRun: this many problems in a row (undecodable packets, unknown
	// payload types, malformed frames) without one usable access unit.
	maxBadRun = 100
	// seqWindow: over each window of this many packets of a track, more
	// than half arriving out of sequence is not packet loss but wild
	// sequence numbers.
	seqWindow = 64
	// maxTimestampJump: a track's RTP timestamps moving by more than this
	// from one packet to the next, either way, is a broken clock.
	maxTimestampJump = 10 * time.Second
)

// sessionError is why the demuxer ended a session; reason is the
// liveorigin_rtsp_errors_total label.
type sessionError struct {
	reason string
	err    error
}

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// demuxer turns the RTP packets of one RTSP session (a RECORD push or a
// pull) into one ingest session: it decodes timestamps, reassembles frames,
// derives decode timestamps, declares the tracks once their configuration
// is known and judges the health of the input.
//
// gortsplib calls it from several goroutines (the TCP reader, the UDP
// listener, one per medium for a UDP pull, the RTCP reader), so one mutex
// serialises everything, including the calls to the ingest session. The
// work per packet is small; the packager does not block.
type demuxer struct {
	mu     sync.Mutex
	out    ingest.Session
	log    *slog.Logger
	m      *metrics
	tracks []*mediaTrack
	// times maps RTP timestamps to PTS with one origin for all tracks.
	times rtpClock
	// onFail ends the RTSP session. It is called once, with mu held, so
	// it must not block.
	onFail func()
	now    func() time.Time
	// noMediaTimeout ends a session that receives packets but no usable
	// media (no keyframe, no configuration, nothing decodable).
	noMediaTimeout time.Duration

	started  bool
	progress time.Time // when the last access unit was written, or the start
	badRun   int
	lastBad  error
	failure  *sessionError
	closed   bool
	written  int
}

func newDemuxer(out ingest.Session, tracks []*mediaTrack, log *slog.Logger, m *metrics, noMediaTimeout time.Duration, onFail func()) *demuxer {
	d := &demuxer{
		out:            out,
		log:            log,
		m:              m,
		tracks:         tracks,
		onFail:         onFail,
		now:            time.Now,
		noMediaTimeout: noMediaTimeout,
	}
	d.progress = d.now()
	return d
}

// packet handles one RTP packet of a track, in sequence order.
func (d *demuxer) packet(t *mediaTrack, pkt *rtp.Packet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failure != nil || d.closed {
		return
	}
	defer func() {
		// Depacketizers and codec parsers see raw network input: a panic
		// among them ends this session, never the process.
		if r := recover(); r != nil {
			d.fail(reasonPanic, fmt.Errorf("track %d (%s): panic on a malformed packet: %v", t.index, t.codec, r))
		}
	}()
	if err := t.state.checkSequence(t, pkt); err != nil {
		d.fail(reasonBadSequence, err)
		return
	}
	// A track's first timestamp is taken from a packet whose PTS is its
	// DTS (for video, a keyframe). Packets before it are still
	// depacketized, so that garbage counts as bad input, but their frames
	// have nothing to be timed by and are dropped.
	pts, timed := d.times.decode(t, pkt, d.now())
	if timed {
		if err := t.state.checkTimestamp(t, pts); err != nil {
			d.fail(reasonBadTimestamp, err)
			return
		}
	}
	frames, err := t.unpack.unpack(pkt, pts, timed)
	if err != nil {
		d.bad(fmt.Errorf("track %d (%s): %w", t.index, t.codec, err))
	}
	for _, f := range frames {
		if !f.timed {
			continue
		}
		if t.track.Kind == ingest.Video {
			d.videoFrame(t, f)
		} else {
			d.audioFrame(t, f)
		}
		if d.failure != nil {
			return
		}
	}
	d.checkProgress()
}

// decodeError counts a packet that gortsplib could not decode (not RTP, an
// unknown payload type, too big).
func (d *demuxer) decodeError(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failure != nil || d.closed {
		return
	}
	d.bad(err)
	d.checkProgress()
}

// bad counts one problem with the input; a long enough run of them without
// a usable access unit ends the session.
func (d *demuxer) bad(err error) {
	d.badRun++
	d.lastBad = err
	if d.badRun == 1 || d.badRun%10 == 0 {
		d.log.Debug("rtsp dropping bad input", "error", err.Error(), "in_a_row", d.badRun)
	}
	if d.badRun >= maxBadRun {
		d.fail(reasonBadMedia, fmt.Errorf("%d bad packets or frames in a row without a usable access unit; the last: %w", d.badRun, err))
	}
}

// checkProgress ends a session that has not produced an access unit for
// noMediaTimeout although packets keep arriving.
func (d *demuxer) checkProgress() {
	if d.failure != nil || d.noMediaTimeout <= 0 {
		return
	}
	if idle := d.now().Sub(d.progress); idle > d.noMediaTimeout {
		what := "no usable media"
		if d.started {
			what = "no usable media since the last access unit"
		}
		err := fmt.Errorf("%s for %s: %s", what, idle.Round(time.Millisecond), d.waitingFor())
		d.fail(reasonNoMedia, err)
	}
}

// waitingFor explains why nothing is written.
func (d *demuxer) waitingFor() string {
	var why []string
	for _, t := range d.tracks {
		switch {
		case t.track.Kind == ingest.Video && !t.paramsComplete():
			why = append(why, fmt.Sprintf("track %d (%s) has no parameter sets, neither in the SDP nor in-band", t.index, t.codec))
		case !t.state.configured:
			why = append(why, fmt.Sprintf("track %d (%s) has had no keyframe", t.index, t.codec))
		}
	}
	if d.lastBad != nil {
		why = append(why, "the last problem: "+d.lastBad.Error())
	}
	if len(why) == 0 {
		return "no decodable packets"
	}
	return strings.Join(why, "; ")
}

// fail ends the session for err; the first failure wins.
func (d *demuxer) fail(reason string, err error) {
	if d.failure != nil {
		return
	}
	d.failure = &sessionError{reason: reason, err: err}
	if d.onFail != nil {
		d.onFail()
	}
}

// write hands one access unit to the session, declaring the tracks first
// when they are all known, and again when a configuration changed.
func (d *demuxer) write(t *mediaTrack, au ingest.AccessUnit) {
	if !d.started {
		for _, o := range d.tracks {
			if !o.state.configured {
				return // the track set is not known yet: drop
			}
		}
		if err := d.out.Start(d.trackList()); err != nil {
			d.fail(reasonSession, fmt.Errorf("start: %w", err))
			return
		}
		d.started = true
		for _, o := range d.tracks {
			// Video that waited for the other tracks starts again at a
			// keyframe.
			o.state.needKey = o.track.Kind == ingest.Video
			o.state.changed = false
		}
		d.log.Info("rtsp stream started", "tracks", describeTracks(d.tracks))
	} else if d.anyChanged() {
		if err := d.out.Start(d.trackList()); err != nil {
			d.fail(reasonSession, fmt.Errorf("restart with new parameter sets: %w", err))
			return
		}
		for _, o := range d.tracks {
			// The new parameter sets begin with a keyframe.
			o.state.needKey = o.state.needKey || o.state.changed && o.track.Kind == ingest.Video
			o.state.changed = false
		}
		d.log.Info("rtsp parameter sets changed: new period", "tracks", describeTracks(d.tracks))
	}
	st := &t.state
	if st.needKey {
		if !au.Key {
			return
		}
		st.needKey = false
	}
	if err := d.out.WriteAU(au); err != nil {
		d.fail(reasonSession, fmt.Errorf("write: %w", err))
		return
	}
	st.hasDTS, st.lastDTS = true, au.DTS
	d.written++
	d.badRun = 0
	d.progress = d.now()
}

func (d *demuxer) anyChanged() bool {
	for _, t := range d.tracks {
		if t.state.changed {
			return true
		}
	}
	return false
}

func (d *demuxer) trackList() []ingest.Track {
	out := make([]ingest.Track, len(d.tracks))
	for i, t := range d.tracks {
		out[i] = t.track
	}
	return out
}

// close ends the ingest session once: with the demuxer's own failure if
// there was one, else with cause. It returns what the session was closed
// with.
func (d *demuxer) close(cause error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return cause
	}
	d.closed = true
	if d.failure != nil {
		cause = d.failure
	}
	d.out.Close(cause)
	return cause
}

// result reports the demuxer's failure (nil if none) and the number of
// access units written.
func (d *demuxer) result() (*sessionError, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failure, d.written
}

// failed reports whether the demuxer has ended the session.
func (d *demuxer) failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failure != nil
}

// describe summarises the tracks as they are now.
func (d *demuxer) describe() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return describeTracks(d.tracks)
}

// describeTracks summarises tracks for a log line: "h264 320x240, aac 44100Hz 1ch".
func describeTracks(tracks []*mediaTrack) string {
	parts := make([]string, len(tracks))
	for i, t := range tracks {
		tr := t.track
		switch {
		case tr.Kind == ingest.Video && tr.Width > 0:
			parts[i] = fmt.Sprintf("%s %dx%d", tr.CodecString, tr.Width, tr.Height)
		case tr.Kind == ingest.Video && !t.paramsComplete():
			parts[i] = string(tr.Codec) + " (awaiting parameter sets)"
		case tr.Kind == ingest.Video:
			parts[i] = string(tr.Codec) + " (awaiting a keyframe)"
		default:
			parts[i] = fmt.Sprintf("%s %dHz %dch", tr.CodecString, tr.SampleRate, tr.Channels)
		}
	}
	return strings.Join(parts, ", ")
}
