// Package auth decides who may publish: Publisher wraps an
// ingest.Publisher (in front of the webhooks and the packager) and checks
// each publisher's stream key or token before the name is claimed.
//
// Each stream name has a mode: open, keys (a static stream key) or jwt (a
// signed token whose claims allow the name: jwt.go), the default one or
// its own (Config.StreamModes). A KeySet is immutable; a reload builds a
// new one and swaps it in atomically (Publisher.SetKeys). The key is
// checked when a publisher starts only: a running publisher goes on after
// its key changes.
//
//	set, errs := auth.NewKeySet(auth.Config{
//		Mode:        auth.ModeJWT,
//		StreamModes: map[string]auth.Mode{"cam": auth.ModeKeys},
//		Keys:        map[string]string{"cam": "0123456789abcdef"},
//		JWT:         auth.JWTConfig{JWKSURL: url, JWKS: jwks}, // jwks := auth.NewJWKS(...)
//	})
//	pub := auth.NewPublisher(registry, set, auth.Options{Logger: log, Registerer: reg})
//	// OBS: server rtmp://HOST/live, stream key cam?key=0123456789abcdef
//	// or demo?key=eyJhbGciOiJFUzI1NiIs... (a token for demo)
//
// Where the key or token comes from is PublishInfo.Query's "key": RTMP's
// NAME?key=SECRET, SRT's Access Control stream id
// (#!::r=live/NAME,m=publish,key=SECRET), an RTSP URL's ?key=SECRET; or
// else the protocol's credentials (PublishInfo.Credentials: RTSP basic
// and digest). A publisher that sent nothing to a protocol that can ask
// (PublishInfo.CanChallenge) gets an *ingest.ChallengeError, not a
// failure.
//
// A JWKS fetches a JWK Set in the background and keeps the last good one;
// checking a token never waits for the network.
//
// Repeated failures from one address are slowed down (Limiter): after
// FailureBurst failures within FailureWindow, each further attempt from
// the address waits before it is answered.
package auth
