package hooks

import (
	"strings"
	"testing"
	"time"
)

func TestBuildDefaults(t *testing.T) {
	env := fakeEnv{vars: map[string]string{"HOOK_SECRET": testSecret}, files: map[string]string{"/run/secrets/hook": "  " + testSecret + "\n"}}
	hs, errs := Build([]Config{
		{URL: "https://auth.example.com/liveorigin?token=abc", Events: []string{"publish"}, SecretEnv: "HOOK_SECRET"},
		{Name: "audit", URL: "http://10.0.0.5:8080/events", Events: []string{"unpublish", "stream_end"}, SecretFile: "/run/secrets/hook",
			Timeout: 5 * time.Second, MaxAttempts: 3, QueueSize: 10},
	}, env.getenv, env.readFile)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	a, b := hs[0], hs[1]
	if a.Name() != "auth.example.com" || a.timeout != DefaultTimeout || a.allowOnErr || a.maxAttempts != DefaultMaxAttempts || a.queueSize != DefaultQueueSize {
		t.Errorf("defaults: %+v", a)
	}
	if !a.Subscribes(EventPublish) || a.Subscribes(EventUnpublish) {
		t.Errorf("events: %v", a.events)
	}
	if string(b.secret) != testSecret {
		t.Errorf("secret-file is trimmed: got %d bytes", len(b.secret))
	}
	if b.timeout != 5*time.Second || b.maxAttempts != 3 || b.queueSize != 10 {
		t.Errorf("settings: %+v", b)
	}
	if s := a.String(); strings.Contains(s, "token") || !strings.Contains(s, "https://auth.example.com/liveorigin") {
		t.Errorf("String() = %q: want the URL without its query", s)
	}
}

// Bad configurations and the one error per problem each must produce.
func TestBadConfigs(t *testing.T) {
	ok := Config{URL: "http://h.example/x", Events: []string{"publish"}, SecretEnv: "HOOK_SECRET"}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	env := fakeEnv{vars: map[string]string{"HOOK_SECRET": testSecret, "SHORT": "hunter2"}, files: map[string]string{"/empty": "\n"}}
	for _, tc := range []struct {
		name string
		cfgs []Config
		want []string
	}{
		{"no url", []Config{with(func(c *Config) { c.URL = "" })}, []string{"webhooks webhooks[0]: url is required"}},
		{"bad url", []Config{with(func(c *Config) { c.URL = "ftp://h.example/x?k=SECRETQ" })}, []string{`url "ftp://h.example/x" is not an http`}},
		{"no events", []Config{with(func(c *Config) { c.Events = nil })}, []string{"events is required"}},
		{"unknown event", []Config{with(func(c *Config) { c.Events = []string{"publish", "play"} })}, []string{`unknown event "play"`}},
		{"inline secret", []Config{with(func(c *Config) { c.Secret = "inline-secret-value-123"; c.SecretEnv = "" })}, []string{"a key is never written into the config file"}},
		{"no secret", []Config{with(func(c *Config) { c.SecretEnv = "" })}, []string{"secret-env or secret-file is required"}},
		{"both secrets", []Config{with(func(c *Config) { c.SecretFile = "/x" })}, []string{"not both"}},
		{"unset env", []Config{with(func(c *Config) { c.SecretEnv = "NOPE" })}, []string{"environment variable NOPE is empty or unset"}},
		{"short secret", []Config{with(func(c *Config) { c.SecretEnv = "SHORT" })}, []string{"at least 16 characters (got 7)"}},
		{"missing file", []Config{with(func(c *Config) { c.SecretEnv, c.SecretFile = "", "/nope" })}, []string{"secret-file: open /nope"}},
		{"empty file", []Config{with(func(c *Config) { c.SecretEnv, c.SecretFile = "", "/empty" })}, []string{"secret-file /empty is empty"}},
		{"timeout", []Config{with(func(c *Config) { c.Timeout = 2 * time.Minute })}, []string{"timeout 2m0s is outside"}},
		{"on-error", []Config{with(func(c *Config) { c.OnError = "maybe" })}, []string{`on-error "maybe" is not refuse or allow`}},
		{"on-error without publish", []Config{with(func(c *Config) { c.Events = []string{"unpublish"}; c.OnError = "allow" })}, []string{"on-error applies to publish hooks only"}},
		{"attempts", []Config{with(func(c *Config) { c.MaxAttempts = -1 })}, []string{"max-attempts -1 is outside"}},
		{"queue", []Config{with(func(c *Config) { c.QueueSize = -5 })}, []string{"queue-size -5 is outside"}},
		{"bad name", []Config{with(func(c *Config) { c.Name = "a b" })}, []string{"webhooks a b: name must be"}},
		{"same host twice", []Config{ok, ok}, []string{"webhooks h.example: name used by another hook"}},
		{"two problems", []Config{with(func(c *Config) { c.Events = nil; c.SecretEnv = "" })}, []string{"events is required", "secret-env or secret-file is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, errs := Build(tc.cfgs, env.getenv, env.readFile)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			for i, w := range tc.want {
				msg := errs[i].Error()
				if !strings.Contains(msg, w) {
					t.Errorf("error %d: %q does not contain %q", i, msg, w)
				}
				for _, secret := range []string{testSecret, "hunter2", "inline-secret-value-123", "SECRETQ"} {
					if strings.Contains(msg, secret) {
						t.Errorf("error %d shows a secret: %q", i, msg)
					}
				}
			}
			if len(hs) != len(tc.cfgs)-len(tc.want) && tc.name != "two problems" {
				t.Errorf("%d hooks built from %d configs with %d errors", len(hs), len(tc.cfgs), len(tc.want))
			}
		})
	}
}
