// Package playauth signs and checks playback tokens: stateless
// HMAC-SHA256 tokens that grant playback of one path prefix (a whole
// stream, /live/NAME/) until an expiry, optionally to one client address.
//
// The origin takes the token in the path, /live/NAME/t/TOKEN/index.m3u8:
// every playlist and MPD it serves names its segments, parts, init
// segments and other playlists by relative URIs, so a player that was
// given one signed URL asks for everything else under the same token, and
// the documents need no rewriting per viewer (they are rendered once and
// shared). docs/security.md specifies the token so that a CDN edge
// function can check it too.
//
//	key := playauth.Key{ID: "k1", Secret: secret} // 32 bytes or more
//	tok, err := playauth.Sign(key, playauth.Claims{
//		Prefix:  playauth.StreamPrefix("demo"), // "/live/demo/"
//		Expires: time.Now().Add(time.Hour),
//	})
//	url := "https://cdn.example.com" + playauth.SignedPath("demo", tok, "index.m3u8")
//
// A Verifier checks tokens against one key or, during a rotation, two (the
// token names its key id); Check does not allocate. A Policy adds which
// streams need a token and mints tokens for the admin API.
package playauth
