package auth

import (
	"crypto/subtle"
	"fmt"
	"sort"

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

// KeySet is an immutable authorisation policy: a mode and, in ModeKeys,
// the key of each stream name.
type KeySet struct {
	mode Mode
	keys map[string][]byte
}

// NewKeySet validates mode and keys and builds a KeySet. Each problem is
// one error, naming the stream but never showing the key.
func NewKeySet(mode Mode, keys map[string]string) (*KeySet, []error) {
	var errs []error
	switch mode {
	case ModeOpen, ModeKeys:
	default:
		errs = append(errs, fmt.Errorf("publish-auth: %q is not one of open, keys", mode))
	}
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	ks := &KeySet{mode: mode, keys: make(map[string][]byte, len(keys))}
	for _, n := range names {
		if err := ingest.ValidateName(n); err != nil {
			errs = append(errs, fmt.Errorf("stream-key %s: %v", n, err))
			continue
		}
		if len(keys[n]) < MinKeyLength {
			errs = append(errs, fmt.Errorf("stream-key %s: the key must be at least %d characters (got %d)", n, MinKeyLength, len(keys[n])))
			continue
		}
		ks.keys[n] = []byte(keys[n])
	}
	if mode == ModeKeys && len(keys) == 0 {
		errs = append(errs, fmt.Errorf("publish-auth keys: no stream-key is set, so every publisher would be refused (add stream-key NAME=SECRET)"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ks, nil
}

// Mode is the set's mode.
func (ks *KeySet) Mode() Mode { return ks.mode }

// compare is the comparison Check uses; a test replaces it to see that
// the constant-time one is used.
var compare = subtle.ConstantTimeCompare

// Check decides on a publisher of name that presented key (present:
// whether it presented one at all). reason is empty when it is allowed.
func (ks *KeySet) Check(name, key string, present bool) (reason string) {
	if ks.mode == ModeOpen {
		return ""
	}
	want, ok := ks.keys[name]
	switch {
	case !ok:
		return ReasonUnknownStream
	case !present || key == "":
		return ReasonNoKey
	case compare(want, []byte(key)) != 1:
		return ReasonWrongKey
	}
	return ""
}
