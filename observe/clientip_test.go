package observe

import "testing"

func TestForwardedFor(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		"203.0.113.7":           "203.0.113.7",
		" 203.0.113.7 ":         "203.0.113.7",
		"10.0.0.1, 203.0.113.7": "203.0.113.7", // the entry the proxy appended, not the client's
		"forged, 2001:db8::1":   "2001:db8::1",
		"203.0.113.7,":          "",
	} {
		if got := ForwardedFor(in); got != want {
			t.Errorf("ForwardedFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidHeaderName(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Forwarded-For":  true,
		"CF-Connecting-IP": true,
		"":                 false,
		"X Forwarded":      false,
		"X-Real-IP:":       false,
		"X-A\r\nX-B":       false,
		"X-(ip)":           false, // not a token character
		"X-\x00":           false,
	} {
		if got := ValidHeaderName(name); got != want {
			t.Errorf("ValidHeaderName(%q) = %v, want %v", name, got, want)
		}
	}
}
