package purge

import (
	"errors"
	"fmt"

	"github.com/liveorigin/liveorigin/ingest"
)

// Scope says what a Request forgets.
type Scope int

const (
	// ScopeManifests: the stream's playlists and MPD (a stream ended; a
	// publisher returned after its window was dropped).
	ScopeManifests Scope = iota
	// ScopeStream: everything of the stream (takedown).
	ScopeStream
	// ScopePaths: the given URL paths only (manual purge).
	ScopePaths
)

// String is the scope's name in logs and the admin API.
func (s Scope) String() string {
	switch s {
	case ScopeManifests:
		return "manifests"
	case ScopeStream:
		return "stream"
	case ScopePaths:
		return "paths"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope is the inverse of Scope.String, for the admin API.
func ParseScope(s string) (Scope, error) {
	switch s {
	case "manifests":
		return ScopeManifests, nil
	case "stream":
		return ScopeStream, nil
	case "paths":
		return ScopePaths, nil
	}
	return 0, fmt.Errorf("purge: unknown scope %q (use manifests, stream or paths)", s)
}

// Reasons a purge is made, for Request.Reason.
const (
	ReasonStreamEnd = "stream_end"
	ReasonTakedown  = "takedown"
	ReasonRepublish = "republish"
	ReasonManual    = "manual"
)

// MaxPaths is the most paths one Request may carry; MaxPathLen the longest
// path.
const (
	MaxPaths   = 1000
	MaxPathLen = 1024
)

// Request is one purge.
type Request struct {
	// Stream is the stream name (ingest.ValidateName). Required, also for
	// ScopePaths: it is logged and sent as {stream}.
	Stream string
	Scope  Scope
	// Paths are URL paths, e.g. "/live/NAME/v0.m3u8": ScopePaths only.
	Paths []string
	// Reason is one of the Reason constants; it is logged, not a metric
	// label (labels stay bounded).
	Reason string
	// TraceParent is the W3C traceparent of the cause, sent as a
	// `traceparent` header by the HTTP backends when it is well-formed.
	TraceParent string

	// id is set by Queue.Enqueue and is the same for every backend and
	// every attempt: CloudFront's CallerReference, so a retry of an
	// invalidation that did reach CloudFront is not made twice.
	id string
}

// StreamKey is the surrogate key (cache tag) on every response of a stream.
func StreamKey(name string) string { return "stream-" + name }

// ManifestKey is the surrogate key (cache tag) on a stream's playlists and
// MPDs, next to StreamKey.
func ManifestKey(name string) string { return "manifests-" + name }

// Keys are the surrogate keys that the request purges: ScopeStream:
// [StreamKey]; ScopeManifests: [ManifestKey]; ScopePaths: none.
func (r Request) Keys() []string {
	switch r.Scope {
	case ScopeStream:
		return []string{StreamKey(r.Stream)}
	case ScopeManifests:
		return []string{ManifestKey(r.Stream)}
	}
	return nil
}

// Prefix is the URL path prefix of every object of the stream,
// "/live/NAME/".
func (r Request) Prefix() string { return "/" + ingest.App + "/" + r.Stream + "/" }

// Validate checks the request as Enqueue does; the admin API calls it to
// answer 400 with the reason.
func (r Request) Validate() error {
	if err := ingest.ValidateName(r.Stream); err != nil {
		return fmt.Errorf("purge: stream: %w", err)
	}
	switch r.Scope {
	case ScopeManifests, ScopeStream:
		if len(r.Paths) != 0 {
			return fmt.Errorf("purge: paths are only for scope paths, not %s", r.Scope)
		}
	case ScopePaths:
		if len(r.Paths) == 0 {
			return errors.New("purge: scope paths needs at least one path")
		}
		if len(r.Paths) > MaxPaths {
			return fmt.Errorf("purge: %d paths, at most %d in one request", len(r.Paths), MaxPaths)
		}
		for _, p := range r.Paths {
			if err := validatePath(p); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("purge: unknown scope %d", int(r.Scope))
	}
	return nil
}

// validatePath accepts an absolute URL path (and query) made of RFC 3986
// characters, without '*': a wildcard means something different to each CDN
// (CloudFront "/*" is everything), so a manual purge names objects.
// Everything accepted is safe to put into a JSON string, a header and a URL
// path without escaping.
func validatePath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("purge: path %q must start with '/'", p)
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("purge: path of %d bytes, at most %d", len(p), MaxPathLen)
	}
	for i := 0; i < len(p); i++ {
		if !pathByte(p[i]) {
			return fmt.Errorf("purge: path %q has character %q; percent-encode it (RFC 3986), wildcards are not allowed", p, p[i])
		}
	}
	return nil
}

// pathByte: RFC 3986 unreserved, sub-delims except '*', and ":@/?%".
func pathByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '+', ',', ';', '=', ':', '@', '/', '?', '%':
		return true
	}
	return false
}

// validTraceParent reports whether s has the W3C Trace Context version-00
// form "00-<32 hex>-<16 hex>-<2 hex>" (W3C Trace Context 3.2). Anything else
// is not sent: a header from an untrusted caller goes nowhere unchecked.
func validTraceParent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s[:2] != "ff"
}
