package playauth

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzCheck: any token text is refused or accepted without a panic, and
// only a token this key signed is accepted.
func FuzzCheck(f *testing.F) {
	v, _ := NewVerifier(oldKey, newKey)
	for _, c := range []Claims{
		{Prefix: "/live/demo/", Expires: now.Add(time.Hour)},
		{Prefix: "/live/demo/", Expires: now.Add(time.Hour), ClientIP: client},
		{Prefix: "/live/demo/v0", Expires: now.Add(time.Minute), ClientIP: netip.MustParseAddr("2001:db8::1")},
		{Prefix: "/", Expires: now.Add(-time.Hour)},
	} {
		f.Add(mustSign(f, oldKey, c), "/live/demo/", "index.m3u8")
		f.Add(mustSign(f, newKey, c), "/live/", "demo/v0/part-1.m4s")
	}
	for _, s := range []string{"", "v1", "v1.....", "v1.k1.1.L2.MTkyLjAuMi43.", "v1.k1.99999999999.Lw.." + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		f.Add(s, "/live/demo/", "")
	}
	f.Fuzz(func(t *testing.T, tok, head, tail string) {
		r := v.Check(tok, Request{Head: head, Tail: tail, Client: client, Now: now})
		if r != "" {
			return
		}
		// Accepted: it must parse, and its signature must be right.
		if _, ok := parse(tok); !ok {
			t.Fatalf("accepted a token that does not parse: %q", tok)
		}
	})
}
