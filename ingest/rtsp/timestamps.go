package rtsp

import (
	"time"

	"github.com/pion/rtp"
)

// rtpClock turns the RTP timestamps of a session's tracks into PTS that
// share one origin, as ingest.AccessUnit requires. Each track's RTP clock
// starts at a random value (RFC 3550 5.1), so a track is anchored by its
// first usable packet: the first track at 0, each later one at the first
// track's current PTS plus the wall-clock time since that packet arrived.
// After that a track follows its own 32-bit timestamps, unwrapped.
//
// (gortsplib's rtptime.GlobalDecoder does the same with its own clock;
// this one takes the demuxer's, which keeps tests and the fuzzer
// deterministic.)
type rtpClock struct {
	leader    *mediaTrack
	leaderPTS int64     // the leader's newest PTS of a packet where PTS = DTS
	leaderAt  time.Time // when that packet arrived
}

// rtpTime is a track's part of the rtpClock.
type rtpTime struct {
	anchored bool
	last     uint32 // RTP timestamp of the previous packet
	pts      int64  // its PTS
}

// decode returns the PTS of pkt, a packet of t that arrived at now. Until
// a track has a packet whose PTS is its DTS (H.264/H.265: a keyframe or a
// parameter set; audio: any), its timestamps mean nothing yet and ok is
// false.
func (c *rtpClock) decode(t *mediaTrack, pkt *rtp.Packet, now time.Time) (pts int64, ok bool) {
	rt := &t.state.time
	if !rt.anchored {
		if !t.format.PTSEqualsDTS(pkt) {
			return 0, false
		}
		rate := int64(t.format.ClockRate())
		if c.leader == nil {
			c.leader, c.leaderPTS, c.leaderAt = t, 0, now
		} else {
			since := max(now.Sub(c.leaderAt), 0)
			pts = rescale(c.leaderPTS, int64(c.leader.format.ClockRate()), rate) + rescale(int64(since), int64(time.Second), rate)
		}
		*rt = rtpTime{anchored: true, last: pkt.Timestamp, pts: pts}
		return pts, true
	}
	// The signed difference unwraps the 32-bit counter and allows the
	// reordering of B-frames.
	rt.pts += int64(int32(pkt.Timestamp - rt.last))
	rt.last = pkt.Timestamp
	if t == c.leader && t.format.PTSEqualsDTS(pkt) {
		c.leaderPTS, c.leaderAt = rt.pts, now
	}
	return rt.pts, true
}

// rescale converts v from rate from to rate to without overflowing for
// the values a session can reach.
func rescale(v, from, to int64) int64 {
	return v/from*to + v%from*to/from
}
