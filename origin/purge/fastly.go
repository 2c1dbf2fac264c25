package purge

import (
	"context"
	"net/url"
	"strings"
)

// FastlyAPI is the Fastly API's base URL.
const FastlyAPI = "https://api.fastly.com"

// fastly purges by surrogate key, and paths by URL, through the Fastly API
// (Fastly API reference, "Purging").
type fastly struct {
	*sender
	api     string
	service string
	host    string
	token   string
	soft    bool
}

func newFastly(s *sender, c Config, env environment, p *problems) Backend {
	b := &fastly{sender: s, api: FastlyAPI, service: c.ServiceID, host: c.Host, soft: c.Soft}
	if c.APIURL != "" {
		if u := checkBaseURL("api-url", c.APIURL, p); u != nil {
			b.api = strings.TrimSuffix(c.APIURL, "/")
		}
	}
	if c.ServiceID == "" {
		p.addf("service-id is required (the Fastly service whose cache to purge)")
	} else if !validName(c.ServiceID) {
		p.addf("service-id %q is not a Fastly service ID", c.ServiceID)
	}
	if c.Host != "" {
		checkHost("host", c.Host, p)
	}
	b.token = env.token(c, p, &s.secrets)
	return b
}

func (b *fastly) Purge(ctx context.Context, r Request) error {
	ctx, cancel := b.attempt(ctx)
	defer cancel()
	if r.Scope == ScopePaths {
		if b.host == "" {
			return errUnsupported("paths scope needs `host` (the hostname viewers use)")
		}
		// "Purge a URL" (purge_single_url): POST /purge/{cached_url},
		// cached_url being the hostname and path without scheme.
		for _, path := range r.Paths {
			if err := b.one(ctx, r, b.api+"/purge/"+b.host+path, ""); err != nil {
				return err
			}
		}
		return nil
	}
	// "Purge multiple surrogate key tags" (bulk_purge_tag): POST
	// /service/{service_id}/purge with up to 256 keys, space separated, in
	// Surrogate-Key.
	return b.one(ctx, r, b.api+"/service/"+url.PathEscape(b.service)+"/purge", strings.Join(r.Keys(), " "))
}

func (b *fastly) one(ctx context.Context, r Request, target, keys string) error {
	req, err := b.newRequest(ctx, r, "POST", target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Fastly-Key", b.token)
	req.Header.Set("Accept", "application/json")
	if keys != "" {
		req.Header.Set("Surrogate-Key", keys)
	}
	if b.soft {
		// "Soft purging": mark stale instead of evicting.
		req.Header.Set("Fastly-Soft-Purge", "1")
	}
	_, err = b.send(req, is2xx)
	return err
}
