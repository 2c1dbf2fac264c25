package playauth

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	oldKey = Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef-old")}
	newKey = Key{ID: "k2", Secret: []byte("fedcba9876543210fedcba9876543210-new")}
	now    = time.Unix(1795000000, 0)
	client = netip.MustParseAddr("192.0.2.7")
)

func mustSign(t testing.TB, k Key, c Claims) string {
	t.Helper()
	tok, err := Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// changeChar changes the character at i into another of the same class.
func changeChar(s string, i int) string {
	c := s[i]
	r := byte('A')
	if c == 'A' || c == '.' {
		r = 'B'
	}
	if c >= '0' && c <= '9' {
		r = '0' + (c-'0'+1)%10
	}
	return s[:i] + string(r) + s[i+1:]
}

func TestCheck(t *testing.T) {
	stream := Claims{Prefix: "/live/demo/", Expires: now.Add(time.Hour)}
	bound := stream
	bound.ClientIP = client
	tok := mustSign(t, oldKey, stream)
	boundTok := mustSign(t, oldKey, bound)
	both, err := NewVerifier(oldKey, newKey)
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, _ := NewVerifier(newKey)
	req := func(head, tail string) Request { return Request{Head: head, Tail: tail, Client: client, Now: now} }
	tests := []struct {
		name  string
		v     *Verifier
		token string
		req   Request
		want  Reason
	}{
		{"valid playlist", both, tok, req("/live/demo/", "index.m3u8"), ""},
		{"valid segment", both, tok, req("/live/demo/", "v0/1795000000000.m4s"), ""},
		{"prefix across head and tail", both, tok, req("/live/", "demo/v0.m3u8"), ""},
		{"valid until the last second", both, tok, Request{Head: "/live/demo/", Tail: "a0.m3u8", Now: now.Add(time.Hour - time.Second)}, ""},
		{"expired at the expiry", both, tok, Request{Head: "/live/demo/", Tail: "a0.m3u8", Now: now.Add(time.Hour)}, ReasonExpired},
		{"other stream", both, tok, req("/live/demo2/", "index.m3u8"), ReasonWrongPath},
		{"stream name is a prefix", both, tok, req("/live/dem", "o"), ReasonWrongPath},
		{"bound, same address", both, boundTok, req("/live/demo/", "index.m3u8"), ""},
		{"bound, ipv4-mapped address", both, boundTok, Request{Head: "/live/demo/", Client: netip.MustParseAddr("::ffff:192.0.2.7"), Now: now}, ""},
		{"bound, other address", both, boundTok, Request{Head: "/live/demo/", Client: netip.MustParseAddr("192.0.2.8"), Now: now}, ReasonWrongIP},
		{"bound, no address", both, boundTok, Request{Head: "/live/demo/", Now: now}, ReasonWrongIP},
		{"rotation: new key accepted", both, mustSign(t, newKey, stream), req("/live/demo/", "index.m3u8"), ""},
		{"rotation over: old key refused", onlyNew, tok, req("/live/demo/", "index.m3u8"), ReasonBadSignature},
		{"no keys", nil, tok, req("/live/demo/", "index.m3u8"), ReasonBadSignature},
		{"signed with another secret", both, mustSign(t, Key{ID: "k1", Secret: newKey.Secret}, stream), req("/live/demo/", "index.m3u8"), ReasonBadSignature},
		{"changed expiry", both, strings.Replace(tok, ".1795003600.", ".1795007200.", 1), req("/live/demo/", "index.m3u8"), ReasonBadSignature},
		{"changed signature", both, changeChar(tok, len(tok)-5), req("/live/demo/", "index.m3u8"), ReasonBadSignature},
		{"empty", both, "", req("/live/demo/", ""), ReasonMalformed},
		{"other version", both, "v2" + tok[2:], req("/live/demo/", ""), ReasonMalformed},
		{"short signature", both, tok[:len(tok)-1], req("/live/demo/", ""), ReasonMalformed},
		{"a field missing", both, "v1.k1.1795003600.L2xpdmUv.", req("/live/demo/", ""), ReasonMalformed},
		{"leading zero expiry", both, strings.Replace(tok, ".1795003600.", ".01795003600.", 1), req("/live/demo/", ""), ReasonMalformed},
		{"padding", both, tok + "=", req("/live/demo/", ""), ReasonMalformed},
		{"too long", both, tok + strings.Repeat("A", MaxTokenLength), req("/live/demo/", ""), ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Check(tc.token, tc.req); got != tc.want {
				t.Errorf("Check(%q) = %q, want %q", tc.token, got, tc.want)
			}
		})
	}
}

// Every single changed character of a token, into any other character a
// token may hold, is refused: also in the signature's last character,
// whose two low bits base64 does not use.
func TestCheckEveryChangedCharacter(t *testing.T) {
	v, _ := NewVerifier(oldKey)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for _, c := range []Claims{
		{Prefix: "/live/demo/", Expires: now.Add(time.Hour), ClientIP: client},
		{Prefix: "/live/demo/", Expires: now.Add(2 * time.Hour)},
	} {
		tok := mustSign(t, oldKey, c)
		for i := range tok {
			for _, r := range []byte(alphabet) {
				if r == tok[i] {
					continue
				}
				changed := tok[:i] + string(r) + tok[i+1:]
				if got := v.Check(changed, Request{Head: "/live/demo/", Client: client, Now: now}); got == "" {
					t.Errorf("character %d changed (%q): accepted", i, changed)
				}
			}
		}
	}
}

func TestSignRefuses(t *testing.T) {
	good := Claims{Prefix: "/live/demo/", Expires: now}
	for _, tc := range []struct {
		name string
		k    Key
		c    Claims
	}{
		{"short secret", Key{ID: "k", Secret: []byte("short")}, good},
		{"no key id", Key{Secret: oldKey.Secret}, good},
		{"key id with a dot", Key{ID: "a.b", Secret: oldKey.Secret}, good},
		{"relative prefix", oldKey, Claims{Prefix: "live/demo/", Expires: now}},
		{"no expiry", oldKey, Claims{Prefix: "/live/demo/"}},
		{"long prefix", oldKey, Claims{Prefix: "/" + strings.Repeat("a", MaxPrefixLength), Expires: now}},
	} {
		if tok, err := Sign(tc.k, tc.c); err == nil {
			t.Errorf("%s: signed %q", tc.name, tok)
		}
	}
}

// The token layout of docs/security.md, checked against a fixed example.
func TestTokenLayout(t *testing.T) {
	tok := mustSign(t, oldKey, Claims{Prefix: "/live/demo/", Expires: now.Add(time.Hour), ClientIP: client})
	f := strings.Split(tok, ".")
	if len(f) != 6 || f[0] != "v1" || f[1] != "k1" || f[2] != "1795003600" || f[3] != "L2xpdmUvZGVtby8" || f[4] != "MTkyLjAuMi43" || len(f[5]) != 43 {
		t.Errorf("token %q", tok)
	}
}

func TestPolicy(t *testing.T) {
	p, errs := NewPolicy(Options{Keys: []Key{oldKey, newKey}, SigningKey: "k2", Streams: []string{"paid"}, MaxLifetime: time.Hour})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !p.Protected("paid") || p.Protected("free") {
		t.Error("Protected")
	}
	tok, exp, err := p.Mint("paid", 10*time.Minute, netip.Addr{}, now)
	if err != nil || !exp.Equal(now.Add(10*time.Minute)) || !strings.HasPrefix(tok, "v1.k2.") {
		t.Fatalf("Mint: %q %v %v", tok, exp, err)
	}
	if r := p.Check(tok, Request{Head: StreamPrefix("paid"), Tail: "index.m3u8", Now: now}); r != "" {
		t.Errorf("minted token refused: %s", r)
	}
	if _, _, err := p.Mint("paid", 2*time.Hour, netip.Addr{}, now); err == nil {
		t.Error("minted a token longer than the max lifetime")
	}
	if _, _, err := p.Mint("../x", time.Minute, netip.Addr{}, now); err == nil {
		t.Error("minted a token for a bad stream name")
	}
	if SignedPath("paid", "TOK", "index.m3u8") != "/live/paid/t/TOK/index.m3u8" {
		t.Error(SignedPath("paid", "TOK", "index.m3u8"))
	}
	all, _ := NewPolicy(Options{Keys: []Key{oldKey}, Streams: []string{"*"}})
	if !all.Protected("anything") {
		t.Error("* does not protect every stream")
	}
	var off *Policy
	if off.Protected("x") || off.Check(tok, Request{Now: now}) != ReasonBadSignature {
		t.Error("the nil policy")
	}
	if _, _, err := off.Mint("x", time.Minute, netip.Addr{}, now); err == nil {
		t.Error("the nil policy minted")
	}
}

func TestBadPolicies(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Streams: []string{"*"}}, "no playback-token-key"},
		{Options{Keys: []Key{oldKey, newKey}}, "name the one that signs"},
		{Options{Keys: []Key{oldKey}, SigningKey: "k9"}, `no playback-token-key has the id "k9"`},
		{Options{Keys: []Key{oldKey, oldKey}, SigningKey: "k1"}, "given twice"},
		{Options{Keys: []Key{{ID: "k", Secret: []byte("x")}}}, "at least 32 bytes"},
		{Options{Keys: []Key{oldKey}, Streams: []string{"a/b"}}, "playback-token-streams a/b"},
		{Options{Keys: []Key{oldKey}, MaxLifetime: -time.Second}, "negative"},
	} {
		_, errs := NewPolicy(tc.o)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o.Streams, errs, tc.want)
		}
		for _, err := range errs {
			if strings.Contains(err.Error(), string(oldKey.Secret)) {
				t.Errorf("error shows a secret: %v", err)
			}
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	v, _ := NewVerifier(oldKey, newKey)
	tok := mustSign(b, oldKey, Claims{Prefix: "/live/demo/", Expires: now.Add(time.Hour), ClientIP: client})
	req := Request{Head: "/live/demo/", Tail: "v0/1795000000000.m4s", Client: client, Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Check(tok, req); r != "" {
			b.Fatal(r)
		}
	}
}
