package origin

import (
	"net/http"
	"testing"
)

// TestHostileStreamNamesInErrors: a stream name in the URL that no
// publisher could use (control characters, commas, spaces) answers 404
// without surrogate keys: the name must not reach a header, where a NUL
// made the response one that HTTP clients and CDNs reject (found by the
// hostile-input battery) and a comma would add cache tags. A valid
// unknown name keeps its keys: the 404 is purged when the stream starts.
func TestHostileStreamNamesInErrors(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{
		"/live/%00/index.m3u8", "/live/a%00b/v0.m3u8", "/live/a%0d%0aX-Evil:%201/index.m3u8",
		"/live/x%2Cstream-demo/index.m3u8", "/live/a%20b/manifest.mpd", "/live/%7F/v0/1.m4s",
	} {
		resp := f.do(t, "GET", p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				for i := 0; i < len(v); i++ {
					if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
						t.Errorf("GET %s: header %s has control byte %#x: %q", p, k, c, v)
					}
				}
			}
		}
		for _, k := range []string{"Surrogate-Key", "Cache-Tag", "Edge-Cache-Tag"} {
			if v := resp.Header.Get(k); v != "" {
				t.Errorf("GET %s: %s %q, want none for a name no publisher can use", p, k, v)
			}
		}
	}
	resp := f.do(t, "GET", "/live/nope/index.m3u8")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Surrogate-Key") != "stream-nope manifests-nope" {
		t.Errorf("GET /live/nope/index.m3u8: %d, Surrogate-Key %q", resp.StatusCode, resp.Header.Get("Surrogate-Key"))
	}
}
