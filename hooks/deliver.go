package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Event is the JSON body of every webhook request.
type Event struct {
	// Event is publish, unpublish or stream_end.
	Event string `json:"event"`
	// Stream is the stream name.
	Stream string `json:"stream"`
	// Protocol is rtmp, srt, rtsp or rtsp-pull; RemoteAddr the publisher's
	// address (for rtsp-pull, the camera's host); SessionID the publish
	// session, as the admin API and the logs show it. For stream_end they
	// describe the stream's last publisher.
	Protocol   string `json:"protocol,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	// Time is when it happened (UTC, RFC 3339 with nanoseconds).
	Time time.Time `json:"time"`
	// Query (publish only) holds the publisher's parameters: RTMP's
	// `NAME?key=...`, an RTSP URL's query; the first value of each key. It
	// is for the hook to decide on, and is never logged.
	Query map[string]string `json:"query,omitempty"`
	// Error (unpublish only) says why the session ended when it was not a
	// clean unpublish.
	Error string `json:"error,omitempty"`
}

// Headers of every webhook request.
const (
	HeaderEvent     = "X-Liveorigin-Event"
	HeaderDelivery  = "X-Liveorigin-Delivery"
	HeaderTimestamp = "X-Liveorigin-Timestamp"
	HeaderSignature = "X-Liveorigin-Signature"
)

// userAgent names liveorigin in the receiver's logs.
const userAgent = "liveorigin-webhook/1"

// Sign is the X-Liveorigin-Signature value: "sha256=" and the hex
// HMAC-SHA256, keyed with the hook's secret, of the X-Liveorigin-Timestamp
// value, a dot, and the exact body bytes. Signing the timestamp with the
// body lets a receiver refuse a replayed request (as Stripe's and Slack's
// webhooks do).
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature: Verify found a missing, malformed, wrong or stale
// signature.
var ErrBadSignature = errors.New("webhook signature does not verify")

// Verify checks a request's signature the way a receiver should: the
// signature over timestamp "." body with the shared secret, compared in
// constant time, and a timestamp within tolerance of now (replays are
// refused). It is what docs/webhooks.md describes, for receivers in Go.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp is %s away from now (tolerance %s)", ErrBadSignature, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return ErrBadSignature
	}
	return nil
}

// delivery is one event for one hook: its body and id stay the same across
// attempts, the timestamp and signature are made per attempt.
type delivery struct {
	id          string
	event       Event
	body        []byte
	traceparent string
	enqueued    time.Time
}

// newID makes a delivery id.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// attempt POSTs a delivery to h once, within h's timeout. It returns the
// answer's status code, or an error (no answer); neither carries a secret,
// the query or the URL's query.
func (d *Dispatcher) attempt(ctx context.Context, h *Hook, dl *delivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(dl.body))
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", h.shownURL, unwrapURLError(err))
	}
	ts := strconv.FormatInt(d.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderEvent, dl.event.Event)
	req.Header.Set(HeaderDelivery, dl.id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(h.secret, ts, dl.body))
	if validTraceParent(dl.traceparent) {
		req.Header.Set("traceparent", dl.traceparent) // W3C Trace Context 3.2
	}
	start := time.Now()
	resp, err := h.client.Do(req)
	d.metrics.duration.WithLabelValues(h.name, dl.event.Event).Observe(time.Since(start).Seconds())
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return 0, fmt.Errorf("POST %s: no answer within %s (timeout)", h.shownURL, h.timeout)
		}
		return 0, fmt.Errorf("POST %s: %w", h.shownURL, unwrapURLError(err))
	}
	// Read a little of the answer so that the connection can be reused;
	// its content is not used (nor logged: it could echo the query).
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// statusError is an answer that is neither a success nor a refusal.
type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("POST %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

// permanent: a 4xx other than 408 and 429 will fail the same way again
// (RFC 9110 15.5); so will a redirect, which is not followed.
func (e *statusError) permanent() bool {
	return e.code >= 300 && e.code < 500 && e.code != http.StatusRequestTimeout && e.code != http.StatusTooManyRequests
}

// unwrapURLError drops *url.Error's copy of the whole URL (query included).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// flatten keeps the first value of each query key.
func flatten(q url.Values) map[string]string {
	if len(q) == 0 {
		return nil
	}
	m := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 {
			m[k] = v[0]
		} else {
			m[k] = ""
		}
	}
	return m
}

// validTraceParent reports whether s has the W3C Trace Context version-00
// form "00-<32 hex>-<16 hex>-<2 hex>" (W3C Trace Context 3.2); anything else
// is not sent.
func validTraceParent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || s[:2] == "ff" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return !strings.HasPrefix(s[3:], strings.Repeat("0", 32))
}
