package limits

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestManifestRate(t *testing.T) {
	e := newEnv(t)
	rate := NewRate(e.hits, RateLimits{Requests: 3, Window: 10 * time.Second, ClientHeader: "True-Client-IP"})
	srv := httptest.NewServer(rate.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		_, _ = io.WriteString(w, "#EXTM3U\n")
	})))
	defer srv.Close()
	get := func(client string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/live/demo/index.m3u8", nil)
		if client != "" {
			req.Header.Set("True-Client-IP", client)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 3; i++ {
		if resp := get("198.51.100.7"); resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Remaining") != "" {
			t.Fatalf("request %d within the limit: %d %v", i+1, resp.StatusCode, resp.Header)
		}
	}
	resp := get("198.51.100.7")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "10" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("fourth request: %d %v, want 429 with Retry-After 10 and no-store", resp.StatusCode, resp.Header)
	}
	// Another viewer behind the same CDN (the same connection address) is
	// not affected; neither is a request without the header (keyed by its
	// connection's address).
	if resp := get("198.51.100.8"); resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %d", resp.StatusCode)
	}
	if resp := get(""); resp.StatusCode != http.StatusOK {
		t.Errorf("no header: %d", resp.StatusCode)
	}
	if got := e.count(t, ManifestRate); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	if len(e.logLines(`"limit":"manifest_rate"`, `"client":"198.51.100.7"`, `"path":"/live/demo/index.m3u8"`)) != 1 {
		t.Errorf("want one log line with the client and the path:\n%s", e.logs.String())
	}
	// A reload turns it off.
	rate.Set(RateLimits{})
	if resp := get("198.51.100.7"); resp.StatusCode != http.StatusOK {
		t.Errorf("limit off: %d", resp.StatusCode)
	}
}

var clientKeyCases = []struct {
	header, value, remote, want string
}{
	{"", "", "192.0.2.1:1234", "192.0.2.1"},
	{"True-Client-IP", "198.51.100.7", "192.0.2.1:1234", "198.51.100.7"},
	{"True-Client-IP", "", "192.0.2.1:1234", "192.0.2.1"},
	{"X-Forwarded-For", "203.0.113.9, 198.51.100.7", "192.0.2.1:1234", "198.51.100.7"},
	{"X-Forwarded-For", "198.51.100.7 ,", "192.0.2.1:1234", "192.0.2.1"},
	{"", "", "[2001:db8::1]:443", "2001:db8::"},
	{"", "", "not an address", "not an address"},
}

func TestClientKey(t *testing.T) {
	for _, tc := range clientKeyCases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		if tc.header != "" {
			r.Header.Set(tc.header, tc.value)
		}
		if got := clientKey(r, tc.header); got != tc.want {
			t.Errorf("%s: %q from %s: %q, want %q", tc.header, tc.value, tc.remote, got, tc.want)
		}
	}
}

// The client address header is network input: any value keys something
// and never panics.
func FuzzClientKey(f *testing.F) {
	for _, tc := range clientKeyCases {
		f.Add(tc.value, tc.remote)
	}
	f.Fuzz(func(t *testing.T, value, remote string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{value}
		got := clientKey(r, "X-Forwarded-For")
		if last := strings.TrimSpace(value[strings.LastIndexByte(value, ',')+1:]); last != "" && got == "" {
			t.Errorf("empty key for %q", value)
		}
	})
}

// A flood of hits is counted in full and logged once per second, the next
// line saying how many were left out.
func TestHitsLogThrottle(t *testing.T) {
	e := newEnv(t)
	now := time.Unix(1000, 0)
	e.hits.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		e.hits.Hit(HTTPConnections, "refused")
	}
	now = now.Add(time.Second)
	e.hits.Hit(HTTPConnections, "refused")
	if got := e.count(t, HTTPConnections); got != 6 {
		t.Errorf("hits = %v, want 6", got)
	}
	lines := e.logLines(`"limit":"http_connections"`)
	if len(lines) != 2 || !strings.Contains(lines[1], `"not_logged":4`) {
		t.Errorf("log lines:\n%s", strings.Join(lines, "\n"))
	}
	if got := e.count(t, ManifestRate); got != 0 {
		t.Errorf("another limit: %v", got)
	}
}

// Every limit's series is registered from the start, at 0.
func TestHitsRegistered(t *testing.T) {
	e := newEnv(t)
	e.hits.Hit(SegmentSize, "cut off")
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "liveorigin_limit_hits_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if len(got) != len(names) || got[SegmentSize] != 1 || got[Streams] != 0 {
		t.Errorf("series %v, want all %d limits, segment_size at 1", got, len(names))
	}
}
