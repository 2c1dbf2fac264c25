package manifest

import (
	"fmt"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// MPDOptions are the inputs of an MPD render that are not in the snapshot.
type MPDOptions struct {
	// UTCTimingURL is the value of the UTCTiming element (scheme
	// urn:mpeg:dash:utc:http-xsdate:2014): the URL, relative to the MPD or
	// absolute, where clients read the server's clock. Default "/time".
	UTCTimingURL string
	// Now is the time of the render. Pass tl.Updated so that the output is
	// a function of the snapshot alone (render once, serve many). It is
	// only used as publishTime when the snapshot has no Updated time.
	// Default: unused.
	Now time.Time
}

// DASH constants.
const (
	// DESIGN decision 2: the media timeline is UTC, so the anchor never
	// moves and every MPD of every stream has the same one.
	availabilityStartTime = "1970-01-01T00:00:00Z"
	// isoff-live for the widest client support; cmaf because segments are
	// CMAF (ftyp cmfc) and one track per file.
	mpdProfiles   = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
	utcTimingHTTP = "urn:mpeg:dash:utc:http-xsdate:2014"
	// mediaTemplate addresses a segment by its start (DESIGN decision 3);
	// the packager names segments "<start>.m4s" under the rendition name.
	mediaTemplate = "$RepresentationID$/$Time$.m4s"
	// Audio channel schemes: CICP (ISO/IEC 23091-3) where the channel
	// count names one layout, otherwise the plain channel count.
	cicpChannels  = "urn:mpeg:mpegB:cicp:ChannelConfiguration"
	countChannels = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
)

// MPD renders the dynamic DASH MPD of the stream: one Period per publish
// session with segments in the window, one AdaptationSet per track, each
// with a SegmentTemplate addressing segments by $Time$ and a SegmentTimeline
// listing the window. It returns an error wrapping packager.ErrNotYet until
// every track has a segment.
func MPD(tl *packager.Timeline, o MPDOptions) ([]byte, error) {
	if err := checkTimeline(tl); err != nil {
		return nil, err
	}
	utcTiming := o.UTCTimingURL
	if utcTiming == "" {
		utcTiming = "/time"
	}
	lay, err := layoutPeriods(tl)
	if err != nil {
		return nil, err
	}

	segTarget := tl.SegmentTarget
	if segTarget <= 0 {
		segTarget = tl.TargetDuration
	}
	// DASH-IF IOP (time shift buffer, 70-Services "live-timeshiftbuffer"):
	// the buffer must cover what the MPD lists, so it is at least the span
	// of the window actually held and at least the configured window.
	tsbd := max(durationMillis(tl.Window), lay.endMillis-lay.startMillis)
	published := tl.Updated
	if published.IsZero() {
		published = o.Now
	}

	nSegs := 0
	for _, tt := range tl.Tracks {
		nSegs += len(tt.Segments)
	}
	b := make([]byte, 0, 768+len(lay.periods)*(256+len(tl.Tracks)*640)+nSegs*40)
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"...)
	b = append(b, `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="`+mpdProfiles+`"`...)
	b = append(b, ` type="dynamic" availabilityStartTime="`+availabilityStartTime+`" publishTime="`...)
	b = published.UTC().AppendFormat(b, dateTimeLayout)
	b = append(b, '"')
	if tl.Ended {
		// DASH-IF IOP timing model, "End of live content"
		// (#timing-mpd-updates-theend): the last period gets a fixed
		// duration and minimumUpdatePeriod goes, which tells clients that
		// nothing more will come; type stays dynamic (static is optional)
		// so that the timeline keeps its mapping to real time. ISO/IEC
		// 23009-1 5.3.1.2: mediaPresentationDuration is the end of the last
		// period on the MPD timeline, which starts at 1970: a large value.
		b = append(b, ` mediaPresentationDuration="`...)
		b = appendXSDuration(b, lay.endMillis)
		b = append(b, '"')
	} else {
		// With low latency, the segment being produced appears in the MPD
		// with its first chunk: clients look once a part.
		b = append(b, ` minimumUpdatePeriod="`...)
		if tl.PartTarget > 0 {
			b = appendXSDuration(b, durationMillis(tl.PartTarget))
		} else {
			b = appendXSDuration(b, durationMillis(segTarget))
		}
		b = append(b, '"')
	}
	b = append(b, ` timeShiftBufferDepth="`...)
	b = appendXSDuration(b, tsbd)
	// DASH-IF IOP "live-presentationdelay": 2-4 segment durations; with
	// low latency, the latency target.
	b = append(b, `" suggestedPresentationDelay="`...)
	if ll := lowLatency(tl); ll.on {
		b = appendXSDuration(b, ll.targetMillis)
	} else {
		b = appendXSDuration(b, 3*durationMillis(segTarget))
	}
	if tl.TargetDuration > 0 {
		// No segment exceeds the target duration; IOP's live edge
		// calculation uses this bound with explicit addressing.
		b = append(b, `" maxSegmentDuration="`...)
		b = appendXSDuration(b, durationMillis(tl.TargetDuration))
	}
	b = append(b, `" minBufferTime="`...)
	b = appendXSDuration(b, durationMillis(segTarget))
	b = append(b, "\">\n"...)

	ll := lowLatency(tl)
	if ll.on {
		b = appendServiceDescription(b, ll)
	}
	for pi := range lay.periods {
		b, err = appendPeriod(b, tl, &lay, pi, ll)
		if err != nil {
			return nil, err
		}
	}

	b = append(b, `  <UTCTiming schemeIdUri="`+utcTimingHTTP+`"`...)
	b = appendAttr(b, "value", utcTiming)
	b = append(b, "/>\n</MPD>\n"...)
	return b, nil
}

// appendPeriod appends one Period with an AdaptationSet per track that has
// segments in it.
func appendPeriod(b []byte, tl *packager.Timeline, lay *layout, pi int, ll llDASH) ([]byte, error) {
	lp := &lay.periods[pi]
	b = append(b, "  <Period"...)
	b = appendAttr(b, "id", lp.period.ID)
	b = append(b, ` start="`...)
	b = appendXSDuration(b, lp.startMillis)
	b = append(b, '"')
	if tl.Ended && pi == len(lay.periods)-1 {
		// DASH-IF IOP "End of live content": a fixed duration for the last
		// period.
		b = append(b, ` duration="`...)
		b = appendXSDuration(b, lay.endMillis-lp.startMillis)
		b = append(b, '"')
	}
	b = append(b, ">\n"...)
	for ti, tt := range tl.Tracks {
		segs := lay.segments(pi, ti)
		if len(segs) == 0 {
			continue
		}
		var pending *packager.Segment
		if ll.on && pi == len(lay.periods)-1 {
			pending = pendingSegment(tt, segs)
		}
		var err error
		b, err = appendAdaptationSet(b, tt, ti, segs, lp.startMillis, ll, pending)
		if err != nil {
			return nil, fmt.Errorf("stream %s period %s: %w", tl.Stream, lp.period.ID, err)
		}
	}
	return append(b, "  </Period>\n"...), nil
}

// appendAdaptationSet appends the AdaptationSet of one track in one period.
// The id is the track's index, the same in every period, so that clients
// keep their selection across a reconnect.
func appendAdaptationSet(b []byte, tt *packager.TrackTimeline, id int, segs []*packager.Segment, periodStartMillis uint64,
	ll llDASH, pending *packager.Segment) ([]byte, error) {
	ts := segs[0].Timescale
	for _, s := range segs {
		if s.Timescale != ts {
			return nil, fmt.Errorf("%w: track %s: timescale changes within a period (%d, %d)", errInvalid, tt.Name, ts, s.Timescale)
		}
	}
	// ISO/IEC 23009-1 5.3.9.2: presentationTimeOffset is the media time
	// that maps to the period start, so a segment's tfdt (counted from
	// 1970) lands at its wall-clock time on the MPD timeline.
	pto, ok := millisToTicks(periodStartMillis, ts)
	if !ok {
		return nil, fmt.Errorf("%w: track %s: period start overflows timescale %d", errInvalid, tt.Name, ts)
	}
	if segs[0].Start < pto {
		// It would have a negative time in its period.
		return nil, fmt.Errorf("%w: track %s: segment %d starts before its period", errInvalid, tt.Name, segs[0].Seq)
	}
	// The codec description of this period's init segment: an older period
	// may have had another configuration than tt.Track (the newest).
	desc := segs[0].Init.Track
	if desc.Kind == 0 && desc.Codec == "" {
		desc = tt.Track
	}
	kind := kindOf(tt)

	b = append(b, "    <AdaptationSet"...)
	b = appendUintAttr(b, "id", uint64(id))
	switch kind {
	case ingest.Video:
		b = append(b, ` contentType="video" mimeType="video/mp4"`...)
	case ingest.Audio:
		b = append(b, ` contentType="audio" mimeType="audio/mp4"`...)
	default:
		return nil, fmt.Errorf("%w: track %s has no kind", errInvalid, tt.Name)
	}
	b = append(b, ` segmentAlignment="true"`...)
	// startWithSAP="1" promises a closed-GOP key frame at every segment
	// start; a segment cut mid-GOP breaks that promise.
	if segmentsIndependent(segs) {
		b = append(b, ` startWithSAP="1"`...)
	}
	if kind == ingest.Video {
		if desc.Width > 0 && desc.Height > 0 {
			b = appendUintAttr(b, "maxWidth", uint64(desc.Width))
			b = appendUintAttr(b, "maxHeight", uint64(desc.Height))
		}
		if validFrameRate(tt.FrameRate) {
			b = append(b, ` maxFrameRate="`...)
			b = appendFrameRate(b, tt.FrameRate)
			b = append(b, '"')
		}
	}
	b = append(b, ">\n"...)

	if ll.on {
		b = appendProducerReferenceTime(b, segs[0])
	}
	b = append(b, "      <SegmentTemplate"...)
	b = appendUintAttr(b, "timescale", uint64(ts))
	b = appendUintAttr(b, "presentationTimeOffset", pto)
	if ll.on {
		b = appendAvailabilityOffset(b, ll)
	}
	// The init segment is literal per period: its name is a hash of its
	// bytes (DESIGN decision 3), which a template cannot express.
	b = append(b, ` initialization="`...)
	b = append(b, tt.Name...)
	b = append(b, '/')
	b = append(b, segs[0].Init.Name...)
	b = append(b, `" media="`+mediaTemplate+"\">\n"...)
	if pending != nil {
		segs = append(segs[:len(segs):len(segs)], pending)
	}
	b = appendSegmentTimeline(b, segs)
	b = append(b, "      </SegmentTemplate>\n"...)

	b = append(b, "      <Representation"...)
	b = appendAttr(b, "id", tt.Name)
	b = appendUintAttr(b, "bandwidth", uint64(max(tt.PeakBandwidth, 0)))
	if desc.CodecString != "" {
		b = appendAttr(b, "codecs", desc.CodecString)
	}
	switch kind {
	case ingest.Video:
		if desc.Width > 0 && desc.Height > 0 {
			b = appendUintAttr(b, "width", uint64(desc.Width))
			b = appendUintAttr(b, "height", uint64(desc.Height))
		}
		if validFrameRate(tt.FrameRate) {
			b = append(b, ` frameRate="`...)
			b = appendFrameRate(b, tt.FrameRate)
			b = append(b, '"')
		}
		b = append(b, "/>\n"...)
	case ingest.Audio:
		if desc.SampleRate > 0 {
			b = appendUintAttr(b, "audioSamplingRate", uint64(desc.SampleRate))
		}
		if desc.Channels <= 0 {
			b = append(b, "/>\n"...)
			break
		}
		b = append(b, ">\n        <AudioChannelConfiguration"...)
		if desc.Channels <= 6 {
			// CICP 1-6 are the layouts with exactly that many channels.
			b = append(b, ` schemeIdUri="`+cicpChannels+`"`...)
		} else {
			b = append(b, ` schemeIdUri="`+countChannels+`"`...)
		}
		b = appendUintAttr(b, "value", uint64(desc.Channels))
		b = append(b, "/>\n      </Representation>\n"...)
	}
	return append(b, "    </AdaptationSet>\n"...), nil
}
