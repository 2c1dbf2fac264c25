package rtsp

import (
	"crypto/subtle"

	"github.com/bluenviron/gortsplib/v5"
	rtspauth "github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/liveorigin/liveorigin/ingest"
)

// authRealm is the realm of our challenges (a digest answer covers it).
const authRealm = "liveorigin"

// connAuth is a connection's authentication state (its user data): the
// nonce its digest answers must use.
type connAuth struct{ nonce string }

// nonceOf is conn's nonce, made on first use. gortsplib calls a
// connection's handlers from its own goroutine, one at a time.
func nonceOf(conn *gortsplib.ServerConn) string {
	if ca, ok := conn.UserData().(*connAuth); ok {
		return ca.nonce
	}
	n, err := rtspauth.GenerateNonce()
	if err != nil {
		n = "" // crypto/rand failed: no digest answer can match an empty nonce we never sent
	}
	conn.SetUserData(&connAuth{nonce: n})
	return n
}

// credentials are a publisher's RTSP basic or digest answer
// (ingest.Credentials). Any user name goes: the password is the secret.
type credentials struct {
	req   *base.Request
	hdr   headers.Authorization
	nonce string
}

// credentialsOf are the credentials req carries, or nil when it carries
// none (or an Authorization header gortsplib cannot parse: such a
// publisher is asked again).
func credentialsOf(req *base.Request, nonce string) ingest.Credentials {
	var c credentials
	if err := c.hdr.Unmarshal(req.Header["Authorization"]); err != nil {
		return nil
	}
	if c.hdr.Username == "" && c.hdr.BasicPass == "" {
		return nil
	}
	c.req, c.nonce = req, nonce
	return &c
}

func (c *credentials) Password() (string, bool) {
	if c.hdr.Method == headers.AuthMethodBasic {
		return c.hdr.BasicPass, true
	}
	return "", false
}

func (c *credentials) Match(secret string) bool {
	if c.hdr.Method == headers.AuthMethodBasic {
		return subtle.ConstantTimeCompare([]byte(c.hdr.BasicPass), []byte(secret)) == 1
	}
	if c.nonce == "" {
		return false
	}
	// The answer names its user: any user, the secret as the password.
	err := rtspauth.Verify(c.req, c.hdr.Username, secret,
		[]rtspauth.VerifyMethod{rtspauth.VerifyMethodDigestMD5, rtspauth.VerifyMethodDigestSHA256}, authRealm, c.nonce)
	return err == nil
}

// challenge asks a publisher for credentials: 401 with WWW-Authenticate,
// basic always and digest (MD5, which ffmpeg prefers) when the server can
// check it. No error: the connection stays for the answer.
func challenge(nonce string, ch *ingest.ChallengeError) *base.Response {
	methods := []rtspauth.VerifyMethod{rtspauth.VerifyMethodBasic}
	if ch.Digest {
		methods = append(methods, rtspauth.VerifyMethodDigestMD5)
	}
	return &base.Response{
		StatusCode: base.StatusUnauthorized,
		Header:     base.Header{"WWW-Authenticate": rtspauth.GenerateWWWAuthenticate(methods, authRealm, nonce)},
	}
}
