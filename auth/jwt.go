package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Why a publisher's token was refused (reason labels, with those of
// keyset.go).
const (
	// ReasonBadToken: not a JWT, a bad signature, an algorithm not
	// allowed (none, or one the keys do not fix), no exp, a wrong aud or
	// iss.
	ReasonBadToken = "bad_token"
	// ReasonExpiredToken: exp has passed, or nbf / iat are in the future
	// (beyond TokenLeeway).
	ReasonExpiredToken = "expired_token"
	// ReasonWrongStream: a valid token for other stream names.
	ReasonWrongStream = "wrong_stream"
	// ReasonNoSigningKey: no key is known for the token's algorithm and
	// key id (the JWKS was never fetched, or does not have the kid yet).
	ReasonNoSigningKey = "no_signing_key"
)

// Limits of the JWT mode.
const (
	// MaxTokenLength: a longer token is refused unparsed.
	MaxTokenLength = 4096
	// TokenLeeway is the clock skew allowed on exp, nbf and iat.
	TokenLeeway = 30 * time.Second
	// MinSecretLength is the shortest HS256 secret (RFC 7518 3.2: a key
	// at least as long as the hash).
	MinSecretLength = 32
	// MinRSABits is the smallest RSA key accepted for RS256.
	MinRSABits = 2048
)

// JWTConfig are the keys and claims of the JWT mode. The key type fixes
// the algorithm: the secret verifies HS256 only, RSA keys RS256 only,
// P-256 keys ES256 only; alg none is never accepted.
type JWTConfig struct {
	// Secret verifies HS256 tokens (at least MinSecretLength bytes).
	Secret []byte
	// PublicKeys verify RS256 (*rsa.PublicKey) and ES256
	// (*ecdsa.PublicKey on P-256) tokens (ParsePublicKeys).
	PublicKeys []any
	// JWKSURL is where JWKS fetches its keys (validated here; the fetch
	// is JWKS's).
	JWKSURL string
	// JWKS is the running fetcher of JWKSURL; nil: its keys are unknown
	// and a token that needs them is refused (no_signing_key).
	JWKS *JWKS
	// Audience, when set, must be one of the token's aud.
	Audience string
	// Issuer, when set, must be the token's iss.
	Issuer string
}

// configured reports whether any key source is set.
func (c JWTConfig) configured() bool {
	return len(c.Secret) > 0 || len(c.PublicKeys) > 0 || c.JWKSURL != ""
}

// publishClaims are the claims a publish token carries: the registered
// ones and streams, the names (or path.Match patterns) it may publish.
type publishClaims struct {
	jwt.RegisteredClaims
	Streams []string `json:"streams,omitempty"`
}

// allows reports whether the claims let stream be published: streams, when
// present, decides (a name or a pattern such as "cam-*"); otherwise sub
// must be the name.
func (c *publishClaims) allows(stream string) bool {
	if len(c.Streams) == 0 {
		return c.Subject != "" && c.Subject == stream
	}
	for _, p := range c.Streams {
		if ok, err := path.Match(p, stream); err == nil && ok {
			return true
		}
	}
	return false
}

// verifier checks publish tokens; immutable.
type verifier struct {
	secret   []byte
	rsa      []*rsa.PublicKey
	ec       []*ecdsa.PublicKey
	jwks     *JWKS
	audience string
	issuer   string
	methods  []string
}

var errNoSigningKey = errors.New("no key for the token's algorithm and key id")

func newVerifier(c JWTConfig) (*verifier, []error) {
	var errs []error
	v := &verifier{secret: c.Secret, jwks: c.JWKS, audience: c.Audience, issuer: c.Issuer}
	if len(c.Secret) > 0 {
		if len(c.Secret) < MinSecretLength {
			errs = append(errs, fmt.Errorf("publish-jwt-secret: must be at least %d bytes (got %d)", MinSecretLength, len(c.Secret)))
		}
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	for _, k := range c.PublicKeys {
		switch k := k.(type) {
		case *rsa.PublicKey:
			v.rsa = append(v.rsa, k)
		case *ecdsa.PublicKey:
			v.ec = append(v.ec, k)
		}
		if _, err := checkPublicKey(k); err != nil {
			errs = append(errs, fmt.Errorf("publish-jwt-public-key-file: %v", err))
		}
	}
	if len(v.rsa) > 0 || c.JWKSURL != "" {
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg())
	}
	if len(v.ec) > 0 || c.JWKSURL != "" {
		v.methods = append(v.methods, jwt.SigningMethodES256.Alg())
	}
	return v, errs
}

// verify checks token for a publisher of stream at now; the refusal
// reason, or "" when the token allows it.
func (v *verifier) verify(token, stream string, now time.Time) string {
	if len(token) > MaxTokenLength {
		return ReasonBadToken
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(TokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	var c publishClaims
	_, err := jwt.ParseWithClaims(token, &c, v.keyFor, opts...)
	switch {
	case err == nil:
	case errors.Is(err, errNoSigningKey):
		return ReasonNoSigningKey
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonExpiredToken
	default:
		return ReasonBadToken
	}
	if !c.allows(stream) {
		return ReasonWrongStream
	}
	return ""
}

// keyFor gives the keys that may verify t: those of the type its alg
// names (WithValidMethods has already refused any other alg), and of
// the JWKS those with its kid. An unknown kid asks the JWKS to refresh.
func (v *verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		if len(v.secret) == 0 {
			return nil, errNoSigningKey
		}
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	var keys []jwt.VerificationKey
	switch alg {
	case jwt.SigningMethodRS256.Alg():
		for _, k := range v.rsa {
			keys = append(keys, k)
		}
	case jwt.SigningMethodES256.Alg():
		for _, k := range v.ec {
			keys = append(keys, k)
		}
	}
	if v.jwks != nil {
		found := v.jwks.keysFor(alg, kid)
		if len(found) == 0 && kid != "" {
			v.jwks.Refresh()
		}
		keys = append(keys, found...)
	}
	if len(keys) == 0 {
		return nil, errNoSigningKey
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// checkPublicKey is the only algorithm key may verify, or an error for a key that
// may verify none.
func checkPublicKey(key any) (alg string, err error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("an RSA key of %d bits: want at least %d", k.N.BitLen(), MinRSABits)
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("an ECDSA key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256.Alg(), nil
	}
	return "", fmt.Errorf("a %T key: want an RSA (RS256) or P-256 ECDSA (ES256) public key", key)
}

// ParsePublicKeys reads the public keys of a PEM file: PUBLIC KEY
// (PKIX), RSA PUBLIC KEY (PKCS #1) and CERTIFICATE blocks; other blocks
// are an error (a private key in the file is a mistake worth telling).
func ParsePublicKeys(data []byte) ([]any, error) {
	var keys []any
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var key any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			err = fmt.Errorf("a %q block: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", b.Type)
		}
		if err == nil {
			_, err = checkPublicKey(key)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %v", n, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key in it")
	}
	return keys, nil
}
