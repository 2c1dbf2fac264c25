package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// The demuxer turns one publisher's parsed tags into Tracks and
// AccessUnits. It decides when the track set is known:
//
//   - onMetaData names the codecs to expect (an absent codec id means
//     unknown, so that kind is not waited for);
//   - without metadata, audio and video are both expected;
//   - media is buffered until every expected kind has its sequence header,
//     or until ProbeTimeout of media (by timestamps) has been buffered, so
//     that audio-only and video-only publishers start too.
//
// The decision is taken when a frame arrives, as encoders send all their
// sequence headers before the first frame.

// session is the part of ingest.Session the demuxer writes to.
type session interface {
	Start(tracks []ingest.Track) error
	WriteAU(au ingest.AccessUnit) error
}

// clockRate is RTMP's timestamp unit: milliseconds.
const clockRate = 1000

// Bounds of the buffer kept while the track set is not known yet. Reaching
// one starts the session with what is known.
const (
	maxPendingAUs   = 1024
	maxPendingBytes = 32 << 20
)

// demuxError is a reason for ending the connection; reason is the
// liveorigin_rtmp_errors_total label.
type demuxError struct {
	reason string
	err    error
}

func (e *demuxError) Error() string { return e.err.Error() }
func (e *demuxError) Unwrap() error { return e.err }

func failure(reason string, err error) error { return &demuxError{reason: reason, err: err} }

// Error reasons (bounded label values).
const (
	reasonBadTag            = "bad_tag"
	reasonBadSequenceHeader = "bad_sequence_header"
	reasonUnsupportedCodec  = "unsupported_codec"
	reasonSession           = "session"
)

type demuxer struct {
	out   session
	probe int64 // ms
	log   *slog.Logger

	meta    *metaData
	video   elementary
	audio   elementary
	started bool
	tracks  []ingest.Track

	pending      []pendingAU
	pendingBytes int

	clock tagClock
}

// elementary is the state of one kind of stream.
type elementary struct {
	kind       ingest.Kind
	configured bool
	codec      ingest.Codec
	config     []byte // the record as received, to recognise repeats
	track      ingest.Track
	lengthSize int // NALU length size of H.264/H.265 frames
	index      int // index in tracks; -1 when not in the session
	lastDTS    int64
	hasDTS     bool
	warned     bool // a late sequence header has been reported
	dropped    int  // frames before the sequence header
}

type pendingAU struct {
	es *elementary
	au ingest.AccessUnit
}

func newDemuxer(out session, probe time.Duration, log *slog.Logger) *demuxer {
	return &demuxer{
		out:   out,
		probe: probe.Milliseconds(),
		log:   log,
		video: elementary{kind: ingest.Video, index: -1},
		audio: elementary{kind: ingest.Audio, index: -1},
	}
}

func (d *demuxer) onMetaData(md metaData) {
	if d.started {
		return // only the first declaration shapes the track set
	}
	d.meta = &md
	d.log.Debug("rtmp metadata", "videocodecid", md.video.id, "audiocodecid", md.audio.id)
}

// onVideo handles a video tag with its RTMP timestamp.
func (d *demuxer) onVideo(ts uint32, body []byte) error {
	tag, err := parseVideoTag(body)
	if err != nil {
		return tagFailure(err)
	}
	dts := d.clock.extend(ts)
	switch tag.packet {
	case packetConfig:
		return d.configure(&d.video, tag.codec, tag.data)
	case packetFrame:
		es := &d.video
		if !es.configured {
			es.dropped++
			return nil // undecodable without its sequence header
		}
		if tag.codec != es.codec {
			return failure(reasonBadTag, fmt.Errorf("%s frame on a %s stream", tag.codec, es.codec))
		}
		var data []byte
		key := tag.key
		switch tag.codec {
		case ingest.H264, ingest.H265:
			if data, err = ingest.NormalizeAVCC(tag.data, es.lengthSize); err != nil {
				return failure(reasonBadTag, fmt.Errorf("%s frame at %d ms: %w", tag.codec, ts, err))
			}
			// The NAL unit types are the truth: FLV key frame flags are also
			// set on open-GOP I-frames, which are no place to start.
			if tag.codec == ingest.H264 {
				key = ingest.IsH264Keyframe(data)
			} else {
				key = ingest.IsH265Keyframe(data)
			}
		case ingest.AV1:
			if data, err = ingest.AV1Sample(tag.data); err != nil {
				return failure(reasonBadTag, fmt.Errorf("av1 frame at %d ms: %w", ts, err))
			}
		}
		if len(data) == 0 {
			return nil
		}
		return d.emit(es, ingest.AccessUnit{DTS: dts, PTS: dts + int64(tag.cts), Key: key, Data: data})
	}
	return nil
}

// onAudio handles an audio tag with its RTMP timestamp.
func (d *demuxer) onAudio(ts uint32, body []byte) error {
	tag, err := parseAudioTag(body)
	if err != nil {
		return tagFailure(err)
	}
	dts := d.clock.extend(ts)
	switch tag.packet {
	case packetConfig:
		return d.configure(&d.audio, tag.codec, tag.data)
	case packetFrame:
		es := &d.audio
		if !es.configured {
			es.dropped++
			return nil
		}
		if tag.codec != es.codec {
			return failure(reasonBadTag, fmt.Errorf("%s frame on a %s stream", tag.codec, es.codec))
		}
		if len(tag.data) == 0 {
			return nil
		}
		return d.emit(es, ingest.AccessUnit{DTS: dts, PTS: dts, Key: true, Data: bytes.Clone(tag.data)})
	}
	return nil
}

func tagFailure(err error) error {
	if errors.Is(err, ingest.ErrUnsupportedCodec) {
		return failure(reasonUnsupportedCodec, err)
	}
	return failure(reasonBadTag, err)
}

// configure handles a sequence header.
func (d *demuxer) configure(es *elementary, codec ingest.Codec, config []byte) error {
	if es.configured && es.codec == codec && bytes.Equal(es.config, config) {
		return nil // encoders repeat sequence headers
	}
	var (
		track      ingest.Track
		lengthSize int
		err        error
	)
	switch codec {
	case ingest.H264:
		if track, err = ingest.H264TrackFromConfig(config, clockRate); err == nil {
			lengthSize, err = ingest.H264ConfigLengthSize(config)
		}
	case ingest.H265:
		if track, err = ingest.H265TrackFromConfig(config, clockRate); err == nil {
			lengthSize, err = ingest.H265ConfigLengthSize(config)
		}
	case ingest.AV1:
		track, err = ingest.AV1TrackFromConfig(config, clockRate)
	case ingest.AAC:
		track, err = ingest.AACTrack(config, clockRate)
	case ingest.Opus:
		track, err = ingest.OpusTrackFromHead(config, clockRate)
	default:
		err = fmt.Errorf("%w: %s", ingest.ErrUnsupportedCodec, codec)
	}
	if err != nil {
		err = fmt.Errorf("%s sequence header: %w", es.kind, err)
		if errors.Is(err, ingest.ErrUnsupportedCodec) {
			return failure(reasonUnsupportedCodec, err)
		}
		return failure(reasonBadSequenceHeader, err)
	}
	if d.started && es.index < 0 {
		if !es.warned {
			es.warned = true
			d.log.Warn("rtmp sequence header arrived after the stream started without it; ignoring this "+es.kind.String()+" stream",
				"codec", track.CodecString)
		}
		return nil
	}
	first := !es.configured
	es.configured, es.codec, es.config, es.track, es.lengthSize = true, codec, bytes.Clone(config), track, lengthSize
	if first && es.dropped > 0 {
		d.log.Debug("rtmp frames before the sequence header dropped", "kind", es.kind.String(), "frames", es.dropped)
	}
	if !d.started {
		return nil
	}
	// A new configuration mid-stream (resolution change, encoder restart)
	// starts a new period.
	d.tracks[es.index] = track
	if err := d.out.Start(append([]ingest.Track(nil), d.tracks...)); err != nil {
		return failure(reasonSession, fmt.Errorf("new %s configuration: %w", es.kind, err))
	}
	return nil
}

// emit writes an access unit, or buffers it until the track set is known.
func (d *demuxer) emit(es *elementary, au ingest.AccessUnit) error {
	if d.started {
		return d.write(es, au)
	}
	d.pending = append(d.pending, pendingAU{es: es, au: au})
	d.pendingBytes += len(au.Data)
	if d.ready() {
		return d.start()
	}
	return nil
}

// ready reports whether the track set is known, or waiting longer is not
// worth it.
func (d *demuxer) ready() bool {
	expectVideo, expectAudio := true, true
	if d.meta != nil && (d.meta.video.expected() || d.meta.audio.expected()) {
		expectVideo, expectAudio = d.meta.video.expected(), d.meta.audio.expected()
	}
	if (!expectVideo || d.video.configured) && (!expectAudio || d.audio.configured) {
		return true
	}
	if len(d.pending) >= maxPendingAUs || d.pendingBytes >= maxPendingBytes {
		return true
	}
	first, last := d.pending[0].au.DTS, d.pending[len(d.pending)-1].au.DTS
	return last-first >= d.probe
}

// start declares the tracks (video first) and flushes the buffer.
func (d *demuxer) start() error {
	for _, es := range []*elementary{&d.video, &d.audio} {
		if es.configured {
			es.index = len(d.tracks)
			d.tracks = append(d.tracks, es.track)
		}
	}
	if err := d.out.Start(append([]ingest.Track(nil), d.tracks...)); err != nil {
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
		return nil // a kind that is not in the session
	}
	au.Track = es.index
	// The contract wants DTS not to decrease within a track; RTMP encoders
	// occasionally jitter by a millisecond.
	if es.hasDTS && au.DTS < es.lastDTS {
		au.DTS = es.lastDTS
		au.PTS = max(au.PTS, au.DTS)
	}
	es.lastDTS, es.hasDTS = au.DTS, true
	if err := d.out.WriteAU(au); err != nil {
		return failure(reasonSession, fmt.Errorf("write %s access unit: %w", es.kind, err))
	}
	return nil
}

// tagClock extends RTMP's 32-bit millisecond timestamps, which wrap after
// 49.7 days, to 64 bits. Audio and video share it, so a small step back
// between them is a step back, not a wrap.
type tagClock struct {
	init bool
	last uint32
	ext  int64
}

func (c *tagClock) extend(ts uint32) int64 {
	if !c.init {
		c.init, c.last, c.ext = true, ts, int64(ts)
		return c.ext
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return c.ext
}
