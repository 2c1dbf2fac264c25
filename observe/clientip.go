package observe

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ForwardedFor is the client's address as the proxy or CDN in front states
// it in a header's value (client-ip-header, playback-token-client-ip-header):
// its last comma-separated element, trimmed. In a list (X-Forwarded-For)
// the last entry is the one that proxy appended; the ones before it came
// from the client and may be forged. "" when there is none.
func ForwardedFor(value string) string {
	if i := strings.LastIndexByte(value, ','); i >= 0 {
		value = value[i+1:]
	}
	return strings.TrimSpace(value)
}

// ValidHeaderName reports whether name can name a request header in an
// option: an HTTP field name (RFC 9110 token).
func ValidHeaderName(name string) bool {
	return httpguts.ValidHeaderFieldName(name)
}
