package rtsp

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// trackState is the per-track state of a demuxer.
type trackState struct {
	// configured: audio from the SDP; video once a keyframe has arrived
	// with its parameter sets known (from the SDP or in-band), so that the
	// first Start already has the sets the stream really uses.
	configured bool
	// needKey drops video until a keyframe: after Start, a track that
	// waited for the others resumes at a keyframe.
	needKey bool
	// changed: the Track differs from the one last given to Start.
	changed bool
	// dts derives H.264/H.265 decode timestamps: RTP carries only PTS.
	dts dtsExtractor

	hasDTS  bool
	lastDTS int64 // of the last access unit written

	// Input checks.
	hasSeq       bool
	lastSeq      uint16
	window, gaps int
	hasPTS       bool
	lastPTS      int64 // of the last packet
	maxJump      int64 // maxTimestampJump in clock units

	time rtpTime
}

// dtsExtractor is mediacommon's H.264 or H.265 DTS extractor.
type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

func (st *trackState) init(t *mediaTrack) {
	st.configured = t.track.Kind == ingest.Audio
	st.maxJump = int64(maxTimestampJump/time.Second) * int64(t.format.ClockRate())
}

func (st *trackState) resetDTS(codec ingest.Codec) {
	switch codec {
	case ingest.H264:
		e := &h264.DTSExtractor{}
		e.Initialize()
		st.dts = e
	case ingest.H265:
		e := &h265.DTSExtractor{}
		e.Initialize()
		st.dts = e
	}
}

// checkSequence tells wild sequence numbers from packet loss.
func (st *trackState) checkSequence(t *mediaTrack, pkt *rtp.Packet) error {
	if st.hasSeq && pkt.SequenceNumber != st.lastSeq+1 {
		st.gaps++
	}
	st.hasSeq, st.lastSeq = true, pkt.SequenceNumber
	st.window++
	if st.window < seqWindow {
		return nil
	}
	gaps := st.gaps
	st.window, st.gaps = 0, 0
	if gaps > seqWindow/2 {
		return fmt.Errorf("track %d (%s): RTP sequence numbers jump in %d of the last %d packets: not a sequence", t.index, t.codec, gaps, seqWindow)
	}
	return nil
}

// checkTimestamp refuses a track clock that jumps.
func (st *trackState) checkTimestamp(t *mediaTrack, pts int64) error {
	if st.hasPTS {
		if jump := pts - st.lastPTS; jump > st.maxJump || jump < -st.maxJump {
			d := time.Duration(float64(jump) / float64(t.format.ClockRate()) * float64(time.Second))
			return fmt.Errorf("track %d (%s): RTP timestamp jumped by %s between two packets (at most %s allowed)", t.index, t.codec, d.Round(time.Millisecond), maxTimestampJump)
		}
	}
	st.hasPTS, st.lastPTS = true, pts
	return nil
}

// videoFrame turns an H.264/H.265 access unit into a CMAF sample: in-band
// parameter sets go to the Track (a change starts a new period), the rest
// is length-prefixed, and the DTS is derived.
func (d *demuxer) videoFrame(t *mediaTrack, f frame) {
	vps, sps, pps, rest := ingest.SplitParameterSets(t.codec, f.nalus)
	if len(vps)+len(sps)+len(pps) > 0 {
		if err := t.updateParams(vps, sps, pps); err != nil {
			d.fail(reasonBadParameterSets, fmt.Errorf("track %d (%s): in-band parameter sets: %w", t.index, t.codec, err))
			return
		}
	}
	sample := ingest.NALUsToSample(t.codec, rest)
	if len(sample) == 0 {
		return // parameter sets or delimiters only
	}
	key := isKeyframe(t.codec, sample)
	st := &t.state
	if !st.configured {
		if !key || !t.paramsComplete() {
			return // joined mid-GOP, or the parameter sets are still unknown
		}
		track, err := t.buildVideoTrack()
		if err != nil {
			d.fail(reasonBadParameterSets, fmt.Errorf("track %d (%s): parameter sets: %w", t.index, t.codec, err))
			return
		}
		t.track, st.configured = track, true
		st.resetDTS(t.codec)
	}
	dts, pts := st.videoDTS(t, rest, key, f.pts)
	d.write(t, ingest.AccessUnit{Track: t.index, DTS: dts, PTS: pts, Key: key, Data: sample})
}

// updateParams takes in-band parameter sets; each kind present replaces
// the known one. A configured track whose sets changed gets a new Track.
func (t *mediaTrack) updateParams(vps, sps, pps [][]byte) error {
	changed := false
	for _, p := range []struct {
		in  [][]byte
		cur *[][]byte
	}{{vps, &t.vps}, {sps, &t.sps}, {pps, &t.pps}} {
		if len(p.in) > 0 && !equalSets(p.in, *p.cur) {
			*p.cur = cloneSets(p.in) // the input aliases depacketizer buffers
			changed = true
		}
	}
	if !changed || !t.state.configured || !t.paramsComplete() {
		return nil
	}
	track, err := t.buildVideoTrack()
	if err != nil {
		return err
	}
	if track.CodecString == t.track.CodecString && equalSets(track.VPS, t.track.VPS) &&
		equalSets(track.SPS, t.track.SPS) && equalSets(track.PPS, t.track.PPS) {
		return nil
	}
	t.track = track
	t.state.changed = true
	t.state.resetDTS(t.codec) // the extractor's SPS is replaced too
	return nil
}

// videoDTS derives the DTS of a video access unit from its PTS, and keeps
// DTS increasing and never after PTS: the extractor can briefly return a
// DTS past the PTS while it learns the reordering depth, and a stream it
// cannot follow falls back to DTS = PTS.
func (st *trackState) videoDTS(t *mediaTrack, nalus [][]byte, key bool, pts int64) (int64, int64) {
	in := nalus
	if key {
		// The extractor reads the SPS (and PPS) from the access unit; with
		// the sets in the SDP only, the stream lacks them.
		in = make([][]byte, 0, len(t.vps)+len(t.sps)+len(t.pps)+len(nalus))
		in = append(append(append(append(in, t.vps...), t.sps...), t.pps...), nalus...)
	}
	dts, err := st.dts.Extract(in, pts)
	if err != nil && key {
		st.resetDTS(t.codec)
		dts, err = st.dts.Extract(in, pts)
	}
	if err != nil {
		dts = pts
	}
	dts = min(dts, pts)
	if st.hasDTS && dts <= st.lastDTS {
		dts = st.lastDTS + 1
	}
	return dts, max(pts, dts)
}

// audioFrame writes one AAC frame or Opus packet.
func (d *demuxer) audioFrame(t *mediaTrack, f frame) {
	if len(f.data) == 0 {
		d.bad(fmt.Errorf("track %d (%s): empty frame", t.index, t.codec))
		return
	}
	if t.codec == ingest.Opus {
		if _, err := ingest.OpusPacketSamples(f.data); err != nil {
			d.bad(fmt.Errorf("track %d (opus): %w", t.index, err))
			return
		}
	}
	st := &t.state
	if st.hasDTS && f.pts <= st.lastDTS {
		d.bad(fmt.Errorf("track %d (%s): frame at %d after one at %d", t.index, t.codec, f.pts, st.lastDTS))
		return
	}
	d.write(t, ingest.AccessUnit{Track: t.index, DTS: f.pts, PTS: f.pts, Key: true, Data: bytes.Clone(f.data)})
}

func isKeyframe(codec ingest.Codec, sample []byte) bool {
	if codec == ingest.H265 {
		return ingest.IsH265Keyframe(sample)
	}
	return ingest.IsH264Keyframe(sample)
}

func equalSets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func cloneSets(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = bytes.Clone(b)
	}
	return out
}
