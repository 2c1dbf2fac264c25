package purge

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/akamai/AkamaiOPEN-edgegrid-golang/v12/pkg/edgegrid"
	"gopkg.in/ini.v1"
)

// akamaiMaxBody: Fast Purge v3 takes at most 50,000 bytes of request body
// (Akamai TechDocs, Fast Purge API v3, "Rate limiting"/413); stay under it.
const akamaiMaxBody = 45000

// akamai purges through Fast Purge v3 by cache tag, and paths by URL,
// EdgeGrid-signed (EG1-HMAC-SHA256) with Akamai's edgegrid library.
type akamai struct {
	*sender
	cred    edgegrid.Config
	network string
	action  string
	host    string
}

func newAkamai(s *sender, c Config, env environment, p *problems) Backend {
	b := &akamai{sender: s, network: c.Network, action: c.Action, host: c.Host}
	if b.network == "" {
		b.network = "production"
	}
	if b.network != "production" && b.network != "staging" {
		p.addf("network %q: use production or staging", c.Network)
	}
	if b.action == "" {
		b.action = "invalidate"
	}
	if b.action != "invalidate" && b.action != "delete" {
		p.addf("action %q: use invalidate (refetch when requested) or delete", c.Action)
	}
	if c.Host != "" {
		checkHost("host", c.Host, p)
	}
	section := c.EdgercSection
	if section == "" {
		section = edgegrid.DefaultSection
	}
	var ok bool
	if c.EdgercFile != "" {
		b.cred, ok = env.edgerc(c.EdgercFile, section, p)
	} else {
		b.cred, ok = env.edgegridEnv(section, p)
	}
	if !ok {
		return b
	}
	for _, v := range []string{b.cred.ClientToken, b.cred.ClientSecret, b.cred.AccessToken} {
		s.secrets.add(v)
	}
	if b.cred.MaxBody <= 0 {
		// The content hash covers at most MaxBody bytes: 0 would sign an
		// empty body.
		b.cred.MaxBody = edgegrid.MaxBodySize
	}
	if strings.Contains(b.cred.Host, "://") || b.cred.Validate() != nil {
		p.addf("the EdgeGrid host must be a hostname such as akab-xxxx.purge.akamaiapis.net, without scheme or trailing slash")
	}
	return b
}

// edgerc reads credentials from an .edgerc file (INI, like Akamai's tools).
// Parse errors are not quoted: the line could be a secret.
func (e environment) edgerc(file, section string, p *problems) (edgegrid.Config, bool) {
	var cred edgegrid.Config
	data, err := e.readFile(file)
	if err != nil {
		p.addf("edgerc-file: %v", err)
		return cred, false
	}
	f, err := ini.Load(data)
	if err != nil {
		p.addf("edgerc-file %s is not an INI file like Akamai's .edgerc", file)
		return cred, false
	}
	sec, err := f.GetSection(section)
	if err != nil {
		p.addf("edgerc-file %s has no section [%s] (set edgerc-section)", file, section)
		return cred, false
	}
	if err := sec.MapTo(&cred); err != nil {
		p.addf("edgerc-file %s, section [%s]: a value has the wrong type", file, section)
		return cred, false
	}
	ok := true
	for _, k := range []string{"host", "client_token", "client_secret", "access_token"} {
		if !sec.HasKey(k) || strings.TrimSpace(sec.Key(k).String()) == "" {
			p.addf("edgerc-file %s, section [%s]: %s is missing", file, section, k)
			ok = false
		}
	}
	return cred, ok
}

// edgegridEnv reads the variables Akamai's tools read: AKAMAI_HOST,
// AKAMAI_CLIENT_TOKEN, AKAMAI_CLIENT_SECRET, AKAMAI_ACCESS_TOKEN, and with a
// section other than "default" AKAMAI_{SECTION}_HOST and so on.
func (e environment) edgegridEnv(section string, p *problems) (edgegrid.Config, bool) {
	prefix := "AKAMAI_"
	if section != edgegrid.DefaultSection {
		prefix += strings.ToUpper(section) + "_"
	}
	var cred edgegrid.Config
	ok := true
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"HOST", &cred.Host},
		{"CLIENT_TOKEN", &cred.ClientToken},
		{"CLIENT_SECRET", &cred.ClientSecret},
		{"ACCESS_TOKEN", &cred.AccessToken},
	} {
		*f.dst = strings.TrimSpace(e.getenv(prefix + f.name))
		if *f.dst == "" {
			p.addf("no edgerc-file, and environment variable %s%s is empty or unset", prefix, f.name)
			ok = false
		}
	}
	cred.AccountKey = strings.TrimSpace(e.getenv(prefix + "ACCOUNT_KEY"))
	return cred, ok
}

func (b *akamai) Purge(ctx context.Context, r Request) error {
	ctx, cancel := b.attempt(ctx)
	defer cancel()
	kind, objects := "tag", r.Keys()
	if r.Scope == ScopePaths {
		if b.host == "" {
			return errUnsupported("paths scope needs `host` (the hostname viewers use)")
		}
		kind, objects = "url", make([]string, len(r.Paths))
		for i, path := range r.Paths {
			objects[i] = "https://" + b.host + path
		}
	}
	// POST /ccu/v3/{invalidate|delete}/{tag|url}/{network} with
	// {"objects": [...]} (Fast Purge API v3, "Invalidate by cache tag",
	// "Invalidate by URL or ARL"; the delete forms alike).
	target := "https://" + b.cred.Host + "/ccu/v3/" + b.action + "/" + kind + "/" + b.network
	for _, batch := range batchBytes(objects, akamaiMaxBody) {
		body, err := json.Marshal(struct {
			Objects []string `json:"objects"`
		}{batch})
		if err != nil {
			return Permanent(err)
		}
		req, err := b.newRequest(ctx, r, "POST", target, body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		// Signs method, scheme, host, path and query, the SHA-256 of the
		// body, timestamp and nonce (EdgeGrid, "Authorization header").
		b.cred.SignRequest(req)
		if _, err := b.send(req, is2xx); err != nil { // 201 Created
			return err
		}
	}
	return nil
}

// batchBytes splits items so that each group's JSON array stays under max
// bytes.
func batchBytes(items []string, max int) [][]string {
	var out [][]string
	var cur []string
	size := 0
	for _, it := range items {
		n := len(it) + 3 // quotes and comma
		if len(cur) > 0 && size+n > max {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, it)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
