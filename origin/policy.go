package origin

import (
	"net/http"
	"strconv"
	"time"
)

// Kind is the kind of object a response carries. It decides the cache policy
// and labels the HTTP metrics.
type Kind string

const (
	KindMultivariant Kind = "multivariant"
	KindMediaList    Kind = "media_playlist"
	KindMPD          Kind = "mpd"
	KindInit         Kind = "init"
	KindSegment      Kind = "segment"
	// KindPart is an LL-HLS partial segment (a CMAF chunk).
	KindPart Kind = "part"
	// KindBlockingList is a media playlist answering a Blocking Playlist
	// Reload (_HLS_msn, rfc8216bis 6.2.5.2).
	KindBlockingList Kind = "media_playlist_blocking"
	KindTime         Kind = "time"
	KindOther        Kind = "other"
)

// cachePolicy is the one place that decides Cache-Control (DESIGN decision
// 9). Init segments, segments and parts never change under their URL
// (decision 3), so they are immutable for a year. Live playlists change
// every part: a CDN may hold them for at most a second, so a viewer is never
// more than a second behind the origin. An ended stream's playlists do not
// change until a new publisher replaces them, so they may be held a little
// longer. A blocking playlist response is answered only once the playlist
// holds the segment or part its URL names (_HLS_msn, _HLS_part), so its URL
// never gets a stale answer: it is cached for six target durations
// (rfc8216bis Appendix B.1), targetDuration being the stream's.
func cachePolicy(h http.Header, kind Kind, status int, segmentTarget, targetDuration time.Duration, ended bool) {
	var v string
	switch {
	case status == http.StatusServiceUnavailable:
		// Not yet available: must not be cached, the object appears in a moment.
		v = "no-store"
	case status == http.StatusNotFound:
		// Short negative TTL: enough to absorb a burst, short enough that a
		// stream starting now is seen within a second or two.
		v = "public, max-age=2"
	case status == http.StatusGone:
		v = "public, max-age=60"
	case status >= 400:
		v = "no-store"
	case kind == KindInit || kind == KindSegment || kind == KindPart:
		v = "public, max-age=31536000, immutable"
	case kind == KindBlockingList && !ended:
		ttl := max(int(6*targetDuration/time.Second), 1)
		v = "public, max-age=" + strconv.Itoa(ttl)
	case kind == KindMultivariant || kind == KindMediaList || kind == KindMPD || kind == KindBlockingList:
		ttl := 1
		if ended {
			ttl = int(segmentTarget / time.Second * 5)
		}
		v = "public, max-age=" + strconv.Itoa(ttl)
	default:
		v = "no-cache"
	}
	h.Set("Cache-Control", v)
}
