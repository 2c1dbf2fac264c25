package rtsp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		raw, shown string
		secrets    []string // must not survive text()
	}{
		{"rtsp://cam.local:554/stream1", "rtsp://cam.local:554/stream1", nil},
		{"rtsp://admin:hunter2@10.0.0.9:554/s1", "rtsp://xxxxx:xxxxx@10.0.0.9:554/s1", []string{"hunter2", "admin:hunter2"}},
		{"rtsp://admin@10.0.0.9/s1", "rtsp://xxxxx@10.0.0.9/s1", []string{"admin@"}},
		{"rtsp://u:p%40ss%3Aw0rd@cam/s?token=abc123&x=1", "rtsp://xxxxx:xxxxx@cam/s?token=xxxxx&x=xxxxx", []string{"p@ss:w0rd", "p%40ss%3Aw0rd", "abc123"}},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			u, err := url.Parse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			r := newRedactor(u)
			if got := r.url(); got != tc.shown {
				t.Errorf("url() = %q, want %q", got, tc.shown)
			}
			// An error that quotes the URL, raw and escaped.
			msg := r.err(fmt.Errorf("dial %s: %q failed: %w", tc.raw, u.String(), errors.New("refused")))
			for _, s := range tc.secrets {
				if strings.Contains(msg, s) {
					t.Errorf("text still has %q: %s", s, msg)
				}
			}
			if !strings.Contains(msg, "refused") {
				t.Errorf("text lost the message: %s", msg)
			}
		})
	}
	if got := redactRaw("rtsp://u:secret@cam:port/x"); got != "rtsp://xxxxx@cam:port/x" {
		t.Errorf("redactRaw = %q", got)
	}
	if got := redactRaw("not a url%"); strings.Contains(got, "%") {
		t.Errorf("redactRaw = %q", got)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := time.Second, 30*time.Second
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, lo, 1200 * time.Millisecond},
		{2, 1600 * time.Millisecond, 2400 * time.Millisecond},
		{3, 3200 * time.Millisecond, 4800 * time.Millisecond},
		{6, 24 * time.Second, hi},
		{40, 24 * time.Second, hi},
	} {
		for range 100 {
			if d := backoff(tc.attempt, lo, hi); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%d) = %s, want %s to %s", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}
