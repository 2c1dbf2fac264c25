package playauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the first field of every token this package signs.
const Version = "v1"

// Limits of a token's fields.
const (
	// MinSecretLength is the shortest signing secret accepted: HMAC-SHA256
	// wants a key as long as its output.
	MinSecretLength = 32
	// MaxKeyIDLength bounds a key id ([A-Za-z0-9_-]).
	MaxKeyIDLength = 32
	// MaxPrefixLength bounds the path prefix a token covers.
	MaxPrefixLength = 256
	// MaxTokenLength bounds a whole token; longer ones are malformed
	// before any work is done.
	MaxTokenLength = 512
)

// Reason says why a token was refused: the reason label of
// liveorigin_playback_token_refusals_total. The empty Reason accepts.
type Reason string

const (
	ReasonMissing      Reason = "missing"       // a protected stream asked for without a token
	ReasonMalformed    Reason = "malformed"     // not a v1 token, a field out of its syntax
	ReasonBadSignature Reason = "bad_signature" // an unknown key id or a signature that does not match
	ReasonExpired      Reason = "expired"       // the expiry has passed
	ReasonWrongPath    Reason = "wrong_path"    // the request is outside the path prefix
	ReasonWrongIP      Reason = "wrong_ip"      // bound to another client address
)

// Reasons lists every refusal reason, for metrics.
var Reasons = []Reason{ReasonMissing, ReasonMalformed, ReasonBadSignature, ReasonExpired, ReasonWrongPath, ReasonWrongIP}

// Claims are what a token grants: playback of every path that starts with
// Prefix until Expires, optionally only to ClientIP.
type Claims struct {
	// Prefix is the path prefix covered, e.g. "/live/NAME/" (a whole
	// stream). Required; it must start with "/".
	Prefix string
	// Expires is when the token stops working (second precision).
	Expires time.Time
	// ClientIP, when valid, binds the token to one client address.
	ClientIP netip.Addr
}

// Key is one signing key: its id, carried in tokens so that keys can
// rotate, and its secret.
type Key struct {
	ID     string
	Secret []byte
}

var b64 = base64.RawURLEncoding

// Sign returns the token for c signed with k:
//
//	v1.KID.EXPIRES.PREFIX.IP.SIG
//
// EXPIRES is unix seconds in decimal, PREFIX and IP are base64url without
// padding (IP empty when unbound), SIG is base64url without padding of
// HMAC-SHA256(secret, every byte before ".SIG"), compared as text. docs/security.md is the
// normative description, for CDN edge functions.
func Sign(k Key, c Claims) (string, error) {
	if err := checkKey(k); err != nil {
		return "", err
	}
	if !strings.HasPrefix(c.Prefix, "/") || len(c.Prefix) > MaxPrefixLength {
		return "", fmt.Errorf("playauth: the path prefix must start with / and be at most %d bytes, got %q", MaxPrefixLength, c.Prefix)
	}
	if c.Expires.Unix() <= 0 {
		return "", errors.New("playauth: no expiry")
	}
	var ip string
	if c.ClientIP.IsValid() {
		ip = b64.EncodeToString([]byte(c.ClientIP.Unmap().String()))
	}
	body := Version + "." + k.ID + "." + strconv.FormatInt(c.Expires.Unix(), 10) + "." +
		b64.EncodeToString([]byte(c.Prefix)) + "." + ip
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte(body))
	tok := body + "." + b64.EncodeToString(m.Sum(nil))
	if len(tok) > MaxTokenLength {
		return "", fmt.Errorf("playauth: the token would be %d bytes, more than %d", len(tok), MaxTokenLength)
	}
	return tok, nil
}

func checkKey(k Key) error {
	if k.ID == "" || len(k.ID) > MaxKeyIDLength {
		return fmt.Errorf("playauth: key id %q: 1 to %d characters", k.ID, MaxKeyIDLength)
	}
	if !allB64(k.ID) {
		return fmt.Errorf("playauth: key id %q: only letters, digits, '-' and '_'", k.ID)
	}
	if len(k.Secret) < MinSecretLength {
		return fmt.Errorf("playauth: key %s: the secret must be at least %d bytes (got %d)", k.ID, MinSecretLength, len(k.Secret))
	}
	return nil
}

func b64Char(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Verifier checks tokens against a set of keys (two during a rotation).
// It is immutable and safe for concurrent use; checking a token does not
// allocate.
type Verifier struct {
	keys map[string]*verifyKey
}

// verifyKey pools the HMAC states of one key: a check reuses one instead
// of building it (hmac.New allocates).
type verifyKey struct {
	pool sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	// buf holds the signed text: a string handed to h.Write would be
	// copied to the heap on every check.
	buf []byte
}

// NewVerifier builds a Verifier of keys.
func NewVerifier(keys ...Key) (*Verifier, error) {
	v := &Verifier{keys: make(map[string]*verifyKey, len(keys))}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		if _, dup := v.keys[k.ID]; dup {
			return nil, fmt.Errorf("playauth: key id %s given twice", k.ID)
		}
		secret := append([]byte(nil), k.Secret...)
		v.keys[k.ID] = &verifyKey{pool: sync.Pool{New: func() any {
			return &macState{h: hmac.New(sha256.New, secret)}
		}}}
	}
	return v, nil
}

// Request is what a token is checked against: the request's path without
// the token, as two pieces (Head then Tail: the origin cuts the token out
// of the path without copying it), the client's address and the time.
type Request struct {
	Head, Tail string
	Client     netip.Addr
	Now        time.Time
}

// Check decides on token for req; the empty Reason accepts it. The
// signature is compared in constant time, and checked before any claim,
// so a refusal for a claim (expired, wrong path, wrong ip) is given only
// for a token this origin signed.
func (v *Verifier) Check(token string, req Request) Reason {
	t, ok := parse(token)
	if !ok {
		return ReasonMalformed
	}
	// The signature is compared as text, with the MAC encoded here: its
	// last character carries two unused bits, so comparing decoded bytes
	// would accept a changed character.
	if len(t.sig) != b64.EncodedLen(sha256.Size) {
		return ReasonMalformed
	}
	var k *verifyKey
	if v != nil {
		k = v.keys[t.kid]
	}
	if k == nil {
		return ReasonBadSignature
	}
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.buf = append(st.buf[:0], token[:len(token)-len(t.sig)-1]...)
	st.h.Write(st.buf)
	var want [43]byte // b64.EncodedLen(sha256.Size)
	b64.Encode(want[:], st.h.Sum(st.sum[:0]))
	k.pool.Put(st)
	good := subtle.ConstantTimeCompare(want[:], []byte(t.sig)) == 1
	if !good {
		return ReasonBadSignature
	}
	if req.Now.Unix() >= t.expires {
		return ReasonExpired
	}
	var pbuf [MaxPrefixLength]byte
	if len(t.prefix) > b64.EncodedLen(len(pbuf)) {
		return ReasonMalformed
	}
	n, err := b64.Decode(pbuf[:], []byte(t.prefix))
	if err != nil || n == 0 || pbuf[0] != '/' {
		return ReasonMalformed
	}
	if !hasPrefix2(req.Head, req.Tail, pbuf[:n]) {
		return ReasonWrongPath
	}
	if t.ip != "" {
		// The token carries the address in its canonical text form
		// (netip.Addr.String of the unmapped address): compared as text.
		var want, got [64]byte
		if len(t.ip) > b64.EncodedLen(len(want)) {
			return ReasonMalformed
		}
		n, err := b64.Decode(want[:], []byte(t.ip))
		if err != nil {
			return ReasonMalformed
		}
		if !req.Client.IsValid() || string(req.Client.Unmap().AppendTo(got[:0])) != string(want[:n]) {
			return ReasonWrongIP
		}
	}
	return ""
}

// hasPrefix2 reports whether head+tail starts with prefix.
func hasPrefix2(head, tail string, prefix []byte) bool {
	if len(prefix) <= len(head) {
		return head[:len(prefix)] == string(prefix)
	}
	if len(prefix) > len(head)+len(tail) {
		return false
	}
	return head == string(prefix[:len(head)]) && tail[:len(prefix)-len(head)] == string(prefix[len(head):])
}

// token is a parsed token's fields, substrings of the token.
type token struct {
	kid, prefix, ip, sig string
	expires              int64
}

// parse splits a token into its fields and checks their syntax.
func parse(s string) (token, bool) {
	var t token
	if len(s) > MaxTokenLength {
		return t, false
	}
	ver, s, ok1 := strings.Cut(s, ".")
	kid, s, ok2 := strings.Cut(s, ".")
	exp, s, ok3 := strings.Cut(s, ".")
	prefix, s, ok4 := strings.Cut(s, ".")
	ip, sig, ok5 := strings.Cut(s, ".")
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || ver != Version {
		return t, false
	}
	if kid == "" || len(kid) > MaxKeyIDLength || !allB64(kid) || prefix == "" || !allB64(prefix) || !allB64(ip) || !allB64(sig) {
		return t, false
	}
	if exp == "" || len(exp) > 12 || exp[0] == '0' {
		return t, false
	}
	var e int64
	for i := 0; i < len(exp); i++ {
		c := exp[i]
		if c < '0' || c > '9' {
			return t, false
		}
		e = e*10 + int64(c-'0')
	}
	t.kid, t.prefix, t.ip, t.sig, t.expires = kid, prefix, ip, sig, e
	return t, true
}

func allB64(s string) bool {
	for i := 0; i < len(s); i++ {
		if !b64Char(s[i]) {
			return false
		}
	}
	return true
}
