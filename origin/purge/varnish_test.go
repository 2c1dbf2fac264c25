package purge

import (
	"context"
	"testing"
)

// The Varnish backend speaks exactly the contract of docs/purge.md
// ("Varnish contract") that deploy/cdn/varnish/liveorigin.vcl implements.
func TestVarnish(t *testing.T) {
	stream := Request{Stream: "cam1", Scope: ScopeStream, TraceParent: traceParent}
	manifests := Request{Stream: "cam1", Scope: ScopeManifests}
	paths := Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8", "/live/cam1/index.m3u8"}}
	env := fakeEnv{vars: map[string]string{"VARNISH_SECRET": "purge-secret-1"}}
	for _, tc := range []struct {
		name  string
		mode  string
		r     Request
		wants []want
	}{
		{"xkey stream", "", stream, []want{{method: "PURGE", path: "/",
			header: map[string]string{"xkey-purge": "stream-cam1", "X-Purge-Secret": "purge-secret-1", "traceparent": traceParent}}}},
		{"xkey manifests", "xkey", manifests, []want{{method: "PURGE", path: "/",
			header: map[string]string{"xkey-purge": "manifests-cam1", "X-Ban-Prefix": "", "X-Ban-Manifests": ""}}}},
		{"xkey paths", "xkey", paths, []want{
			{method: "PURGE", path: "/live/cam1/v0.m3u8", header: map[string]string{"xkey-purge": ""}},
			{method: "PURGE", path: "/live/cam1/index.m3u8"}}},
		{"ban stream", "ban", stream, []want{{method: "BAN", path: "/",
			header: map[string]string{"X-Ban-Prefix": "/live/cam1/", "X-Ban-Manifests": "", "xkey-purge": ""}}}},
		{"ban manifests", "ban", manifests, []want{{method: "BAN", path: "/",
			header: map[string]string{"X-Ban-Manifests": "/live/cam1/", "X-Ban-Prefix": ""}}}},
		{"ban paths", "ban", paths, []want{
			{method: "PURGE", path: "/live/cam1/v0.m3u8"}, {method: "PURGE", path: "/live/cam1/index.m3u8"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecorder(t, reply{code: 200, header: map[string]string{"X-Purged": "3"}})
			b := newBackend(t, Config{Type: "varnish", URL: srv.URL + "/", Mode: tc.mode, Host: "cdn.example.com",
				Headers: map[string]string{"X-Purge-Secret": "${VARNISH_SECRET}"}}, env)
			if err := b.Purge(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			got := rec.requests()
			checkRequests(t, got, tc.wants)
			for _, g := range got {
				// The object hash is URL and Host: PURGE must carry the
				// viewers' Host.
				if g.Host != "cdn.example.com" {
					t.Errorf("Host %q", g.Host)
				}
			}
		})
	}
}

func TestVarnishStatus(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		code int
		ok   bool
	}{
		{Request{Stream: "s", Scope: ScopePaths, Paths: []string{"/live/s/v0.m3u8"}}, 404, true}, // not in cache
		{Request{Stream: "s", Scope: ScopeStream}, 404, false},                                   // the VCL has no xkey: misconfigured
		{Request{Stream: "s", Scope: ScopeStream}, 405, false},                                   // refused by the ACL
		{Request{Stream: "s", Scope: ScopeStream}, 200, true},
	} {
		_, srv := newRecorder(t, reply{code: tc.code})
		b := newBackend(t, Config{Type: "varnish", URL: srv.URL}, fakeEnv{})
		if err := b.Purge(context.Background(), tc.r); (err == nil) != tc.ok {
			t.Errorf("%s answered %d: %v", tc.r.Scope, tc.code, err)
		}
	}
}
