package purge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/liveorigin/liveorigin/internal/redact"
)

// Backend types.
const (
	TypeHTTP       = "http"
	TypeVarnish    = "varnish"
	TypeFastly     = "fastly"
	TypeCloudflare = "cloudflare"
	TypeAkamai     = "akamai"
	TypeCloudFront = "cloudfront"
)

var typeNames = []string{TypeHTTP, TypeVarnish, TypeFastly, TypeCloudflare, TypeAkamai, TypeCloudFront}

// Backend is one CDN (or cache) that can be told to forget.
type Backend interface {
	// Name is the configured name, for logs and the `backend` metric label.
	Name() string
	// Purge makes one attempt. An error marked Permanent (or a *StatusError
	// for a 4xx other than 408/429) is not retried.
	Purge(ctx context.Context, r Request) error
}

// Config is one backend in the daemon's config file, under a top-level
// `purge:` list. docs/purge.md has every type's keys and an example.
type Config struct {
	// Name is the backend's name in logs and metrics; default the type. Two
	// backends of one type need names.
	Name string `yaml:"name"`
	// Type is http, varnish, fastly, cloudflare, akamai or cloudfront.
	Type string `yaml:"type"`
	// Timeout bounds one attempt of this backend; the queue's attempt
	// timeout (default 10s) applies too, the shorter wins.
	Timeout time.Duration `yaml:"timeout"`

	// URL (http: a template; varnish: the listener's base URL).
	URL string `yaml:"url"`
	// Method (http): default PURGE.
	Method string `yaml:"method"`
	// Headers (http, varnish): sent with every request; values may hold
	// ${ENV_VAR} (and, for http, the placeholders).
	Headers map[string]string `yaml:"headers"`
	// Body (http): a template.
	Body string `yaml:"body"`
	// Mode: varnish xkey (default) or ban; cloudflare tags (default) or
	// prefix; cloudfront paths (default) or tags.
	Mode string `yaml:"mode"`
	// Host is the hostname viewers use (fastly, cloudflare, akamai: to name
	// URLs in path purges and prefixes; varnish: the Host header of PURGE,
	// so the object hash matches).
	Host string `yaml:"host"`

	// ServiceID (fastly).
	ServiceID string `yaml:"service-id"`
	// Soft (fastly): mark stale instead of removing (Fastly-Soft-Purge).
	Soft bool `yaml:"soft"`
	// ZoneID (cloudflare).
	ZoneID string `yaml:"zone-id"`
	// APIURL (fastly, cloudflare): default the vendor's API.
	APIURL string `yaml:"api-url"`
	// TokenEnv names the environment variable holding the API token;
	// TokenFile a file holding it (fastly, cloudflare). One of them.
	TokenEnv  string `yaml:"token-env"`
	TokenFile string `yaml:"token-file"`

	// Network (akamai): production (default) or staging.
	Network string `yaml:"network"`
	// Action (akamai): invalidate (default) or delete.
	Action string `yaml:"action"`
	// EdgercFile and EdgercSection (akamai): the EdgeGrid credentials;
	// without a file, the AKAMAI_* environment variables.
	EdgercFile    string `yaml:"edgerc-file"`
	EdgercSection string `yaml:"edgerc-section"`

	// DistributionID (cloudfront).
	DistributionID string `yaml:"distribution-id"`
	// Region (cloudfront): default us-east-1 (CloudFront is global).
	Region string `yaml:"region"`
	// Endpoint (cloudfront): overrides the API endpoint.
	Endpoint string `yaml:"endpoint"`
	// ManifestPaths (cloudfront, mode paths): the invalidation paths of
	// ScopeManifests, templates with {stream}; default "/live/{stream}/*".
	ManifestPaths []string `yaml:"manifest-paths"`

	// client replaces the backend's HTTP client (tests: a TLS test server's).
	client *http.Client
}

// fields is the set of keys each type accepts besides name, type, timeout:
// a key of another type is a mistake worth an error, not silence.
var fields = map[string][]string{
	TypeHTTP:       {"url", "method", "headers", "body"},
	TypeVarnish:    {"url", "mode", "headers", "host"},
	TypeFastly:     {"service-id", "host", "soft", "api-url", "token-env", "token-file"},
	TypeCloudflare: {"zone-id", "host", "mode", "api-url", "token-env", "token-file"},
	TypeAkamai:     {"host", "network", "action", "edgerc-file", "edgerc-section"},
	TypeCloudFront: {"distribution-id", "mode", "region", "endpoint", "manifest-paths"},
}

// set lists the type-specific keys that c sets.
func (c Config) set() []string {
	var s []string
	add := func(key string, ok bool) {
		if ok {
			s = append(s, key)
		}
	}
	add("url", c.URL != "")
	add("method", c.Method != "")
	add("headers", len(c.Headers) > 0)
	add("body", c.Body != "")
	add("mode", c.Mode != "")
	add("host", c.Host != "")
	add("service-id", c.ServiceID != "")
	add("soft", c.Soft)
	add("zone-id", c.ZoneID != "")
	add("api-url", c.APIURL != "")
	add("token-env", c.TokenEnv != "")
	add("token-file", c.TokenFile != "")
	add("network", c.Network != "")
	add("action", c.Action != "")
	add("edgerc-file", c.EdgercFile != "")
	add("edgerc-section", c.EdgercSection != "")
	add("distribution-id", c.DistributionID != "")
	add("region", c.Region != "")
	add("endpoint", c.Endpoint != "")
	add("manifest-paths", len(c.ManifestPaths) > 0)
	return s
}

// New builds the backends. getenv and readFile are os.Getenv and
// os.ReadFile in the daemon (nil means those). Each problem is one error
// that starts with the backend's name; the daemon refuses to start when
// there are any. Secrets (tokens, keys) come from the environment or from
// files named in the config, and never appear in an error.
func New(cfgs []Config, getenv func(string) string, readFile func(string) ([]byte, error)) ([]Backend, []error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	env := environment{getenv: getenv, readFile: readFile}
	var (
		backends []Backend
		errs     []error
		seen     = map[string]bool{}
	)
	for i, c := range cfgs {
		name := c.Name
		if name == "" {
			name = c.Type
		}
		if name == "" {
			name = fmt.Sprintf("purge[%d]", i)
		}
		p := &problems{name: name}
		if c.Name != "" && !validName(c.Name) {
			p.addf("name must be 1 to 64 characters from [A-Za-z0-9_.-] (it is a metric label)")
		}
		if seen[name] {
			p.addf("name used by another backend: give each backend of the same type a name")
		}
		seen[name] = true
		if c.Timeout < 0 {
			p.addf("timeout %s is negative", c.Timeout)
		}
		allowed, known := fields[c.Type]
		switch {
		case c.Type == "":
			p.addf("type is required (one of %s)", strings.Join(typeNames, ", "))
		case !known:
			p.addf("unknown type %q (one of %s)", c.Type, strings.Join(typeNames, ", "))
		default:
			for _, k := range c.set() {
				if !slices.Contains(allowed, k) {
					p.addf("%s is not a setting of type %s (it takes %s)", k, c.Type, strings.Join(allowed, ", "))
				}
			}
		}
		var b Backend
		if known {
			b = build(name, c, env, p)
		}
		if len(p.errs) > 0 {
			errs = append(errs, p.errs...)
			continue
		}
		backends = append(backends, b)
	}
	return backends, errs
}

func build(name string, c Config, env environment, p *problems) Backend {
	s := &sender{name: name, client: newHTTPClient(c.client), timeout: c.Timeout}
	switch c.Type {
	case TypeHTTP:
		return newHTTPBackend(s, c, env, p)
	case TypeVarnish:
		return newVarnish(s, c, env, p)
	case TypeFastly:
		return newFastly(s, c, env, p)
	case TypeCloudflare:
		return newCloudflare(s, c, env, p)
	case TypeAkamai:
		return newAkamai(s, c, env, p)
	case TypeCloudFront:
		return newCloudFront(s, c, p)
	}
	return nil
}

// problems collects one backend's config errors, each starting with its name.
type problems struct {
	name string
	errs []error
}

func (p *problems) addf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: "+format, append([]any{p.name}, args...)...))
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// environment is where secrets come from.
type environment struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
}

// token reads the API token named by token-env or token-file.
func (e environment) token(c Config, p *problems, sec *secrets) string {
	var tok string
	switch {
	case c.TokenEnv != "" && c.TokenFile != "":
		p.addf("set token-env or token-file, not both")
		return ""
	case c.TokenEnv != "":
		tok = strings.TrimSpace(e.getenv(c.TokenEnv))
		if tok == "" {
			p.addf("token-env: environment variable %s is empty or unset", c.TokenEnv)
		}
	case c.TokenFile != "":
		b, err := e.readFile(c.TokenFile)
		if err != nil {
			p.addf("token-file: %v", err)
			return ""
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			p.addf("token-file %s is empty", c.TokenFile)
		}
	default:
		p.addf("token-env or token-file is required (an API token is never written into the config)")
	}
	sec.add(tok)
	return tok
}

var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in v with the environment's value; each value is a
// secret. what names v in an error.
func (e environment) expand(v, what string, p *problems, sec *secrets) string {
	return envRE.ReplaceAllStringFunc(v, func(m string) string {
		name := m[2 : len(m)-1]
		val := e.getenv(name)
		if val == "" {
			p.addf("%s: environment variable %s is empty or unset", what, name)
		}
		sec.add(val)
		return val
	})
}

// expandHeaders expands ${VAR} in every header value.
func (e environment) expandHeaders(h map[string]string, p *problems, sec *secrets) http.Header {
	out := http.Header{}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			p.addf("headers: %q is not a header name", k)
			continue
		}
		v := e.expand(h[k], "headers: "+k, p, sec)
		if strings.ContainsAny(v, "\r\n") {
			p.addf("headers: %s: value has a line break", k)
			continue
		}
		out.Set(k, v)
	}
	return out
}

// checkBaseURL validates an http(s) URL setting.
func checkBaseURL(key, v string, p *problems) *url.URL {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.addf("%s %q is not an http:// or https:// URL", key, redact.URL(v))
		return nil
	}
	return u
}

// checkHost validates a hostname setting (no scheme, no path).
func checkHost(key, v string, p *problems) {
	if v == "" || strings.ContainsAny(v, "/?#@ \t") {
		p.addf("%s %q must be a hostname such as cdn.example.com, without scheme or path", key, v)
	}
}
