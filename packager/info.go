package packager

import (
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// StreamInfo describes a stream for the JSON API.
type StreamInfo struct {
	Name string `json:"name"`
	// Live is true while a publisher is connected.
	Live bool `json:"live"`
	// Protocol, RemoteAddr and SessionID describe the current publisher, or
	// the last one while the stream waits for it or has ended.
	Protocol   string `json:"protocol"`
	RemoteAddr string `json:"remote_addr"`
	SessionID  string `json:"session_id"`
	// Started is when the stream began; SessionStarted when the (last)
	// publisher connected.
	Started        time.Time `json:"started"`
	SessionStarted time.Time `json:"session_started"`
	// Uptime is how long the stream has existed, in seconds.
	Uptime float64     `json:"uptime_seconds"`
	Ended  bool        `json:"ended"`
	Tracks []TrackInfo `json:"tracks"`
	// IngestBitrate is the access unit payload rate over the window, all
	// tracks, in bits/s.
	IngestBitrate int `json:"ingest_bitrate"`
	// Segments is the number of segments in the leader track's playlist
	// window.
	Segments int `json:"segments"`
	// BytesHeld is the memory held for the window: init and media segments.
	BytesHeld int `json:"bytes_held"`
	// Link are the link statistics of the current publisher (SRT only),
	// absent when there are none.
	Link *LinkInfo `json:"link,omitempty"`
}

// LinkInfo are a publisher's link statistics (SRT), receiver side, over
// its session.
type LinkInfo struct {
	RTT                  float64 `json:"rtt_seconds"`
	PacketsLost          uint64  `json:"packets_lost"`
	PacketsRetransmitted uint64  `json:"packets_retransmitted"`
	PacketsDropped       uint64  `json:"packets_dropped"`
}

// TrackInfo describes one rendition of a stream.
type TrackInfo struct {
	Name        string  `json:"name"` // "v0", "a0"
	Kind        string  `json:"kind"`
	Codec       string  `json:"codec"`
	CodecString string  `json:"codec_string"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	FrameRate   float64 `json:"frame_rate,omitempty"` // measured over the window
	// KeyframeInterval is the time between the last two key frames
	// (video: the encoder's GOP duration), in seconds.
	KeyframeInterval float64 `json:"keyframe_interval_seconds,omitempty"`
	SampleRate       int     `json:"sample_rate,omitempty"`
	Channels         int     `json:"channels,omitempty"`
	// Bitrate is the access unit payload rate over the window in bits/s.
	Bitrate int `json:"bitrate"`
}

func (st *stream) infoLocked(now time.Time) StreamInfo {
	info := StreamInfo{
		Uptime:    now.Sub(st.created).Round(time.Millisecond).Seconds(),
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
	if s := st.sess; s != nil && s.link != nil {
		info.Link = &LinkInfo{RTT: s.link.RTT.Seconds(), PacketsLost: s.link.PacketsLost,
			PacketsRetransmitted: s.link.PacketsRetransmitted, PacketsDropped: s.link.PacketsDropped}
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
			Name:             tr.name,
			Kind:             tr.kind.String(),
			Codec:            string(t.Codec),
			CodecString:      t.CodecString,
			Width:            t.Width,
			Height:           t.Height,
			FrameRate:        roundRate(fps),
			KeyframeInterval: tr.gop.Seconds(),
			SampleRate:       t.SampleRate,
			Channels:         t.Channels,
			Bitrate:          payload,
		})
		info.IngestBitrate += payload
	}
	return info
}
