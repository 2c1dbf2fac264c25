package purge

import (
	"context"
	"testing"
)

// Fastly API reference, "Purging":
//   - Purge multiple surrogate keys: POST /service/{service_id}/purge,
//     Surrogate-Key: key_1 key_2, Fastly-Key: token; optional
//     Fastly-Soft-Purge: 1. Answer 200 {"key_1": "purge id", ...}.
//   - Purge a URL: POST /purge/{cached_url} (host and path, no scheme).
func TestFastly(t *testing.T) {
	env := fakeEnv{vars: map[string]string{"FASTLY_API_TOKEN": "fastly-token-123"}}
	for _, tc := range []struct {
		name  string
		soft  bool
		r     Request
		wants []want
	}{
		{"stream", false, Request{Stream: "cam1", Scope: ScopeStream, TraceParent: traceParent}, []want{{
			method: "POST", path: "/service/SU1Z0isxPaozGVKXdv0eY/purge",
			header: map[string]string{"Surrogate-Key": "stream-cam1", "Fastly-Key": "fastly-token-123",
				"Fastly-Soft-Purge": "", "Accept": "application/json", "traceparent": traceParent}}}},
		{"manifests soft", true, Request{Stream: "cam1", Scope: ScopeManifests}, []want{{
			method: "POST", path: "/service/SU1Z0isxPaozGVKXdv0eY/purge",
			header: map[string]string{"Surrogate-Key": "manifests-cam1", "Fastly-Key": "fastly-token-123", "Fastly-Soft-Purge": "1"}}}},
		{"paths", false, Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8", "/live/cam1/a0.m3u8?x=1"}}, []want{
			{method: "POST", path: "/purge/cdn.example.com/live/cam1/v0.m3u8",
				header: map[string]string{"Fastly-Key": "fastly-token-123", "Surrogate-Key": ""}},
			{method: "POST", path: "/purge/cdn.example.com/live/cam1/a0.m3u8?x=1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecorder(t, reply{code: 200, body: `{"status":"ok","id":"108-1391560174-974124"}`})
			b := newBackend(t, Config{Type: "fastly", APIURL: srv.URL, ServiceID: "SU1Z0isxPaozGVKXdv0eY",
				Host: "cdn.example.com", Soft: tc.soft, TokenEnv: "FASTLY_API_TOKEN"}, env)
			if err := b.Purge(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			checkRequests(t, rec.requests(), tc.wants)
		})
	}
}

func TestFastlyErrors(t *testing.T) {
	env := fakeEnv{files: map[string]string{"/run/secrets/fastly": "fastly-token-123\n"}}
	_, srv := newRecorder(t, reply{code: 401, body: `{"msg":"Provided credentials are missing or invalid"}`})
	b := newBackend(t, Config{Type: "fastly", APIURL: srv.URL, ServiceID: "svc", TokenFile: "/run/secrets/fastly"}, env)
	err := b.Purge(context.Background(), Request{Stream: "s", Scope: ScopeStream})
	if err == nil || !IsPermanent(err) {
		t.Fatalf("401: %v, want a permanent error", err)
	}
	// Without host, paths cannot be named.
	err = b.Purge(context.Background(), Request{Stream: "s", Scope: ScopePaths, Paths: []string{"/x"}})
	if err == nil || !IsPermanent(err) {
		t.Fatalf("paths without host: %v", err)
	}
}
