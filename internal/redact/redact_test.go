package redact

import "testing"

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pass@api.example.com/purge?token=abc#frag", "https://api.example.com/purge"},
		{"http://127.0.0.1:6081/", "http://127.0.0.1:6081/"},
		{"http://a b/%zz?token=x", "http://a b/%zz"},
		{"::bad@secret", "::bad"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
