package purge

import (
	"context"
	"strings"
	"testing"
)

const traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// want is one request a CDN must receive.
type want struct {
	method, path, body string
	header             map[string]string // "" means absent
}

func checkRequests(t *testing.T, got []captured, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Method != w.method || g.Path != w.path {
			t.Errorf("request %d: %s %s, want %s %s", i, g.Method, g.Path, w.method, w.path)
		}
		if w.body != "" && g.Body != w.body {
			t.Errorf("request %d body %q, want %q", i, g.Body, w.body)
		}
		for k, v := range w.header {
			if g.Header.Get(k) != v {
				t.Errorf("request %d header %s = %q, want %q", i, k, g.Header.Get(k), v)
			}
		}
	}
}

func TestHTTPBackend(t *testing.T) {
	stream := Request{Stream: "cam1", Scope: ScopeStream, Reason: ReasonTakedown, TraceParent: traceParent}
	manifests := Request{Stream: "cam1", Scope: ScopeManifests}
	paths := Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8", "/live/cam1/a0.m3u8"}}
	onePath := Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8"}}
	env := fakeEnv{vars: map[string]string{"PURGE_TOKEN": "s3cr3t-token"}}
	for _, tc := range []struct {
		name  string
		cfg   Config
		r     Request
		wants []want
	}{
		{"PURGE per path, stream prefix", Config{URL: "{base}{path}"}, stream,
			[]want{{method: "PURGE", path: "/live/cam1/", header: map[string]string{"traceparent": traceParent}}}},
		{"PURGE per path, given paths", Config{URL: "{base}{path}"}, paths,
			[]want{{method: "PURGE", path: "/live/cam1/v0.m3u8"}, {method: "PURGE", path: "/live/cam1/a0.m3u8"}}},
		{"BAN with keys header and env token", Config{Method: "ban", URL: "{base}/",
			Headers: map[string]string{"X-Keys": "{keys}", "Authorization": "Bearer ${PURGE_TOKEN}"}}, manifests,
			[]want{{method: "BAN", path: "/", header: map[string]string{"X-Keys": "manifests-cam1", "Authorization": "Bearer s3cr3t-token", "traceparent": ""}}}},
		{"POST per key with body", Config{Method: "POST", URL: "{base}/purge/{key}?s={stream}",
			Body: `{"stream":"{stream}","key":"{key}"}`, Headers: map[string]string{"Content-Type": "application/json"}}, stream,
			[]want{{method: "POST", path: "/purge/stream-cam1?s=cam1", body: `{"stream":"cam1","key":"stream-cam1"}`,
				header: map[string]string{"Content-Type": "application/json"}}}},
		{"{keys} in the URL is escaped", Config{Method: "POST", URL: "{base}/k/{keys}"}, stream,
			[]want{{method: "POST", path: "/k/stream-cam1"}}},
		{"Host header", Config{URL: "{base}{path}", Headers: map[string]string{"Host": "cdn.example.com"}}, onePath,
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecorder(t)
			c := tc.cfg
			c.Type = "http"
			c.URL = strings.ReplaceAll(c.URL, "{base}", srv.URL)
			b := newBackend(t, c, env)
			if err := b.Purge(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			if tc.wants == nil { // the Host case
				if h := rec.requests()[0].Host; h != "cdn.example.com" {
					t.Errorf("Host %q", h)
				}
				return
			}
			checkRequests(t, rec.requests(), tc.wants)
		})
	}
}

func TestHTTPBackendStatus(t *testing.T) {
	for _, tc := range []struct {
		method string
		code   int
		ok     bool
	}{
		{"PURGE", 200, true},
		{"PURGE", 204, true},
		{"PURGE", 404, true}, // not cached: nothing to forget
		{"POST", 404, false},
		{"PURGE", 405, false},
		{"BAN", 500, false},
	} {
		_, srv := newRecorder(t, reply{code: tc.code})
		b := newBackend(t, Config{Type: "http", Method: tc.method, URL: srv.URL + "{path}"}, fakeEnv{})
		err := b.Purge(context.Background(), Request{Stream: "s", Scope: ScopeStream})
		if (err == nil) != tc.ok {
			t.Errorf("%s answered %d: err %v, want ok=%v", tc.method, tc.code, err, tc.ok)
		}
	}
}

// A template that cannot express a scope fails permanently instead of
// purging too much or nothing.
func TestHTTPBackendUnsupportedScope(t *testing.T) {
	rec, srv := newRecorder(t)
	for _, tc := range []struct {
		url string
		r   Request
	}{
		{srv.URL + "/{key}", Request{Stream: "s", Scope: ScopePaths, Paths: []string{"/x"}}},
		{srv.URL + "/ban/{stream}", Request{Stream: "s", Scope: ScopePaths, Paths: []string{"/x"}}},
	} {
		b := newBackend(t, Config{Type: "http", URL: tc.url}, fakeEnv{})
		err := b.Purge(context.Background(), tc.r)
		if err == nil || !IsPermanent(err) {
			t.Errorf("%s: err %v, want a permanent error", tc.url, err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
