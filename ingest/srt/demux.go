package srt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/liveorigin/liveorigin/ingest"
)

// The demuxer turns one caller's MPEG-TS into Tracks and AccessUnits.
// mediacommon's Reader finds the program (PAT/PMT) and reassembles PES
// packets; the demuxer picks the first video (H.264/H.265) and the first
// audio (AAC in ADTS, Opus) stream, builds their Tracks with the
// constructors in package ingest and decides when to Start:
//
//   - audio is configured at once: the AAC configuration comes from the
//     first ADTS header (the Reader waits for it), Opus from the PMT's
//     descriptor;
//   - video is configured at its first keyframe, from the parameter sets
//     sent in-band (in the keyframe's access unit or before it). Video
//     before that cannot be decoded and is dropped: a caller may join in
//     the middle of a GOP;
//   - audio that arrives meanwhile is kept, at most pendingWindow of it;
//     when the PMT declares video that never sends anything, the session
//     starts without it after pendingWindow of audio.
//
// Changed parameter sets at a later keyframe call Start again: a new period.

// session is the part of ingest.Session the demuxer writes to.
type session interface {
	Start(tracks []ingest.Track) error
	WriteAU(au ingest.AccessUnit) error
}

const (
	// maxProbeBytes bounds what the Reader may read while it looks for the
	// program: a PMT (encoders repeat it every 100 ms or so) and the first
	// frame of each AAC stream. mediacommon records at most 1 MiB for its
	// rewind; stopping a little earlier gives our clearer error.
	maxProbeBytes = 1<<20 - 64<<10
	// pendingWindow is how much audio (by its timestamps) waits for the
	// video's first keyframe; older audio is dropped.
	pendingWindow = 2 * tsClockRate
	// maxPendingBytes bounds the waiting audio whatever its timestamps say.
	maxPendingBytes = 4 << 20
	// jumpBack is the smallest step back of a track's DTS that is a jump
	// of the source's clock rather than jitter: longer than any frame. A
	// jump is passed on (the packager continues its timeline across it);
	// jitter is evened out, as DTS must not decrease within a track.
	jumpBack = tsClockRate
	// opusRate is Opus's sample rate, in which packet durations count.
	opusRate = 48000
	// waitWarnFrames: video frames dropped while waiting for a keyframe
	// before a warning (10 s at 30 fps; the usual GOP is 1 to 4 s).
	waitWarnFrames = 300
)

// demuxError is a reason for ending the connection; reason is the
// liveorigin_srt_errors_total label.
type demuxError struct {
	reason string
	err    error
}

func (e *demuxError) Error() string { return e.err.Error() }
func (e *demuxError) Unwrap() error { return e.err }

func failure(reason string, err error) error { return &demuxError{reason: reason, err: err} }

type demuxer struct {
	out session
	log *slog.Logger

	clock   tsClock
	video   *elementary // nil when the program has none
	audio   *elementary
	started bool
	tracks  []ingest.Track

	pending      []pendingAU
	pendingBytes int

	// written counts access units handed to the session: the connection
	// watches it to cut off callers that send no usable media.
	written      int64
	decodeErrors int64
}

// elementary is the state of one elementary stream.
type elementary struct {
	kind       ingest.Kind
	codec      ingest.Codec
	pid        uint16
	track      ingest.Track
	configured bool
	index      int // in tracks; -1 while (or when) not in the session

	seen    int64 // access units received
	dropped int64 // video access units before the first keyframe
	warned  bool

	lastDTS int64
	hasDTS  bool

	// The newest in-band parameter sets (video), copied.
	vps, sps, pps [][]byte
}

type pendingAU struct {
	es *elementary
	au ingest.AccessUnit
}

func newDemuxer(out session, log *slog.Logger) *demuxer {
	return &demuxer{out: out, log: log}
}

// run demuxes r until it fails: with r's error (io.EOF when the caller
// ended), a *demuxError, or the session's error wrapped in one.
func (d *demuxer) run(r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = failure(reasonPanic, fmt.Errorf("MPEG-TS reader panicked on malformed input: %v", p))
		}
	}()
	pr := &probeReader{r: r, limit: maxProbeBytes}
	tr := &mpegts.Reader{R: pr}
	if err := tr.Initialize(); err != nil {
		var de *demuxError
		if pr.err != nil || errors.As(err, &de) {
			return err
		}
		return failure(reasonNoProgram, fmt.Errorf("MPEG-TS program: %w", err))
	}
	pr.limit = -1
	if err := d.setup(tr); err != nil {
		return err
	}
	tr.OnDecodeError(d.decodeError)
	for {
		if err := tr.Read(); err != nil {
			return err
		}
	}
}

// probeReader fails the Reader's search for the program after limit bytes
// (a negative limit: never) and remembers read errors, so that they are not
// mistaken for malformed TS.
type probeReader struct {
	r     io.Reader
	n     int64
	limit int64
	err   error
}

func (p *probeReader) Read(b []byte) (int, error) {
	if p.limit >= 0 && p.n >= p.limit {
		return 0, failure(reasonNoProgram, fmt.Errorf(
			"no MPEG-TS program table (PAT/PMT), or no first frame of its AAC stream, in the first %d bytes", p.limit))
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err != nil && p.err == nil {
		p.err = err
	}
	return n, err
}

// setup picks the elementary streams and registers their callbacks.
func (d *demuxer) setup(tr *mpegts.Reader) error {
	var ignored []string
	for _, t := range tr.Tracks() {
		switch c := t.Codec.(type) {
		case *codecs.H264, *codecs.H265:
			if d.video != nil {
				ignored = append(ignored, codecName(t))
				continue
			}
			es := &elementary{kind: ingest.Video, codec: ingest.H264, pid: t.PID, index: -1}
			if _, ok := c.(*codecs.H265); ok {
				es.codec = ingest.H265
				tr.OnDataH265(t, func(pts, dts int64, au [][]byte) error { return d.onVideo(es, pts, dts, au) })
			} else {
				tr.OnDataH264(t, func(pts, dts int64, au [][]byte) error { return d.onVideo(es, pts, dts, au) })
			}
			d.video = es
		case *codecs.MPEG4Audio:
			if d.audio != nil {
				ignored = append(ignored, codecName(t))
				continue
			}
			asc, err := c.Config.Marshal()
			if err != nil {
				return failure(reasonBadCodecConfig, fmt.Errorf("AAC configuration from ADTS: %w", err))
			}
			track, err := ingest.AACTrack(asc, tsClockRate)
			if err != nil {
				return configFailure("AAC", err)
			}
			es := &elementary{kind: ingest.Audio, codec: ingest.AAC, pid: t.PID, track: track, configured: true, index: -1}
			tr.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error { return d.onAAC(es, pts, aus) })
			d.audio = es
		case *codecs.Opus:
			if d.audio != nil {
				ignored = append(ignored, codecName(t))
				continue
			}
			channels := c.ChannelCount //nolint:staticcheck // the fallback when there is no descriptor
			if c.Desc != nil {
				channels = c.Desc.ChannelCount()
			}
			// MPEG-TS does not carry Opus's pre-skip; like ffmpeg we take 0.
			track, err := ingest.OpusTrack(channels, 0, tsClockRate)
			if err != nil {
				return configFailure("Opus", err)
			}
			es := &elementary{kind: ingest.Audio, codec: ingest.Opus, pid: t.PID, track: track, configured: true, index: -1}
			tr.OnDataOpus(t, func(pts int64, packets [][]byte) error { return d.onOpus(es, pts, packets) })
			d.audio = es
		default:
			ignored = append(ignored, codecName(t))
		}
	}
	if d.video == nil && d.audio == nil {
		return failure(reasonUnsupportedCodec, fmt.Errorf(
			"%w: no H.264/H.265 video and no AAC/Opus audio in the MPEG-TS program (it has: %s)",
			ingest.ErrUnsupportedCodec, strings.Join(ignored, ", ")))
	}
	if len(ignored) > 0 {
		d.log.Warn("srt ignoring elementary streams: one video (H.264/H.265) and one audio (AAC/Opus) stream are used",
			"ignored", strings.Join(ignored, ", "))
	}
	var attrs []any
	for _, es := range []*elementary{d.video, d.audio} {
		if es != nil {
			attrs = append(attrs, es.kind.String(), fmt.Sprintf("%s (PID %d)", es.codec, es.pid))
		}
	}
	d.log.Debug("srt MPEG-TS program", attrs...)
	return nil
}

func configFailure(what string, err error) error {
	if errors.Is(err, ingest.ErrUnsupportedCodec) {
		return failure(reasonUnsupportedCodec, fmt.Errorf("%s: %w", what, err))
	}
	return failure(reasonBadCodecConfig, fmt.Errorf("%s: %w", what, err))
}

// codecName names a TS elementary stream for the log: "MPEG1Audio (PID 257)".
func codecName(t *mpegts.Track) string {
	name := strings.TrimPrefix(fmt.Sprintf("%T", t.Codec), "*codecs.")
	return fmt.Sprintf("%s (PID %d)", name, t.PID)
}

func (d *demuxer) decodeError(err error) {
	d.decodeErrors++
	if d.decodeErrors <= 3 {
		d.log.Debug("srt skipping malformed MPEG-TS data", "error", err.Error())
	}
}

// onVideo handles one H.264/H.265 access unit (NAL units, no start codes).
func (d *demuxer) onVideo(es *elementary, pts, dts int64, au [][]byte) error {
	dtsX := d.clock.extend(dts)
	es.seen++
	vps, sps, pps, rest := ingest.SplitParameterSets(es.codec, au)
	keepSets(&es.vps, vps)
	keepSets(&es.sps, sps)
	keepSets(&es.pps, pps)
	// The parameter sets travel in the init segment, not in the samples.
	sample := ingest.NALUsToSample(es.codec, rest)
	if len(sample) == 0 {
		return nil
	}
	var key bool
	if es.codec == ingest.H264 {
		key = ingest.IsH264Keyframe(sample)
	} else {
		key = ingest.IsH265Keyframe(sample)
	}
	if key {
		if err := d.configureVideo(es); err != nil {
			return err
		}
	}
	if !es.configured {
		es.dropped++
		if es.dropped == waitWarnFrames && !es.warned {
			es.warned = true
			d.log.Warn("srt still waiting for a video keyframe with its parameter sets (SPS/PPS in-band); dropping video until then",
				"dropped", es.dropped)
		}
		return nil
	}
	return d.emit(es, ingest.AccessUnit{DTS: dtsX, PTS: dtsX + wrapDelta(pts-dts), Key: key, Data: sample})
}

// keepSets remembers the newest parameter sets of one type, copied (the
// Reader's buffers are not ours to keep).
func keepSets(dst *[][]byte, sets [][]byte) {
	if len(sets) == 0 || slices.EqualFunc(*dst, sets, bytes.Equal) {
		return
	}
	*dst = make([][]byte, len(sets))
	for i, s := range sets {
		(*dst)[i] = bytes.Clone(s)
	}
}

// configureVideo builds the video track at a keyframe from the newest
// parameter sets, unless they are what the track has.
func (d *demuxer) configureVideo(es *elementary) error {
	if len(es.sps) == 0 || len(es.pps) == 0 || es.codec == ingest.H265 && len(es.vps) == 0 {
		return nil // a keyframe without (all of) its parameter sets: wait for the next
	}
	same := func(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }
	if es.configured && same(es.track.VPS, es.vps) && same(es.track.SPS, es.sps) && same(es.track.PPS, es.pps) {
		return nil
	}
	var (
		track ingest.Track
		err   error
	)
	if es.codec == ingest.H264 {
		track, err = ingest.H264Track(es.sps, es.pps, tsClockRate)
	} else {
		track, err = ingest.H265Track(es.vps, es.sps, es.pps, tsClockRate)
	}
	if err != nil {
		return configFailure("video parameter sets", err)
	}
	first := !es.configured
	es.track, es.configured = track, true
	if first {
		if es.dropped > 0 {
			d.log.Debug("srt video before the first keyframe dropped", "frames", es.dropped)
		}
		return nil
	}
	if !d.started || es.index < 0 {
		return nil
	}
	d.tracks[es.index] = track
	d.log.Info("srt video configuration changed: new period",
		"codec", track.CodecString, "width", track.Width, "height", track.Height)
	if err := d.out.Start(slices.Clone(d.tracks)); err != nil {
		return failure(reasonSession, fmt.Errorf("new video configuration: %w", err))
	}
	return nil
}

// onAAC handles the raw AAC frames of one PES packet; the PES timestamp is
// the first frame's.
func (d *demuxer) onAAC(es *elementary, pts int64, frames [][]byte) error {
	base := d.clock.extend(pts)
	es.seen += int64(len(frames))
	step := int64(es.track.FrameSamples) * tsClockRate
	rate := int64(es.track.SampleRate)
	for i, f := range frames {
		if len(f) == 0 {
			continue
		}
		t := base + int64(i)*step/rate
		if err := d.emit(es, ingest.AccessUnit{DTS: t, PTS: t, Key: true, Data: bytes.Clone(f)}); err != nil {
			return err
		}
	}
	return nil
}

// onOpus handles the Opus packets of one PES packet; each lasts what its
// TOC byte says.
func (d *demuxer) onOpus(es *elementary, pts int64, packets [][]byte) error {
	base := d.clock.extend(pts)
	es.seen += int64(len(packets))
	var samples int64
	for _, p := range packets {
		n, err := ingest.OpusPacketSamples(p)
		if err != nil {
			d.decodeError(err)
			continue
		}
		t := base + samples*tsClockRate/opusRate
		samples += int64(n)
		if err := d.emit(es, ingest.AccessUnit{DTS: t, PTS: t, Key: true, Data: bytes.Clone(p)}); err != nil {
			return err
		}
	}
	return nil
}

// emit writes an access unit, or keeps it until the tracks are known.
func (d *demuxer) emit(es *elementary, au ingest.AccessUnit) error {
	if d.started {
		return d.write(es, au)
	}
	d.pending = append(d.pending, pendingAU{es: es, au: au})
	d.pendingBytes += len(au.Data)
	videoReady := d.video == nil || d.video.configured
	span := d.pending[len(d.pending)-1].au.DTS - d.pending[0].au.DTS
	switch {
	case videoReady:
		return d.start()
	case d.video.seen == 0 && span >= pendingWindow:
		d.log.Warn("srt the program declares video but none arrived: starting audio-only; video that comes later is ignored",
			"codec", string(d.video.codec))
		return d.start()
	}
	// Waiting for the first keyframe: keep the newest audio only.
	for len(d.pending) > 1 && (d.pending[len(d.pending)-1].au.DTS-d.pending[0].au.DTS > pendingWindow || d.pendingBytes > maxPendingBytes) {
		d.pendingBytes -= len(d.pending[0].au.Data)
		d.pending[0] = pendingAU{}
		d.pending = d.pending[1:]
	}
	return nil
}

// start declares the configured tracks (video first) and writes what was
// kept.
func (d *demuxer) start() error {
	for _, es := range []*elementary{d.video, d.audio} {
		if es != nil && es.configured {
			es.index = len(d.tracks)
			d.tracks = append(d.tracks, es.track)
		}
	}
	if err := d.out.Start(slices.Clone(d.tracks)); err != nil {
		return failure(reasonSession, fmt.Errorf("start: %w", err))
	}
	d.started = true
	pending := d.pending
	d.pending, d.pendingBytes = nil, 0
	for _, p := range pending {
		if err := d.write(p.es, p.au); err != nil {
			return err
		}
	}
	return nil
}

func (d *demuxer) write(es *elementary, au ingest.AccessUnit) error {
	if es.index < 0 {
		return nil // a stream the session started without
	}
	au.Track = es.index
	if es.hasDTS && au.DTS < es.lastDTS && es.lastDTS-au.DTS < jumpBack {
		au.PTS = max(au.PTS, es.lastDTS)
		au.DTS = es.lastDTS
	}
	es.lastDTS, es.hasDTS = au.DTS, true
	if err := d.out.WriteAU(au); err != nil {
		return failure(reasonSession, fmt.Errorf("write %s access unit: %w", es.kind, err))
	}
	d.written++
	return nil
}
