package packager

import (
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// StreamInfo describes a stream for the JSON API.
type StreamInfo struct {
	Name string
	// Live is true while a publisher is connected.
	Live bool
	// Protocol, RemoteAddr and SessionID describe the current publisher, or
	// the last one while the stream waits for it or has ended.
	Protocol, RemoteAddr, SessionID string
	// Started is when the stream began; SessionStarted when the (last)
	// publisher connected.
	Started, SessionStarted time.Time
	Ended                   bool
	Tracks                  []TrackInfo
	// IngestBitrate is the access unit payload rate over the window, all
	// tracks, in bits/s.
	IngestBitrate int
	// Segments is the number of segments in the leader track's playlist
	// window.
	Segments int
	// BytesHeld is the memory held for the window: init and media segments.
	BytesHeld int
}

// TrackInfo describes one rendition of a stream.
type TrackInfo struct {
	Name                     string // "v0", "a0"
	Kind, Codec, CodecString string
	Width, Height            int
	FrameRate                float64 // measured over the window
	SampleRate, Channels     int
	// Bitrate is the access unit payload rate over the window in bits/s.
	Bitrate int
}

func (st *stream) infoLocked() StreamInfo {
	info := StreamInfo{
		Name:      st.name,
		Live:      st.sess != nil,
		Started:   st.created,
		Ended:     st.ended,
		BytesHeld: st.bytesHeld,
		Tracks:    make([]TrackInfo, 0, len(st.tracks)),
	}
	if s := st.lastSess; s != nil {
		info.Protocol, info.RemoteAddr, info.SessionID = s.info.Protocol, s.info.RemoteAddr, s.id
		info.SessionStarted = s.started
	}
	if len(st.tracks) > 0 {
		info.Segments = len(st.tracks[0].segments)
	}
	for _, tr := range st.tracks {
		_, _, payload, fps := tr.windowRates()
		t := tr.cfg.track
		if tr.kind != ingest.Video {
			fps = 0
		}
		info.Tracks = append(info.Tracks, TrackInfo{
			Name:        tr.name,
			Kind:        tr.kind.String(),
			Codec:       string(t.Codec),
			CodecString: t.CodecString,
			Width:       t.Width,
			Height:      t.Height,
			FrameRate:   roundRate(fps),
			SampleRate:  t.SampleRate,
			Channels:    t.Channels,
			Bitrate:     payload,
		})
		info.IngestBitrate += payload
	}
	return info
}
