package main

import (
	"strings"
	"time"

	"github.com/liveorigin/liveorigin/playauth"
)

// Signed playback (docs/security.md): the options, and the policy they
// build. Every one is live: a reload swaps the policy in at once, so keys
// rotate without a restart.
func playbackTokenOptions() []option {
	return []option{
		liveOpt(mapOpt("playback-token-key", "SECRET", "playback token signing key: KEYID=SECRET (key id: letters, digits, '-', '_'; secret at least 32 characters); two during a rotation (repeat the flag; env: comma-separated)", true, func(c *Config) *map[string]string { return &c.PlaybackTokenKeys })),
		liveOpt(stringOpt("playback-token-signing-key", "KEYID", "the playback-token-key that signs new tokens (POST /api/v1/tokens); may be empty with a single key", func(c *Config) *string { return &c.PlaybackTokenSigningKey })),
		liveOpt(stringOpt("playback-token-streams", "NAME[,NAME]", "streams that play only with a signed URL (/live/NAME/t/TOKEN/...); * for every stream; empty: none", func(c *Config) *string { return &c.PlaybackTokenStreams })),
		liveOpt(durationOpt("playback-token-max-lifetime", "longest lifetime of a token minted by POST /api/v1/tokens", func(c *Config) *time.Duration { return &c.PlaybackTokenMaxLifetime })),
		liveOpt(stringOpt("playback-token-client-ip-header", "NAME", "request header with the viewer's address, for tokens bound to one (e.g. X-Forwarded-For behind a CDN: its last element, the one the CDN appended); empty: the connection's address", func(c *Config) *string { return &c.PlaybackTokenClientIPHeader })),
	}
}

// playbackPolicy builds the playback token policy of c; nil when no key
// and no stream is configured (off).
func (c Config) playbackPolicy() (*playauth.Policy, []error) {
	var streams []string
	for _, s := range strings.Split(c.PlaybackTokenStreams, ",") {
		if s = strings.TrimSpace(s); s != "" {
			streams = append(streams, s)
		}
	}
	if len(c.PlaybackTokenKeys) == 0 && len(streams) == 0 && c.PlaybackTokenSigningKey == "" {
		return nil, nil
	}
	keys := make([]playauth.Key, 0, len(c.PlaybackTokenKeys))
	for _, id := range sortedKeys(c.PlaybackTokenKeys) {
		keys = append(keys, playauth.Key{ID: id, Secret: []byte(c.PlaybackTokenKeys[id])})
	}
	return playauth.NewPolicy(playauth.Options{Keys: keys, SigningKey: c.PlaybackTokenSigningKey, Streams: streams,
		MaxLifetime: c.PlaybackTokenMaxLifetime})
}
