package purge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/liveorigin/liveorigin/internal/redact"
)

// CloudflareAPI is the Cloudflare API's base URL.
const CloudflareAPI = "https://api.cloudflare.com"

// Cloudflare modes.
const (
	CloudflareTags   = "tags"
	CloudflarePrefix = "prefix"
)

// cloudflareFilesPerCall: URLs per purge call. Cloudflare's "Purge cache"
// limits allow 100 operations per request today (500 on Enterprise); 30 was
// the long-standing limit and stays within every plan and older accounts.
const cloudflareFilesPerCall = 30

// cloudflare purges a zone by cache tag or URL prefix, and paths by URL
// (Cloudflare API, "Purge Cached Content": POST /zones/{zone_id}/purge_cache).
type cloudflare struct {
	*sender
	api   string
	zone  string
	host  string
	mode  string
	token string
}

func newCloudflare(s *sender, c Config, env environment, p *problems) Backend {
	b := &cloudflare{sender: s, api: CloudflareAPI, zone: c.ZoneID, host: c.Host, mode: c.Mode}
	if c.APIURL != "" {
		if u := checkBaseURL("api-url", c.APIURL, p); u != nil {
			b.api = strings.TrimSuffix(c.APIURL, "/")
		}
	}
	if b.mode == "" {
		b.mode = CloudflareTags
	}
	if b.mode != CloudflareTags && b.mode != CloudflarePrefix {
		p.addf("mode %q: use tags (purge by Cache-Tag) or prefix (purge by URL prefix)", c.Mode)
	}
	if c.ZoneID == "" {
		p.addf("zone-id is required (the zone whose cache to purge)")
	} else if !validName(c.ZoneID) {
		p.addf("zone-id %q is not a Cloudflare zone ID", c.ZoneID)
	}
	switch {
	case c.Host != "":
		checkHost("host", c.Host, p)
	case b.mode == CloudflarePrefix:
		p.addf("host is required in mode prefix (prefixes are HOST/live/NAME/)")
	}
	b.token = env.token(c, p, &s.secrets)
	return b
}

// cloudflarePurge is the request body: one of its fields.
type cloudflarePurge struct {
	Tags     []string `json:"tags,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
	Files    []string `json:"files,omitempty"`
}

func (b *cloudflare) Purge(ctx context.Context, r Request) error {
	ctx, cancel := b.attempt(ctx)
	defer cancel()
	switch {
	case r.Scope == ScopePaths:
		if b.host == "" {
			return errUnsupported("paths scope needs `host` (the hostname viewers use)")
		}
		urls := make([]string, len(r.Paths))
		for i, path := range r.Paths {
			urls[i] = "https://" + b.host + path
		}
		for _, batch := range batches(urls, cloudflareFilesPerCall) {
			if err := b.one(ctx, r, cloudflarePurge{Files: batch}); err != nil {
				return err
			}
		}
		return nil
	case b.mode == CloudflarePrefix:
		// A prefix is host and path without scheme. The manifests have no
		// prefix of their own: the stream's prefix purges them with the
		// (immutable) segments.
		return b.one(ctx, r, cloudflarePurge{Prefixes: []string{b.host + r.Prefix()}})
	default:
		return b.one(ctx, r, cloudflarePurge{Tags: r.Keys()})
	}
}

// cloudflareAnswer is the API's envelope.
type cloudflareAnswer struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (b *cloudflare) one(ctx context.Context, r Request, body cloudflarePurge) error {
	js, err := json.Marshal(body)
	if err != nil {
		return Permanent(err)
	}
	req, err := b.newRequest(ctx, r, "POST", b.api+"/client/v4/zones/"+url.PathEscape(b.zone)+"/purge_cache", js)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	ans, err := b.send(req, is2xx)
	if err != nil {
		return err
	}
	var a cloudflareAnswer
	if err := json.Unmarshal(ans, &a); err != nil {
		return b.secrets.err(fmt.Errorf("POST %s: the answer is not Cloudflare's JSON: %w", redact.URL(req.URL.String()), err))
	}
	if !a.Success {
		msgs := make([]string, 0, len(a.Errors))
		for _, e := range a.Errors {
			msgs = append(msgs, fmt.Sprintf("%d %s", e.Code, e.Message))
		}
		if len(msgs) == 0 {
			msgs = append(msgs, "success is false")
		}
		return b.secrets.err(Permanent(errors.New("cloudflare refused the purge: " + strings.Join(msgs, "; "))))
	}
	return nil
}
