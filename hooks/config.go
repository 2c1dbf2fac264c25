package hooks

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/liveorigin/liveorigin/internal/redact"
)

// Events a webhook can subscribe to.
const (
	// EventPublish: a publisher asks to publish a stream. The hook's answer
	// allows or refuses it (an auth hook): liveorigin waits for it.
	EventPublish = "publish"
	// EventUnpublish: a publisher that liveorigin accepted has gone (it
	// left, its connection broke, it was kicked or taken down). The stream
	// waits for it for reconnect-grace.
	EventUnpublish = "unpublish"
	// EventStreamEnd: a stream ended: its publisher did not come back within
	// reconnect-grace, it was taken down, or the server is shutting down.
	EventStreamEnd = "stream_end"
)

var eventNames = []string{EventPublish, EventUnpublish, EventStreamEnd}

// What a publish hook's failure (an answer other than 2xx, 401 or 403, a
// timeout, a connection error) does to the publisher.
const (
	OnErrorRefuse = "refuse"
	OnErrorAllow  = "allow"
)

// Defaults of a hook's settings.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultMaxAttempts = 5
	DefaultQueueSize   = 1024

	maxTimeout     = time.Minute
	maxMaxAttempts = 20
	maxQueueSize   = 1 << 20
	// minSecretLen: an HMAC-SHA256 key shorter than 16 bytes is a password,
	// not a key.
	minSecretLen = 16
)

// Config is one webhook in the daemon's config file, under a top-level
// `webhooks:` list. docs/webhooks.md is the user's reference.
type Config struct {
	// Name is the hook's name in logs and in the `hook` metric label;
	// default the URL's host. Two hooks on one host need names.
	Name string `yaml:"name"`
	// URL receives the POSTs: http:// or https://.
	URL string `yaml:"url"`
	// Events the hook receives: publish, unpublish, stream_end. Required:
	// subscribing to publish makes the hook an authority over publishers,
	// which should be said, not defaulted.
	Events []string `yaml:"events"`
	// SecretEnv names the environment variable holding the HMAC-SHA256 key;
	// SecretFile a file holding it. One of them is required: every request
	// is signed.
	SecretEnv  string `yaml:"secret-env"`
	SecretFile string `yaml:"secret-file"`
	// Secret is only here to refuse it with a clear error: a key is never
	// written into the config file.
	Secret string `yaml:"secret"`
	// Timeout bounds one request; default 2s, at most 1m. For a publish
	// hook it is how long a publisher may wait for the answer.
	Timeout time.Duration `yaml:"timeout"`
	// OnError is what a publish hook's failure does: refuse (the default:
	// fail closed) or allow.
	OnError string `yaml:"on-error"`
	// MaxAttempts bounds the attempts of an unpublish or stream_end
	// delivery; default 5. A publish is attempted once: a publisher waits.
	MaxAttempts int `yaml:"max-attempts"`
	// QueueSize bounds the hook's queue of unpublish and stream_end
	// deliveries; default 1024. When it is full the oldest is dropped and
	// counted.
	QueueSize int `yaml:"queue-size"`

	// client replaces the hook's HTTP client (tests).
	client *http.Client
}

// Hook is a validated webhook with its secret read: what Build makes and
// Dispatcher.Swap takes. It starts nothing until a Dispatcher uses it.
type Hook struct {
	name        string
	url         string // as configured: may carry a token in its query
	shownURL    string // without user info and query, for logs
	events      map[string]bool
	secret      []byte
	timeout     time.Duration
	allowOnErr  bool
	maxAttempts int
	queueSize   int
	client      *http.Client
}

// Name is the hook's name (logs, metrics).
func (h *Hook) Name() string { return h.name }

// Subscribes reports whether the hook receives event.
func (h *Hook) Subscribes(event string) bool { return h.events[event] }

// String describes the hook without its secrets.
func (h *Hook) String() string {
	ev := make([]string, 0, len(h.events))
	for _, e := range eventNames {
		if h.events[e] {
			ev = append(ev, e)
		}
	}
	return fmt.Sprintf("%s (%s, events %s)", h.name, h.shownURL, strings.Join(ev, ","))
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Build validates the `webhooks:` list and reads each hook's secret.
// getenv and readFile are os.Getenv and os.ReadFile in the daemon (nil
// means those). Each problem is one error that starts with "webhooks" and
// the hook's name; a secret never appears in one.
func Build(cfgs []Config, getenv func(string) string, readFile func(string) ([]byte, error)) ([]*Hook, []error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	var (
		out  []*Hook
		errs []error
		seen = map[string]bool{}
	)
	for i, c := range cfgs {
		h, p := build(i, c, getenv, readFile)
		if h != nil && seen[h.name] {
			p = append(p, fmt.Errorf("webhooks %s: name used by another hook: give each hook on one host a name", h.name))
		}
		if h != nil {
			seen[h.name] = true
		}
		if len(p) > 0 {
			errs = append(errs, p...)
			continue
		}
		out = append(out, h)
	}
	return out, errs
}

func build(i int, c Config, getenv func(string) string, readFile func(string) ([]byte, error)) (*Hook, []error) {
	u, uerr := url.Parse(c.URL)
	name := c.Name
	if name == "" && uerr == nil {
		name = u.Host
	}
	if name == "" {
		name = fmt.Sprintf("webhooks[%d]", i)
	}
	var errs []error
	addf := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhooks %s: "+format, append([]any{name}, args...)...))
	}
	if c.Name != "" && !nameRE.MatchString(c.Name) {
		addf("name must be 1 to 64 characters from [A-Za-z0-9_.:-] (it is a metric label)")
	}
	h := &Hook{name: name, events: map[string]bool{}, timeout: c.Timeout, maxAttempts: c.MaxAttempts, queueSize: c.QueueSize}
	switch {
	case c.URL == "":
		addf("url is required")
	case uerr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		addf("url %q is not an http:// or https:// URL", redact.URL(c.URL))
	default:
		h.url, h.shownURL = c.URL, redact.URL(c.URL)
	}
	if len(c.Events) == 0 {
		addf("events is required: a list of %s", strings.Join(eventNames, ", "))
	}
	for _, e := range c.Events {
		if !slices.Contains(eventNames, e) {
			addf("unknown event %q (one of %s)", e, strings.Join(eventNames, ", "))
			continue
		}
		h.events[e] = true
	}
	h.secret = readSecret(c, getenv, readFile, addf)
	if h.timeout == 0 {
		h.timeout = DefaultTimeout
	}
	if h.timeout < 0 || h.timeout > maxTimeout {
		addf("timeout %s is outside 1ms to %s", c.Timeout, maxTimeout)
	}
	switch c.OnError {
	case "", OnErrorRefuse:
	case OnErrorAllow:
		h.allowOnErr = true
	default:
		addf("on-error %q is not refuse or allow", c.OnError)
	}
	if c.OnError != "" && !h.events[EventPublish] {
		addf("on-error applies to publish hooks only: add publish to events or remove on-error")
	}
	if h.maxAttempts == 0 {
		h.maxAttempts = DefaultMaxAttempts
	}
	if h.maxAttempts < 1 || h.maxAttempts > maxMaxAttempts {
		addf("max-attempts %d is outside 1 to %d", c.MaxAttempts, maxMaxAttempts)
	}
	if h.queueSize == 0 {
		h.queueSize = DefaultQueueSize
	}
	if h.queueSize < 1 || h.queueSize > maxQueueSize {
		addf("queue-size %d is outside 1 to %d", c.QueueSize, maxQueueSize)
	}
	if len(errs) > 0 {
		return h, errs
	}
	h.client = newHTTPClient(c.client)
	return h, nil
}

// readSecret reads the HMAC key named by secret-env or secret-file.
func readSecret(c Config, getenv func(string) string, readFile func(string) ([]byte, error), addf func(string, ...any)) []byte {
	var s string
	switch {
	case c.Secret != "":
		addf("secret: a key is never written into the config file: put it in an environment variable (secret-env) or a file (secret-file)")
		return nil
	case c.SecretEnv != "" && c.SecretFile != "":
		addf("set secret-env or secret-file, not both")
		return nil
	case c.SecretEnv != "":
		s = strings.TrimSpace(getenv(c.SecretEnv))
		if s == "" {
			addf("secret-env: environment variable %s is empty or unset", c.SecretEnv)
			return nil
		}
	case c.SecretFile != "":
		b, err := readFile(c.SecretFile)
		if err != nil {
			addf("secret-file: %v", err)
			return nil
		}
		s = strings.TrimSpace(string(b))
		if s == "" {
			addf("secret-file %s is empty", c.SecretFile)
			return nil
		}
	default:
		addf("secret-env or secret-file is required: every request is signed (HMAC-SHA256) so the receiver can trust it")
		return nil
	}
	if len(s) < minSecretLen {
		addf("the secret must be at least %d characters (got %d)", minSecretLen, len(s))
		return nil
	}
	return []byte(s)
}

// newHTTPClient is one hook's client: its own connection pool (a dead
// receiver holds no connection another needs) and no redirects (a 3xx is
// an answer like any other; following it would send the signed event
// elsewhere).
func newHTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
