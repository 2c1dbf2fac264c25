package manifest

import (
	"fmt"
	"strconv"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// audioGroup is the GROUP-ID of the one audio rendition group.
const audioGroup = "audio"

// Multivariant renders the HLS multivariant playlist (index.m3u8): one
// variant stream per video track, each referring to every audio track
// through one EXT-X-MEDIA audio group (DESIGN decision 1). A stream without
// video gets one variant stream per audio track, pointing at the audio
// media playlist directly. It returns an error wrapping packager.ErrNotYet
// until every track has a segment, because BANDWIDTH and CODECS are only
// known from segments.
func Multivariant(tl *packager.Timeline) ([]byte, error) {
	if err := checkTimeline(tl); err != nil {
		return nil, err
	}
	var video, audio []*packager.TrackTimeline
	for _, tt := range tl.Tracks {
		switch kindOf(tt) {
		case ingest.Video:
			video = append(video, tt)
		case ingest.Audio:
			audio = append(audio, tt)
		default:
			return nil, fmt.Errorf("%w: stream %s: track %s has no kind", errInvalid, tl.Stream, tt.Name)
		}
		if c := tt.Track.CodecString; c != "" && !codecToken(c) {
			return nil, fmt.Errorf("%w: stream %s: track %s has codec string %q", errInvalid, tl.Stream, tt.Name, c)
		}
	}

	b := make([]byte, 0, 128+192*len(tl.Tracks))
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:7\n"...)
	// rfc8216bis 4.4.2.1: in a multivariant playlist the tag applies to
	// every segment of every media playlist, so it is only true when no
	// segment in any window was cut mid-GOP.
	if allIndependent(tl.Tracks) {
		b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}

	if len(video) == 0 {
		for _, a := range audio {
			b = appendStreamInf(b, a, nil)
		}
		return b, nil
	}

	for i, a := range audio {
		b = append(b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\""+audioGroup+"\",NAME=\""...)
		b = append(b, a.Name...)
		// rfc8216bis 4.4.6.1: at most one member of a group is DEFAULT=YES.
		if i == 0 {
			b = append(b, "\",DEFAULT=YES,AUTOSELECT=YES"...)
		} else {
			b = append(b, "\",DEFAULT=NO,AUTOSELECT=YES"...)
		}
		if ch := a.Track.Channels; ch > 0 {
			b = append(b, ",CHANNELS=\""...)
			b = strconv.AppendInt(b, int64(ch), 10)
			b = append(b, '"')
		}
		b = append(b, ",URI=\""...)
		b = append(b, a.Name...)
		b = append(b, ".m3u8\"\n"...)
	}
	for _, v := range video {
		b = appendStreamInf(b, v, audio)
	}
	return b, nil
}

// appendStreamInf appends one EXT-X-STREAM-INF and its URI line for the
// variant stream of main (a video track, or an audio track when there is no
// video) together with the audio group.
func appendStreamInf(b []byte, main *packager.TrackTimeline, audio []*packager.TrackTimeline) []byte {
	// rfc8216bis 4.4.6.2: BANDWIDTH is the peak of the whole variant, which
	// plays main with at most one rendition of the group at a time.
	peak, avg := main.PeakBandwidth, main.AverageBandwidth
	var audioPeak, audioAvg int
	for _, a := range audio {
		audioPeak = max(audioPeak, a.PeakBandwidth)
		audioAvg = max(audioAvg, a.AverageBandwidth)
	}
	peak, avg = max(peak+audioPeak, 0), max(avg+audioAvg, 0)

	b = append(b, "#EXT-X-STREAM-INF:BANDWIDTH="...)
	b = strconv.AppendInt(b, int64(peak), 10)
	if avg > 0 {
		b = append(b, ",AVERAGE-BANDWIDTH="...)
		b = strconv.AppendInt(b, int64(avg), 10)
	}
	b = appendCodecs(b, main, audio)
	if w, h := main.Track.Width, main.Track.Height; kindOf(main) == ingest.Video && w > 0 && h > 0 {
		b = append(b, ",RESOLUTION="...)
		b = strconv.AppendInt(b, int64(w), 10)
		b = append(b, 'x')
		b = strconv.AppendInt(b, int64(h), 10)
	}
	if fr := main.FrameRate; kindOf(main) == ingest.Video && validFrameRate(fr) {
		b = append(b, ",FRAME-RATE="...)
		b = strconv.AppendFloat(b, fr, 'f', 3, 64)
	}
	if len(audio) > 0 {
		b = append(b, ",AUDIO=\""+audioGroup+"\""...)
	}
	b = append(b, '\n')
	b = append(b, main.Name...)
	return append(b, ".m3u8\n"...)
}

// appendCodecs appends CODECS with the main track's codec and each distinct
// audio codec (rfc8216bis 4.4.6.2: every format in any rendition the variant
// can play). It writes nothing when no codec string is known.
func appendCodecs(b []byte, main *packager.TrackTimeline, audio []*packager.TrackTimeline) []byte {
	start := len(b)
	b = append(b, ",CODECS=\""...)
	first := len(b)
	add := func(c string) {
		if c == "" || containsCodec(b[first:], c) {
			return
		}
		if len(b) > first {
			b = append(b, ',')
		}
		b = append(b, c...)
	}
	add(main.Track.CodecString)
	for _, a := range audio {
		add(a.Track.CodecString)
	}
	if len(b) == first {
		return b[:start]
	}
	return append(b, '"')
}

// containsCodec reports whether the comma-separated list holds c.
func containsCodec(list []byte, c string) bool {
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != ',' {
			i++
		}
		if string(list[:i]) == c {
			return true
		}
		if i == len(list) {
			break
		}
		list = list[i+1:]
	}
	return false
}

// kindOf is the track's kind, falling back to its codec's kind.
func kindOf(tt *packager.TrackTimeline) ingest.Kind {
	if k := tt.Track.Kind; k != 0 {
		return k
	}
	return tt.Track.Codec.Kind()
}

// allIndependent reports whether every segment in every window starts with
// a key frame.
func allIndependent(tracks []*packager.TrackTimeline) bool {
	for _, tt := range tracks {
		for _, s := range tt.Segments {
			if !s.Independent {
				return false
			}
		}
	}
	return true
}
