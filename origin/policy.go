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
	KindTime         Kind = "time"
	KindOther        Kind = "other"
)

// cachePolicy is the one place that decides Cache-Control (DESIGN decision
// 9). Init segments and segments never change under their URL (decision 3),
// so they are immutable for a year. Live playlists change every segment: a
// CDN may hold them for at most a second, so a viewer is never more than a
// second behind the origin. An ended stream's playlists do not change until a
// new publisher replaces them, so they may be held a little longer.
func cachePolicy(h http.Header, kind Kind, status int, segmentTarget time.Duration, ended bool) {
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
	case kind == KindInit || kind == KindSegment:
		v = "public, max-age=31536000, immutable"
	case kind == KindMultivariant || kind == KindMediaList || kind == KindMPD:
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
