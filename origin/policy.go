package origin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/liveorigin/liveorigin/origin/purge"
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

// manifest reports whether the kind is a playlist or an MPD: what changes
// under its URL while a stream is live.
func (k Kind) manifest() bool {
	return k == KindMultivariant || k == KindMediaList || k == KindMPD || k == KindBlockingList
}

// cacheInput is what the cache policy depends on.
type cacheInput struct {
	kind   Kind
	status int
	// stream is the stream the URL belongs to ("" for /time and unknown
	// paths): it names the surrogate keys.
	stream string
	// segmentTarget is the configured segment target; targetDuration the
	// stream's EXT-X-TARGETDURATION (0 when unknown); lowLatency whether the
	// stream has parts; ended whether it has ended.
	segmentTarget, targetDuration time.Duration
	lowLatency, ended             bool
	// tokenRefused: a 403 for a playback token (playauth.go).
	tokenRefused bool
	// keys are the stream's prebuilt surrogate key headers; nil: built
	// for this answer.
	keys *surrogateKeys
}

// Cache lifetimes, in seconds.
const (
	immutableTTL = 31536000 // a year: init segments, segments, parts
	notFoundTTL  = 2        // a short negative TTL: absorbs a burst, a new stream is seen at once
	goneTTL      = 60       // a segment that left the window, a taken-down stream
	// tokenRefusedTTL is how long a viewer's browser keeps a 403 for a
	// playback token; shared caches do not store it.
	tokenRefusedTTL = 2
)

// cachePolicy is the one place that decides the caching headers of a
// playback response (DESIGN decision 9; docs/cdn.md). Every response gets:
//
//   - Cache-Control for browsers and any cache;
//   - CDN-Cache-Control (RFC 9213) and Surrogate-Control for CDNs, which
//     prefer them to Cache-Control: a CDN may serve a live playlist a
//     moment stale while it revalidates (stale-while-revalidate), which a
//     browser must not;
//   - the surrogate keys of the stream (Surrogate-Key for Fastly and
//     Varnish xkey, Cache-Tag for Cloudflare, Edge-Cache-Tag for Akamai):
//     stream-NAME on everything under /live/NAME/, and manifests-NAME on
//     its playlists and MPD, so one purge forgets a whole stream or just
//     its manifests (negative answers too: a 404 cached before a stream
//     started is purged when it starts).
//
// Init segments, segments and parts never change under their URL (decision
// 3): immutable for a year. A live playlist changes with every segment or
// part: browsers and CDNs keep it at most a second (half a segment target
// for a CDN without low latency), and a CDN may serve it for as long again
// while it fetches the new one. A blocking playlist answer is only given
// once the playlist has what its URL names, so it is never stale: six
// target durations (rfc8216bis Appendix B.1). An ended stream's playlists
// change only if a new publisher replaces them (which purges them): five
// segment targets. Not yet available (503), malformed (400) and forbidden
// (403) answers are never stored by a shared cache; unknown objects are,
// briefly (404); gone ones for a minute (410). A 403 for a playback token
// is kept by the viewer's browser for a moment (private), never by a CDN,
// which may key it without the token (docs/security.md); the redirect of a
// token in the query to the path is not stored (302).
func cachePolicy(h http.Header, in cacheInput) {
	switch {
	case in.status == http.StatusOK && (in.kind == KindInit || in.kind == KindSegment || in.kind == KindPart):
		setPolicy(h, immutablePolicy)
	case in.status == http.StatusOK && in.kind.manifest() && !in.ended && in.lowLatency && in.kind != KindBlockingList:
		setPolicy(h, livePolicy)
	default:
		browser, cdn := cacheLifetimes(in)
		h.Set("Cache-Control", browser)
		h.Set("CDN-Cache-Control", cdn)
		h.Set("Surrogate-Control", surrogateControl(cdn))
	}
	if in.stream == "" {
		return
	}
	keys := in.keys
	if keys == nil {
		keys = newSurrogateKeys(in.stream)
	}
	keys.set(h, in.kind.manifest())
}

// policy holds prebuilt header values (shared, never modified) for the
// answers served most: a response sets them without allocating.
type policy struct{ cc, cdn, sc []string }

var (
	immutablePolicy = newPolicy("public, max-age="+strconv.Itoa(immutableTTL)+", immutable", "")
	livePolicy      = newPolicy("public, max-age=1", "public, max-age=1, stale-while-revalidate=1")
)

func newPolicy(browser, cdn string) policy {
	if cdn == "" {
		cdn = browser
	}
	return policy{cc: []string{browser}, cdn: []string{cdn}, sc: []string{surrogateControl(cdn)}}
}

func setPolicy(h http.Header, p policy) {
	h["Cache-Control"] = p.cc
	h["Cdn-Cache-Control"] = p.cdn
	h["Surrogate-Control"] = p.sc
}

// cacheLifetimes computes the browser and CDN cache directives.
func cacheLifetimes(in cacheInput) (browser, cdn string) {
	switch {
	case in.status == http.StatusNotFound:
		browser = "public, max-age=" + strconv.Itoa(notFoundTTL)
	case in.status == http.StatusGone:
		browser = "public, max-age=" + strconv.Itoa(goneTTL)
	case in.status == http.StatusForbidden && in.tokenRefused:
		browser, cdn = "private, max-age="+strconv.Itoa(tokenRefusedTTL), "no-store"
	case in.status == http.StatusFound:
		// A signed URL's redirect from the query to the path form
		// (playauth.go): one per viewer, never worth storing.
		browser = "no-store"
	case in.status >= 400:
		browser = "no-store"
	case in.kind == KindInit || in.kind == KindSegment || in.kind == KindPart:
		browser = immutablePolicy.cc[0]
	case in.kind == KindBlockingList && !in.ended:
		browser = "public, max-age=" + strconv.Itoa(max(int(6*in.targetDuration/time.Second), 1))
	case in.kind.manifest() && in.ended:
		browser = "public, max-age=" + strconv.Itoa(max(int(5*in.segmentTarget/time.Second), 1))
	case in.kind.manifest():
		browser = "public, max-age=1"
		ttl := 1
		if !in.lowLatency {
			ttl = max(int(in.segmentTarget/2/time.Second), 1)
		}
		t := strconv.Itoa(ttl)
		cdn = "public, max-age=" + t + ", stale-while-revalidate=" + t
	case in.kind == KindTime:
		browser = "no-store"
	default:
		browser = "no-cache"
	}
	if cdn == "" {
		cdn = browser
	}
	return browser, cdn
}

// surrogateControl turns a CDN-Cache-Control value into Surrogate-Control
// (which has no "public" and no "immutable"; no-store stays no-store).
func surrogateControl(cc string) string {
	switch cc {
	case "no-store", "no-cache":
		return cc
	}
	out := make([]byte, 0, len(cc))
	for len(cc) > 0 {
		var d string
		d, cc = cutDirective(cc)
		if d == "public" || d == "immutable" || d == "" {
			continue
		}
		if len(out) > 0 {
			out = append(out, ", "...)
		}
		out = append(out, d...)
	}
	return string(out)
}

func cutDirective(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			j := i + 1
			for j < len(s) && s[j] == ' ' {
				j++
			}
			return s[:i], s[j:]
		}
	}
	return s, ""
}

// surrogateKeys are a stream's key headers, built once per stream: space
// separated for Surrogate-Key, comma separated for the cache tags.
type surrogateKeys struct {
	object, manifestKeys, manifestTags []string
}

func newSurrogateKeys(stream string) *surrogateKeys {
	// Every response under /live/NAME/ carries the stream key, playlists
	// and MPDs the manifest key too: purging the first forgets the whole
	// stream, the second its playlists and MPD.
	s, m := purge.StreamKey(stream), purge.ManifestKey(stream)
	return &surrogateKeys{object: []string{s}, manifestKeys: []string{s + " " + m}, manifestTags: []string{s + "," + m}}
}

// set writes the keys; the slices are shared and never modified.
func (k *surrogateKeys) set(h http.Header, manifest bool) {
	if manifest {
		h["Surrogate-Key"] = k.manifestKeys
		h["Cache-Tag"] = k.manifestTags
		h["Edge-Cache-Tag"] = k.manifestTags
		return
	}
	h["Surrogate-Key"] = k.object
	h["Cache-Tag"] = k.object
	h["Edge-Cache-Tag"] = k.object
}
