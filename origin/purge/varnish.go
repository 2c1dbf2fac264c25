package purge

import (
	"context"
	"net/http"
	"strings"
)

// Varnish modes.
const (
	VarnishXkey = "xkey"
	VarnishBan  = "ban"
)

// Headers of the contract with deploy/cdn/varnish/liveorigin.vcl (written
// down in docs/purge.md, "Varnish contract").
const (
	// HeaderXkeyPurge: PURGE / with the space-separated surrogate keys; the
	// VCL calls xkey.purge() (vmod_xkey) and answers 200 with X-Purged: N.
	HeaderXkeyPurge = "xkey-purge"
	// HeaderBanPrefix: BAN / with a URL path prefix; the VCL bans every
	// object whose URL starts with it.
	HeaderBanPrefix = "X-Ban-Prefix"
	// HeaderBanManifests: BAN / with a URL path prefix; the VCL bans the
	// objects under it whose URL path ends in .m3u8 or .mpd.
	HeaderBanManifests = "X-Ban-Manifests"
)

// varnish purges a Varnish listener through our VCL: xkey purges by
// surrogate key, or bans by URL prefix; paths are PURGEd one by one.
type varnish struct {
	*sender
	base    string
	mode    string
	host    string
	headers http.Header
}

func newVarnish(s *sender, c Config, env environment, p *problems) Backend {
	b := &varnish{sender: s, mode: c.Mode, host: c.Host}
	if b.mode == "" {
		b.mode = VarnishXkey
	}
	if b.mode != VarnishXkey && b.mode != VarnishBan {
		p.addf("mode %q: use xkey (purge by surrogate key, needs vmod_xkey) or ban", c.Mode)
	}
	if c.URL == "" {
		p.addf("url is required: the Varnish listener, e.g. http://127.0.0.1:6081")
	} else if u := checkBaseURL("url", c.URL, p); u != nil {
		b.base = strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	}
	if c.Host != "" {
		checkHost("host", c.Host, p)
	}
	b.headers = env.expandHeaders(c.Headers, p, &s.secrets)
	return b
}

func (b *varnish) Purge(ctx context.Context, r Request) error {
	ctx, cancel := b.attempt(ctx)
	defer cancel()
	if r.Scope == ScopePaths {
		// VCL: return (purge) on the request's hash (URL and Host), so the
		// Host header must be the one viewers send: config `host`.
		for _, path := range r.Paths {
			if err := b.one(ctx, r, "PURGE", path, "", "", func(code int) bool {
				return is2xx(code) || code == http.StatusNotFound
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if b.mode == VarnishXkey {
		return b.one(ctx, r, "PURGE", "/", HeaderXkeyPurge, strings.Join(r.Keys(), " "), is2xx)
	}
	h := HeaderBanPrefix
	if r.Scope == ScopeManifests {
		h = HeaderBanManifests
	}
	return b.one(ctx, r, "BAN", "/", h, r.Prefix(), is2xx)
}

func (b *varnish) one(ctx context.Context, r Request, method, path, header, value string, ok func(int) bool) error {
	req, err := b.newRequest(ctx, r, method, b.base+path, nil)
	if err != nil {
		return err
	}
	for k, vs := range b.headers {
		req.Header[k] = vs
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	if b.host != "" {
		req.Host = b.host
	}
	_, err = b.send(req, ok)
	return err
}
