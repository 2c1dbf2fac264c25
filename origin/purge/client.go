package purge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/liveorigin/liveorigin/internal/redact"
)

// maxAnswer is how much of a CDN's answer is read: enough for any purge
// API's JSON, not a way to fill memory.
const maxAnswer = 64 << 10

// userAgent names the origin to the CDN's API logs.
const userAgent = "liveorigin-purge/1"

// sender is what every HTTP backend shares: the client, the secrets to keep
// out of errors, and the per-attempt timeout of its config.
type sender struct {
	name    string
	client  *http.Client
	secrets secrets
	timeout time.Duration // 0: only the queue's AttemptTimeout
}

func (s *sender) Name() string { return s.name }

// CloseIdleConnections lets the queue release the backend's keep-alive
// connections when it closes.
func (s *sender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// attempt bounds one Purge call by the backend's own timeout.
func (s *sender) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return context.WithCancel(ctx)
}

// newHTTPClient is the client of one backend: its own connection pool (a
// dead CDN does not hold connections another needs) and no redirects (they
// would carry the credentials to another host; a purge API does not
// redirect).
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

// newRequest builds a request with the headers every backend sends.
func (s *sender) newRequest(ctx context.Context, r Request, method, target string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		// The URL came from a template or a config value: a permanent
		// mistake, and its text may hold a secret.
		return nil, s.secrets.err(Permanent(fmt.Errorf("%s %s: %w", method, redact.URL(target), unwrapURLError(err))))
	}
	req.Header.Set("User-Agent", userAgent)
	if validTraceParent(r.TraceParent) {
		req.Header.Set("traceparent", r.TraceParent) // W3C Trace Context 3.2
	}
	return req, nil
}

// send does req and returns the answer's body when ok accepts its status;
// otherwise a *StatusError (redacted).
func (s *sender) send(req *http.Request, ok func(code int) bool) ([]byte, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.secrets.err(fmt.Errorf("%s %s: %w", req.Method, redact.URL(req.URL.String()), unwrapURLError(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if !ok(resp.StatusCode) {
		se := &StatusError{
			Method: req.Method,
			URL:    redact.URL(req.URL.String()),
			Code:   resp.StatusCode,
			Detail: snippet(body),
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			se.Wait = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return body, s.secrets.err(se)
	}
	if err != nil {
		return nil, s.secrets.err(fmt.Errorf("%s %s: reading the answer: %w", req.Method, redact.URL(req.URL.String()), err))
	}
	return body, nil
}

// is2xx is the success of most purge APIs.
func is2xx(code int) bool { return code >= 200 && code < 300 }

// unwrapURLError drops *url.Error's copy of the whole URL (query included).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// snippet is the start of an answer, on one line, for an error message.
func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// batches splits items into groups of at most n.
func batches(items []string, n int) [][]string {
	var out [][]string
	for len(items) > n {
		out = append(out, items[:n])
		items = items[n:]
	}
	if len(items) > 0 {
		out = append(out, items)
	}
	return out
}
