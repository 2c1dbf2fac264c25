// Package redact strips secrets from what logs and errors show.
package redact

import (
	"net/url"
	"strings"
)

// URL is u without user info, query and fragment: what logs and errors may
// show of an endpoint that may carry a token in its URL. An unparsable URL
// is cut at its first '?', '#' or '@'.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#@"); i >= 0 {
			u = u[:i]
		}
		return u
	}
	p.User = nil
	p.RawQuery, p.ForceQuery, p.Fragment = "", false, ""
	return p.String()
}
