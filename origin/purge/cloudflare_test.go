package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const cfOK = `{"success":true,"errors":[],"messages":[],"result":{"id":"023e105f4ecef8ad9ca31a8372d0c353"}}`

// Cloudflare API, "Purge Cached Content": POST
// /client/v4/zones/{zone_id}/purge_cache, Authorization: Bearer TOKEN, a JSON
// body with one of tags, prefixes (host/path, no scheme) or files (full
// URLs); the answer's "success" says whether it was done.
func TestCloudflare(t *testing.T) {
	env := fakeEnv{vars: map[string]string{"CF_API_TOKEN": "cf-token-abcdef"}}
	many := make([]string, 31)
	for i := range many {
		many[i] = fmt.Sprintf("/live/cam1/v0/%d.m4s", i)
	}
	for _, tc := range []struct {
		name   string
		mode   string
		r      Request
		bodies []string
	}{
		{"tags stream", "", Request{Stream: "cam1", Scope: ScopeStream}, []string{`{"tags":["stream-cam1"]}`}},
		{"tags manifests", "tags", Request{Stream: "cam1", Scope: ScopeManifests}, []string{`{"tags":["manifests-cam1"]}`}},
		{"prefix stream", "prefix", Request{Stream: "cam1", Scope: ScopeStream}, []string{`{"prefixes":["cdn.example.com/live/cam1/"]}`}},
		{"prefix manifests", "prefix", Request{Stream: "cam1", Scope: ScopeManifests}, []string{`{"prefixes":["cdn.example.com/live/cam1/"]}`}},
		{"files", "tags", Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8"}},
			[]string{`{"files":["https://cdn.example.com/live/cam1/v0.m3u8"]}`}},
		{"files in batches of 30", "prefix", Request{Stream: "cam1", Scope: ScopePaths, Paths: many}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecorder(t, reply{code: 200, body: cfOK})
			b := newBackend(t, Config{Type: "cloudflare", APIURL: srv.URL, ZoneID: "023e105f4ecef8ad9ca31a8372d0c353",
				Host: "cdn.example.com", Mode: tc.mode, TokenEnv: "CF_API_TOKEN"}, env)
			if err := b.Purge(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			got := rec.requests()
			for _, g := range got {
				checkRequests(t, []captured{g}, []want{{method: "POST", path: "/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache",
					header: map[string]string{"Authorization": "Bearer cf-token-abcdef", "Content-Type": "application/json"}}})
			}
			if tc.bodies != nil {
				if len(got) != len(tc.bodies) {
					t.Fatalf("%d calls, want %d", len(got), len(tc.bodies))
				}
				for i, g := range got {
					if g.Body != tc.bodies[i] {
						t.Errorf("body %s, want %s", g.Body, tc.bodies[i])
					}
				}
				return
			}
			// 31 files: 30 and 1, all of them, each once.
			if len(got) != 2 {
				t.Fatalf("%d calls, want 2", len(got))
			}
			var all []string
			for i, g := range got {
				var body struct{ Files []string }
				if err := json.Unmarshal([]byte(g.Body), &body); err != nil {
					t.Fatal(err)
				}
				if n := len(body.Files); n != []int{30, 1}[i] {
					t.Errorf("call %d has %d files", i, n)
				}
				all = append(all, body.Files...)
			}
			for i, p := range many {
				if all[i] != "https://cdn.example.com"+p {
					t.Errorf("file %d = %s", i, all[i])
				}
			}
		})
	}
}

func TestCloudflareAnswers(t *testing.T) {
	env := fakeEnv{files: map[string]string{"/etc/liveorigin/cf-token": "cf-token-abcdef"}}
	for _, tc := range []struct {
		reply     reply
		ok, perm  bool
		errSubstr string
	}{
		{reply{code: 200, body: cfOK}, true, false, ""},
		{reply{code: 200, body: `{"success":false,"errors":[{"code":1134,"message":"Purge by tag is not available"}]}`}, false, true, "1134 Purge by tag"},
		{reply{code: 200, body: `<html>`}, false, false, "not Cloudflare's JSON"},
		{reply{code: 403, body: `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`}, false, true, "403"},
		{reply{code: 429, body: `{"success":false}`}, false, false, "429"},
	} {
		_, srv := newRecorder(t, tc.reply)
		b := newBackend(t, Config{Type: "cloudflare", APIURL: srv.URL, ZoneID: "z", TokenFile: "/etc/liveorigin/cf-token"}, env)
		err := b.Purge(context.Background(), Request{Stream: "s", Scope: ScopeStream})
		if (err == nil) != tc.ok || (err != nil && IsPermanent(err) != tc.perm) {
			t.Errorf("%d %s: err %v, want ok=%v permanent=%v", tc.reply.code, tc.reply.body, err, tc.ok, tc.perm)
		}
		if err != nil && !strings.Contains(err.Error(), tc.errSubstr) {
			t.Errorf("error %q has no %q", err, tc.errSubstr)
		}
	}
}
