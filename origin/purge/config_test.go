package purge

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// testEnv holds the secrets the configs in testdata name.
var testEnv = fakeEnv{
	vars: map[string]string{
		"VARNISH_PURGE_SECRET": "varnish-secret-0001",
		"WEBHOOK_TOKEN":        "webhook-token-0002",
		"FASTLY_API_TOKEN":     "fastly-token-0003",
		"CF_API_TOKEN":         "cf-token-0004",
	},
	files: map[string]string{
		"/run/secrets/cloudflare-token": "cf-token-0005\n",
		"/run/secrets/fastly-token":     "fastly-token-0006",
		"/etc/liveorigin/edgerc": "[ccu]\nclient_secret = " + akClientSecret + "\nhost = akab-xxxx.purge.akamaiapis.net\n" +
			"access_token = " + akAccessToken + "\nclient_token = " + akClientToken + "\n",
	},
}

// loadConfig parses a config file the way the daemon does.
func loadConfig(t *testing.T, file string) []Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Purge []Config `yaml:"purge"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return doc.Purge
}

func TestGoodConfig(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfgs := loadConfig(t, "testdata/good.yaml")
	bs, errs := New(cfgs, testEnv.getenv, testEnv.readFile)
	for _, err := range errs {
		t.Error(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name())
	}
	want := []string{"varnish", "varnish-ban", "nginx", "webhook", "fastly", "cloudflare", "akamai", "cloudfront", "cloudfront-tags"}
	if !slices.Equal(names, want) {
		t.Errorf("backends %v, want %v", names, want)
	}
	if cfgs[2].Timeout.String() != "5s" {
		t.Errorf("timeout %s", cfgs[2].Timeout)
	}
}

// TestBadConfigs: every file in testdata/bad fails with exactly these
// errors, each starting with the backend's name.
func TestBadConfigs(t *testing.T) {
	expected := map[string][]string{
		"unknown-type.yaml":   {`squid: unknown type "squid" (one of http, varnish, fastly, cloudflare, akamai, cloudfront)`},
		"no-type.yaml":        {`edge: type is required (one of http, varnish, fastly, cloudflare, akamai, cloudfront)`},
		"duplicate-name.yaml": {`varnish: name used by another backend: give each backend of the same type a name`},
		"bad-name.yaml":       {`my cdn: name must be 1 to 64 characters from [A-Za-z0-9_.-] (it is a metric label)`},
		"other-types-key.yaml": {
			`fastly: zone-id is not a setting of type fastly (it takes service-id, host, soft, api-url, token-env, token-file)`},
		"fastly-no-token.yaml": {
			`fastly: token-env or token-file is required (an API token is never written into the config)`},
		"fastly-token-unset.yaml": {`fastly: token-env: environment variable FASTLY_TOKEN_NOT_SET is empty or unset`},
		"fastly-two-tokens.yaml":  {`fastly: set token-env or token-file, not both`},
		"fastly-no-service.yaml":  {`fastly: service-id is required (the Fastly service whose cache to purge)`},
		"cloudflare-token-file-missing.yaml": {
			`cloudflare: token-file: open /run/secrets/missing: file does not exist`},
		"cloudflare-prefix-no-host.yaml": {`cloudflare: host is required in mode prefix (prefixes are HOST/live/NAME/)`},
		"varnish-bad-mode.yaml": {
			`varnish: mode "purge": use xkey (purge by surrogate key, needs vmod_xkey) or ban`},
		"varnish-no-url.yaml": {
			`varnish: url is required: the Varnish listener, e.g. http://127.0.0.1:6081`,
			`varnish: host "https://cdn.example.com/" must be a hostname such as cdn.example.com, without scheme or path`},
		"http-key-and-path.yaml": {`http: use {key} or {path}, not both: each makes one request per item`},
		"http-bad-url.yaml": {
			`http: method "GET PURGE" is not an HTTP method`,
			`http: url "ftp://127.0.0.1/{path}" is not an http:// or https:// URL template`},
		"http-header-env-unset.yaml": {
			`http: headers: Authorization: environment variable PURGE_TOKEN_NOT_SET is empty or unset`},
		"akamai-no-credentials.yaml": {
			`akamai: network "prod": use production or staging`,
			`akamai: no edgerc-file, and environment variable AKAMAI_HOST is empty or unset`,
			`akamai: no edgerc-file, and environment variable AKAMAI_CLIENT_TOKEN is empty or unset`,
			`akamai: no edgerc-file, and environment variable AKAMAI_CLIENT_SECRET is empty or unset`,
			`akamai: no edgerc-file, and environment variable AKAMAI_ACCESS_TOKEN is empty or unset`},
		"akamai-edgerc-section.yaml": {
			`akamai: edgerc-file /etc/liveorigin/edgerc has no section [default] (set edgerc-section)`},
		"cloudfront-wildcard.yaml": {
			`cloudfront: distribution-id is required`,
			`cloudfront: manifest-paths: "/live/{stream}/*.m3u8": CloudFront takes * only as the last character`},
		"negative-timeout.yaml": {`varnish: timeout -1s is negative`},
		"cloudfront-bad-mode.yaml": {
			`cloudfront: mode "tag": use paths (wildcard paths) or tags (cache tags: the distribution needs a CacheTagConfig with header Cache-Tag)`},
	}
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(expected) {
		t.Errorf("%d files in testdata/bad, %d expectations", len(files), len(expected))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, ok := expected[filepath.Base(f)]
			if !ok {
				t.Fatal("no expected errors")
			}
			bs, errs := New(loadConfig(t, f), testEnv.getenv, testEnv.readFile)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if f == "testdata/bad/duplicate-name.yaml" && len(bs) != 1 {
				t.Errorf("%d backends built", len(bs))
			}
		})
	}
}

// Every YAML example in docs/purge.md is a valid config.
func TestDocExamples(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	doc, err := os.ReadFile("../../docs/purge.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	if len(blocks) < 7 {
		t.Fatalf("%d YAML examples in docs/purge.md", len(blocks))
	}
	for i, b := range blocks {
		b = b[:strings.Index(b, "```")]
		var cfg struct {
			Purge []Config `yaml:"purge"`
		}
		dec := yaml.NewDecoder(strings.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			t.Errorf("example %d: %v\n%s", i, err, b)
			continue
		}
		if _, errs := New(cfg.Purge, testEnv.getenv, testEnv.readFile); len(errs) > 0 {
			t.Errorf("example %d: %v\n%s", i, errs, b)
		}
	}
}
