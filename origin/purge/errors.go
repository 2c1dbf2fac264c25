package purge

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// permanentError is what Permanent returns.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// Permanent marks err as one that another attempt cannot fix (bad
// credentials, a rejected request): the queue gives up at once. A Backend
// written outside this package uses it the same way.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, says that a retry
// cannot help.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// retryAfter is the wait that the CDN asked for (Retry-After), or 0.
func retryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

// StatusError is an HTTP answer that is not a success.
type StatusError struct {
	Method string
	URL    string // without the query: a vendor may put a token there
	Code   int
	// Detail is the start of the response body, or the vendor's error
	// message, with secrets removed.
	Detail string
	// Wait is the Retry-After of a 429 or 503, 0 when absent.
	Wait time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Code, http.StatusText(e.Code))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Permanent: a 4xx other than 408 (timeout) and 429 (rate limited) will
// fail the same way again (RFC 9110 15.5); so will a redirect, which a purge
// does not follow (it would carry the credentials elsewhere).
func (e *StatusError) Permanent() bool {
	return e.Code >= 300 && e.Code < 500 && e.Code != http.StatusRequestTimeout && e.Code != http.StatusTooManyRequests
}

// RetryAfter is the CDN's requested wait.
func (e *StatusError) RetryAfter() time.Duration { return e.Wait }

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// secrets are the values a backend must never show: tokens, keys, header
// values taken from the environment.
type secrets []string

// add records s when it is long enough to be a secret (a one-letter "secret"
// would redact half of every message).
func (s *secrets) add(v string) {
	if len(v) >= 4 {
		*s = append(*s, v)
	}
}

// redact replaces every secret in msg.
func (s secrets) redact(msg string) string {
	for _, v := range s {
		msg = strings.ReplaceAll(msg, v, "[REDACTED]")
	}
	return msg
}

// redactedError keeps the classification of the error it replaces, but not
// the error: its chain could carry the secret.
type redactedError struct {
	msg       string
	permanent bool
	wait      time.Duration
}

func (e *redactedError) Error() string             { return e.msg }
func (e *redactedError) Permanent() bool           { return e.permanent }
func (e *redactedError) RetryAfter() time.Duration { return e.wait }

// err returns err itself when its text holds no secret, else a copy with the
// secrets replaced.
func (s secrets) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := s.redact(msg); r != msg {
		return &redactedError{msg: r, permanent: IsPermanent(err), wait: retryAfter(err)}
	}
	return err
}

// errUnsupported is a request a backend cannot express (for example paths
// with a template that has only {key}); retrying cannot help.
func errUnsupported(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}
