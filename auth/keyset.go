package auth

import (
	"crypto/subtle"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// Mode is how publishers are authorised.
type Mode string

const (
	// ModeOpen lets anyone who reaches an ingest port publish any name.
	ModeOpen Mode = "open"
	// ModeKeys requires the stream's own key (stream-key NAME=SECRET);
	// names without a key are refused.
	ModeKeys Mode = "keys"
	// ModeJWT requires a signed token (JWTConfig) whose claims allow the
	// stream name.
	ModeJWT Mode = "jwt"
)

// MinKeyLength is the shortest stream key accepted: shorter ones are
// guessable by a patient publisher, even slowed down.
const MinKeyLength = 16

// Why a publisher was refused: the reason label of
// liveorigin_publish_auth_failures_total and the log line's reason.
const (
	ReasonNoKey         = "no_key"
	ReasonWrongKey      = "wrong_key"
	ReasonUnknownStream = "unknown_stream"
)

// Config is a publish auth policy, the input of NewKeySet.
type Config struct {
	// Mode is the mode of every stream without its own (publish-auth).
	Mode Mode
	// StreamModes are the streams with their own mode (stream-auth).
	StreamModes map[string]Mode
	// Keys are the stream keys of ModeKeys (stream-key).
	Keys map[string]string
	// JWT are the keys and claims of ModeJWT (publish-jwt-*).
	JWT JWTConfig
}

// KeySet is an immutable authorisation policy: the mode of each stream
// name, the keys of ModeKeys and the token verifier of ModeJWT.
type KeySet struct {
	mode    Mode
	streams map[string]Mode
	keys    map[string][]byte
	jwt     *verifier
}

func validMode(m Mode) bool { return m == ModeOpen || m == ModeKeys || m == ModeJWT }

// NewKeySet validates c and builds a KeySet. Each problem is one error,
// naming the stream but never showing a key.
func NewKeySet(c Config) (*KeySet, []error) {
	var errs []error
	if !validMode(c.Mode) {
		errs = append(errs, fmt.Errorf("publish-auth: %q is not one of open, keys, jwt", c.Mode))
	}
	ks := &KeySet{mode: c.Mode, streams: make(map[string]Mode, len(c.StreamModes)), keys: make(map[string][]byte, len(c.Keys))}
	usesJWT := c.Mode == ModeJWT
	for _, n := range slices.Sorted(maps.Keys(c.StreamModes)) {
		m := c.StreamModes[n]
		switch {
		case ingest.ValidateName(n) != nil:
			errs = append(errs, fmt.Errorf("stream-auth %s: %v", n, ingest.ValidateName(n)))
		case !validMode(m):
			errs = append(errs, fmt.Errorf("stream-auth %s: %q is not one of open, keys, jwt", n, m))
		case m == ModeKeys && c.Keys[n] == "":
			errs = append(errs, fmt.Errorf("stream-auth %s=keys: stream %s has no stream-key (add stream-key %s=SECRET)", n, n, n))
		default:
			ks.streams[n] = m
			usesJWT = usesJWT || m == ModeJWT
		}
	}
	for _, n := range slices.Sorted(maps.Keys(c.Keys)) {
		if err := ingest.ValidateName(n); err != nil {
			errs = append(errs, fmt.Errorf("stream-key %s: %v", n, err))
			continue
		}
		if len(c.Keys[n]) < MinKeyLength {
			errs = append(errs, fmt.Errorf("stream-key %s: the key must be at least %d characters (got %d)", n, MinKeyLength, len(c.Keys[n])))
			continue
		}
		ks.keys[n] = []byte(c.Keys[n])
	}
	if c.Mode == ModeKeys && len(c.Keys) == 0 && len(c.StreamModes) == 0 {
		errs = append(errs, fmt.Errorf("publish-auth keys: no stream-key is set, so every publisher would be refused (add stream-key NAME=SECRET)"))
	}
	if usesJWT || c.JWT.configured() {
		v, verrs := newVerifier(c.JWT)
		errs = append(errs, verrs...)
		ks.jwt = v
		if usesJWT && !c.JWT.configured() {
			errs = append(errs, fmt.Errorf("publish-auth jwt: no key to verify tokens with (set publish-jwt-secret, publish-jwt-secret-file, publish-jwt-public-key-file or publish-jwt-jwks-url)"))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ks, nil
}

// ModeOf is the mode of stream name.
func (ks *KeySet) ModeOf(name string) Mode {
	if m, ok := ks.streams[name]; ok {
		return m
	}
	return ks.mode
}

// compare is the comparison Check uses; a test replaces it to see that
// the constant-time one is used.
var compare = subtle.ConstantTimeCompare

// presented is what a publisher sent: the key (or token) of its query,
// and its protocol credentials.
type presented struct {
	key   string
	has   bool // a key parameter, even empty
	creds ingest.Credentials
}

// check decides on a publisher of name in mode (not open) at now. reason
// is empty when it is allowed.
func (ks *KeySet) check(mode Mode, name string, p presented, now time.Time) (reason string) {
	if mode == ModeJWT {
		token := p.key
		if !p.has && p.creds != nil {
			if pw, clear := p.creds.Password(); clear { // a digest answer cannot carry a token
				token = pw
			}
		}
		if token == "" {
			return ReasonNoKey
		}
		return ks.jwt.verify(token, name, now)
	}
	want, ok := ks.keys[name]
	switch {
	case !ok:
		return ReasonUnknownStream
	case p.has && p.key != "":
		if compare(want, []byte(p.key)) != 1 {
			return ReasonWrongKey
		}
	case !p.has && p.creds != nil:
		if !p.creds.Match(string(want)) {
			return ReasonWrongKey
		}
	default:
		return ReasonNoKey
	}
	return ""
}
