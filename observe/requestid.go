package observe

import (
	"math/rand/v2"
	"strings"
)

// RequestIDHeader carries a request's id, in both directions: a sane id
// that a proxy or CDN sends is kept, otherwise the origin makes one; the
// response carries it back, and the access log line shows it.
const RequestIDHeader = "X-Request-Id"

// MaxRequestIDLen bounds an incoming request id.
const MaxRequestIDLen = 64

// SaneRequestID reports whether an incoming request id may be kept: 1 to
// MaxRequestIDLen characters of [A-Za-z0-9._:/+=-] (what CDNs and proxies
// send: hex, UUIDs, base64, Cloudflare's "8b1d…-FRA"), nothing a log
// reader could mistake for structure.
func SaneRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:/+=-", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// NewRequestID writes a fresh request id into dst: 16 hex digits of a
// random 64-bit number (unique enough to find one request among a day's
// of every instance's). It does not allocate: the caller owns dst.
func NewRequestID(dst *[16]byte) {
	const hexDigits = "0123456789abcdef"
	v := rand.Uint64()
	for i := 15; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// RedactQuery returns a raw query string for a log line: the LL-HLS
// delivery directives (_HLS_*) keep their values, every other value (a
// CDN token, a signed-URL signature, a publish key) becomes "REDACTED".
// Keys are kept so that the line still says what was sent; a bare
// parameter without "=" may itself be a token and is redacted whole.
func RedactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; raw != ""; i++ {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if i > 0 {
			b.WriteByte('&')
		}
		k, _, hasValue := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "_HLS_"):
			b.WriteString(kv)
		case hasValue:
			b.WriteString(k)
			b.WriteString("=REDACTED")
		default:
			b.WriteString("REDACTED") // a bare token
		}
	}
	return b.String()
}
