package origin

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/liveorigin/liveorigin/manifest"
)

// hlsQuery holds the delivery directives of a media playlist request
// (rfc8216bis 6.2.5): query parameters starting with "_HLS_".
type hlsQuery struct {
	// msn and part are _HLS_msn and _HLS_part; hasMSN and hasPart tell
	// whether they were given.
	msn, part       uint64
	hasMSN, hasPart bool
	// skip is _HLS_skip.
	skip manifest.Skip
}

// blocking reports whether the request is a Blocking Playlist Reload.
func (q hlsQuery) blocking() bool { return q.hasMSN }

// parseHLSQuery reads the delivery directives from a raw query string. Other
// parameters (a CDN's tokens, cache busters) are ignored, and so are unknown
// "_HLS_" names (reserved for future directives). Errors (400) are: a
// directive given twice, a value that is not a decimal-integer of at most
// 2^64-1 (4.2) or not YES/v2 for _HLS_skip, and _HLS_part without _HLS_msn
// (6.2.5.2).
func parseHLSQuery(raw string) (hlsQuery, error) {
	var q hlsQuery
	var hasSkip bool
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if !strings.Contains(kv, "_") && !strings.Contains(kv, "%") {
			continue // cannot be an _HLS_ directive, escaped or not
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || !strings.HasPrefix(key, "_HLS_") {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return hlsQuery{}, fmt.Errorf("%w: %s: bad escape", errBadRequest, key)
		}
		switch key {
		case "_HLS_msn":
			if q.hasMSN {
				return hlsQuery{}, fmt.Errorf("%w: _HLS_msn given twice", errBadRequest)
			}
			if q.msn, err = decimalInteger(val); err != nil {
				return hlsQuery{}, fmt.Errorf("%w: _HLS_msn: %v", errBadRequest, err)
			}
			q.hasMSN = true
		case "_HLS_part":
			if q.hasPart {
				return hlsQuery{}, fmt.Errorf("%w: _HLS_part given twice", errBadRequest)
			}
			if q.part, err = decimalInteger(val); err != nil {
				return hlsQuery{}, fmt.Errorf("%w: _HLS_part: %v", errBadRequest, err)
			}
			q.hasPart = true
		case "_HLS_skip":
			if hasSkip {
				return hlsQuery{}, fmt.Errorf("%w: _HLS_skip given twice", errBadRequest)
			}
			hasSkip = true
			switch val {
			case "YES":
				q.skip = manifest.SkipYes
			case "v2":
				q.skip = manifest.SkipV2
			default:
				return hlsQuery{}, fmt.Errorf("%w: _HLS_skip=%q (YES or v2)", errBadRequest, val)
			}
		}
	}
	if q.hasPart && !q.hasMSN {
		return hlsQuery{}, fmt.Errorf("%w: _HLS_part without _HLS_msn", errBadRequest)
	}
	return q, nil
}

// decimalInteger parses an rfc8216bis decimal-integer: 1 to 20 digits, at
// most 2^64-1. No sign, no spaces.
func decimalInteger(s string) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("%q is not a decimal-integer", s)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal-integer", s)
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, fmt.Errorf("%q is above 2^64-1", s)
		}
		v = v*10 + d
	}
	return v, nil
}
