package playauth

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// DefaultMaxLifetime is the longest token Mint signs unless told otherwise.
const DefaultMaxLifetime = 24 * time.Hour

// Options configure a Policy.
type Options struct {
	// Keys are the keys whose tokens are accepted: one, or two during a
	// rotation.
	Keys []Key
	// SigningKey is the id of the key Mint signs with; "" with a single
	// key: that one.
	SigningKey string
	// Streams are the names of the streams that need a token; "*" stands
	// for every stream. None: no stream needs one (a token that comes
	// anyway is still checked).
	Streams []string
	// MaxLifetime is the longest lifetime Mint gives a token; default
	// DefaultMaxLifetime.
	MaxLifetime time.Duration
}

// Policy is an immutable playback authorisation policy: the keys, which
// streams need a token, and how long a minted token may live. A reload
// builds a new one. The nil *Policy protects nothing and knows no key.
type Policy struct {
	verifier    *Verifier
	signing     Key
	all         bool
	streams     map[string]bool
	maxLifetime time.Duration
}

// NewPolicy validates o and builds a Policy. Each problem is one error,
// never showing a secret.
func NewPolicy(o Options) (*Policy, []error) {
	var errs []error
	v, err := NewVerifier(o.Keys...)
	if err != nil {
		errs = append(errs, err)
	}
	p := &Policy{verifier: v, streams: make(map[string]bool, len(o.Streams)), maxLifetime: o.MaxLifetime}
	if p.maxLifetime == 0 {
		p.maxLifetime = DefaultMaxLifetime
	}
	if p.maxLifetime < 0 {
		errs = append(errs, fmt.Errorf("playback-token-max-lifetime: %s is negative", o.MaxLifetime))
	}
	for _, name := range o.Streams {
		if name == "*" {
			p.all = true
			continue
		}
		if err := ingest.ValidateName(name); err != nil {
			errs = append(errs, fmt.Errorf("playback-token-streams %s: %v", name, err))
			continue
		}
		p.streams[name] = true
	}
	switch {
	case o.SigningKey != "":
		for _, k := range o.Keys {
			if k.ID == o.SigningKey {
				p.signing = k
			}
		}
		if p.signing.ID == "" {
			errs = append(errs, fmt.Errorf("playback-token-signing-key: no playback-token-key has the id %q", o.SigningKey))
		}
	case len(o.Keys) == 1:
		p.signing = o.Keys[0]
	case len(o.Keys) > 1:
		errs = append(errs, errors.New("playback-token-signing-key: several playback-token-key are set; name the one that signs new tokens"))
	}
	if (p.all || len(p.streams) > 0) && len(o.Keys) == 0 {
		errs = append(errs, errors.New("playback-token-streams: streams need a token but no playback-token-key is set, so every viewer would be refused"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// Protected reports whether stream needs a token.
func (p *Policy) Protected(stream string) bool {
	return p != nil && (p.all || p.streams[stream])
}

// Check decides on a token (see Verifier.Check).
func (p *Policy) Check(token string, req Request) Reason {
	if p == nil {
		return (*Verifier)(nil).Check(token, req)
	}
	return p.verifier.Check(token, req)
}

// MaxLifetime is the longest lifetime Mint gives.
func (p *Policy) MaxLifetime() time.Duration {
	if p == nil {
		return 0
	}
	return p.maxLifetime
}

// ErrNoSigningKey: the policy has no key to sign with.
var ErrNoSigningKey = errors.New("playauth: no signing key (set playback-token-key)")

// Mint signs a token for the whole of stream (its path prefix
// StreamPrefix) that lives for ttl from now, bound to client when it is
// valid. ttl must be positive and at most the policy's MaxLifetime.
func (p *Policy) Mint(stream string, ttl time.Duration, client netip.Addr, now time.Time) (token string, expires time.Time, err error) {
	if p == nil || p.signing.ID == "" {
		return "", time.Time{}, ErrNoSigningKey
	}
	if err := ingest.ValidateName(stream); err != nil {
		return "", time.Time{}, fmt.Errorf("stream: %w", err)
	}
	if ttl <= 0 || ttl > p.maxLifetime {
		return "", time.Time{}, fmt.Errorf("ttl: %s is outside (0, %s] (playback-token-max-lifetime)", ttl, p.maxLifetime)
	}
	expires = now.Add(ttl).Truncate(time.Second)
	if !expires.After(now) {
		expires = expires.Add(time.Second)
	}
	token, err = Sign(p.signing, Claims{Prefix: StreamPrefix(stream), Expires: expires, ClientIP: client})
	return token, expires, err
}

// StreamPrefix is the path prefix of everything a stream serves:
// "/live/NAME/".
func StreamPrefix(stream string) string { return "/" + ingest.App + "/" + stream + "/" }

// SignedPath is the URL path of object (e.g. "index.m3u8",
// "manifest.mpd") of stream with token in its path:
// "/live/NAME/t/TOKEN/index.m3u8". Every relative URI of the playlists and
// the MPD served there resolves under the same token.
func SignedPath(stream, token, object string) string {
	return StreamPrefix(stream) + PathSegment + "/" + token + "/" + object
}

// PathSegment is the path segment that introduces the token:
// /live/NAME/t/TOKEN/...
const PathSegment = "t"

// QueryParam is the query parameter a token may come in instead:
// /live/NAME/index.m3u8?token=TOKEN. The origin redirects such a request
// to SignedPath, so that the relative URIs of the documents carry the token.
const QueryParam = "token"
