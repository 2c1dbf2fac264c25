package purge

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// httpBackend is the generic backend: a method, a URL template, headers and
// a body template. Placeholders: {stream}, {keys} (space separated), {key}
// (one request per key), {path} (one request per path; for the stream and
// manifest scopes the stream's prefix /live/NAME/).
type httpBackend struct {
	*sender
	method  string
	url     string
	body    string
	headers http.Header
	perKey  bool
	perPath bool
}

func newHTTPBackend(s *sender, c Config, env environment, p *problems) Backend {
	b := &httpBackend{sender: s, method: strings.ToUpper(c.Method)}
	if b.method == "" {
		b.method = "PURGE"
	}
	if !validToken(b.method) {
		p.addf("method %q is not an HTTP method", c.Method)
	}
	if c.URL == "" {
		p.addf("url is required, e.g. http://cache.internal:6081{path}")
		return nil
	}
	b.url = env.expand(c.URL, "url", p, &s.secrets)
	b.body = env.expand(c.Body, "body", p, &s.secrets)
	b.headers = env.expandHeaders(c.Headers, p, &s.secrets)
	uses := func(ph string) bool {
		if strings.Contains(c.URL, ph) || strings.Contains(c.Body, ph) {
			return true
		}
		for _, v := range c.Headers {
			if strings.Contains(v, ph) {
				return true
			}
		}
		return false
	}
	b.perKey, b.perPath = uses("{key}"), uses("{path}")
	if b.perKey && b.perPath {
		p.addf("use {key} or {path}, not both: each makes one request per item")
	}
	// Check the URL with sample values in the placeholders; print the
	// template, not the expansion (it may hold a secret).
	sample := strings.NewReplacer("{stream}", "s", "{keys}", "k", "{key}", "k", "{path}", "/p").Replace(b.url)
	if u, err := url.Parse(sample); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.addf("url %q is not an http:// or https:// URL template", safeTemplate(c.URL))
	}
	return b
}

var userinfoRE = regexp.MustCompile(`://[^/@]*@`)

// safeTemplate is a URL template without its query and user info, for
// errors (safeURL would escape the placeholders).
func safeTemplate(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return userinfoRE.ReplaceAllString(u, "://")
}

// validToken: an HTTP method is a token (RFC 9110 5.6.2).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func (b *httpBackend) Purge(ctx context.Context, r Request) error {
	ctx, cancel := b.attempt(ctx)
	defer cancel()
	keys := r.Keys()
	fill := map[string]string{"{stream}": r.Stream, "{keys}": strings.Join(keys, " ")}
	var items []string
	var item string
	switch {
	case b.perPath:
		item, items = "{path}", r.Paths
		if r.Scope != ScopePaths {
			items = []string{r.Prefix()}
		}
	case b.perKey:
		if len(keys) == 0 {
			return errUnsupported("%s scope has no surrogate keys; add {path} to the templates to purge paths", r.Scope)
		}
		item, items = "{key}", keys
	default:
		if r.Scope == ScopePaths {
			return errUnsupported("paths scope needs {path} in the templates")
		}
		items = []string{""}
	}
	for _, it := range items {
		if item != "" {
			fill[item] = it
		}
		if err := b.one(ctx, r, fill); err != nil {
			return err
		}
	}
	return nil
}

func (b *httpBackend) one(ctx context.Context, r Request, fill map[string]string) error {
	raw := make([]string, 0, 2*len(fill))
	esc := make([]string, 0, 2*len(fill))
	for k, v := range fill {
		raw = append(raw, k, v)
		if k == "{path}" {
			esc = append(esc, k, v) // already a URL path (validatePath)
		} else {
			esc = append(esc, k, url.PathEscape(v)) // "{keys}": space as %20
		}
	}
	rawR, escR := strings.NewReplacer(raw...), strings.NewReplacer(esc...)
	var body []byte
	if b.body != "" {
		body = []byte(rawR.Replace(b.body))
	}
	req, err := b.newRequest(ctx, r, b.method, escR.Replace(b.url), body)
	if err != nil {
		return err
	}
	for k, vs := range b.headers {
		for _, v := range vs {
			if k == "Host" {
				req.Host = rawR.Replace(v) // net/http ignores a Host in Header
				continue
			}
			req.Header.Add(k, rawR.Replace(v))
		}
	}
	_, err = b.send(req, func(code int) bool {
		// A PURGE of an object the cache does not hold is a 404 in Varnish
		// and most proxies: nothing to forget is success.
		return is2xx(code) || code == http.StatusNotFound && b.method == "PURGE"
	})
	return err
}
