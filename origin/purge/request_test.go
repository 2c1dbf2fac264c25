package purge

import (
	"slices"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want []string
	}{
		{Request{Stream: "cam1", Scope: ScopeStream}, []string{"stream-cam1"}},
		{Request{Stream: "cam1", Scope: ScopeManifests}, []string{"manifests-cam1"}},
		{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8"}}, nil},
	} {
		if got := tc.r.Keys(); !slices.Equal(got, tc.want) {
			t.Errorf("%v.Keys() = %v, want %v", tc.r.Scope, got, tc.want)
		}
	}
	if p := (Request{Stream: "cam1"}).Prefix(); p != "/live/cam1/" {
		t.Errorf("Prefix = %q", p)
	}
}

// The keys of every valid stream name are valid surrogate keys and cache
// tags for each CDN:
//   - Akamai Edge-Cache-Tag: at most 128 characters, letters, digits and
//     !#$%&'*+-.^_`|~ (Akamai TechDocs, "Purge content by cache tag").
//   - Cloudflare Cache-Tag: comma separated, at most 1,024 characters each,
//     printable ASCII, no spaces (Cloudflare docs, "Purge cache by cache-tags").
//   - Fastly Surrogate-Key: space separated, at most 1,024 bytes each
//     (Fastly docs, "Working with surrogate keys").
//   - Varnish xkey: separated by whitespace or commas (vmod_xkey).
func TestKeysValidForEveryCDN(t *testing.T) {
	longest := strings.Repeat("a", 64)
	for _, name := range []string{"a", "cam-1", "Cam_1.hd", longest} {
		for _, k := range []string{StreamKey(name), ManifestKey(name)} {
			if len(k) > 128 {
				t.Errorf("%q: %d characters, Akamai allows 128", k, len(k))
			}
			for i := 0; i < len(k); i++ {
				c := k[i]
				ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
				if !ok || c == ',' || c == ' ' {
					t.Errorf("%q has %q", k, c)
				}
			}
		}
	}
	// Keys of two streams never collide, nor with the other kind.
	if StreamKey("x") == ManifestKey("x") || StreamKey("manifests-x") == ManifestKey("x") {
		t.Error("keys collide")
	}
}

var validateCases = []struct {
	r    Request
	want string // "" valid, else a piece of the error
}{
	{Request{Stream: "cam1", Scope: ScopeManifests}, ""},
	{Request{Stream: "cam1", Scope: ScopeStream}, ""},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8", "/live/cam1/index.m3u8?x=1&y=%20"}}, ""},
	{Request{Stream: "", Scope: ScopeStream}, "empty"},
	{Request{Stream: ".hidden", Scope: ScopeStream}, "dot"},
	{Request{Stream: "a/b", Scope: ScopeStream}, "character"},
	{Request{Stream: strings.Repeat("a", 65), Scope: ScopeStream}, "65 characters"},
	{Request{Stream: "cam1", Scope: ScopeStream, Paths: []string{"/x"}}, "only for scope paths"},
	{Request{Stream: "cam1", Scope: ScopePaths}, "at least one path"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"live/x"}}, "start with '/'"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/*"}}, "wildcards"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/a b"}}, "' '"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/a\"b"}}, "percent-encode"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/a\r\nX-Evil: 1"}}, "percent-encode"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/" + strings.Repeat("a", MaxPathLen)}}, "at most"},
	{Request{Stream: "cam1", Scope: ScopePaths, Paths: make([]string, MaxPaths+1)}, "at most"},
	{Request{Stream: "cam1", Scope: Scope(7)}, "unknown scope"},
}

func TestValidate(t *testing.T) {
	for _, tc := range validateCases {
		err := tc.r.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.r, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.r, err, tc.want)
		}
	}
}

// FuzzValidate: what Validate accepts (admin API input) is safe to put in a
// header, a JSON string and a URL path as it is.
func FuzzValidate(f *testing.F) {
	for _, tc := range validateCases {
		if len(tc.r.Paths) <= 2 {
			f.Add(tc.r.Stream, int(tc.r.Scope), strings.Join(tc.r.Paths, "\n"))
		}
	}
	f.Fuzz(func(t *testing.T, stream string, scope int, paths string) {
		r := Request{Stream: stream, Scope: Scope(scope)}
		if paths != "" {
			r.Paths = strings.Split(paths, "\n")
		}
		if r.Validate() != nil {
			return
		}
		for _, p := range r.Paths {
			if strings.ContainsAny(p, " \t\r\n\"\\<>{}*#") || p[0] != '/' {
				t.Errorf("accepted path %q", p)
			}
		}
		for _, k := range r.Keys() {
			if strings.ContainsAny(k, " \t\r\n,") {
				t.Errorf("key %q", k)
			}
		}
	})
}

func TestParseScope(t *testing.T) {
	for _, s := range []Scope{ScopeManifests, ScopeStream, ScopePaths} {
		got, err := ParseScope(s.String())
		if err != nil || got != s {
			t.Errorf("ParseScope(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseScope("all"); err == nil {
		t.Error("ParseScope(all) succeeded")
	}
}

func TestValidTraceParent(t *testing.T) {
	for s, want := range map[string]bool{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":   true,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0":    false,
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01":   false, // lowercase only
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":   false, // version ff is invalid
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331\r\n1": false,
		"": false,
	} {
		if validTraceParent(s) != want {
			t.Errorf("validTraceParent(%q) != %v", s, want)
		}
	}
}
