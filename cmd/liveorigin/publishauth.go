package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/liveorigin/liveorigin/auth"
	iredact "github.com/liveorigin/liveorigin/internal/redact"
)

// minJWKSRefresh keeps a JWKS endpoint from being hammered.
const minJWKSRefresh = 10 * time.Second

// authConfig maps the publish auth options onto auth.Config, reading the
// key files with readFile, and validates it. The JWKS fetcher is left
// out: the app runs it (jwksSwitch).
func (c Config) authConfig(readFile func(string) ([]byte, error)) (auth.Config, []error) {
	var errs []error
	ac := auth.Config{Mode: auth.Mode(c.PublishAuth), Keys: c.StreamKeys, StreamModes: make(map[string]auth.Mode, len(c.StreamAuth))}
	for name, m := range c.StreamAuth {
		ac.StreamModes[name] = auth.Mode(strings.TrimSpace(m))
	}
	jc := &ac.JWT
	jc.Secret = []byte(c.PublishJWTSecret)
	if f := c.PublishJWTSecretFile; f != "" {
		if c.PublishJWTSecret != "" {
			errs = append(errs, errors.New("publish-jwt-secret-file: publish-jwt-secret is set too; set one of them"))
		}
		b, err := readFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("publish-jwt-secret-file: %v", err))
		}
		jc.Secret = bytes.TrimRight(b, "\r\n")
	}
	if f := c.PublishJWTPublicKeyFile; f != "" {
		b, err := readFile(f)
		if err == nil {
			jc.PublicKeys, err = auth.ParsePublicKeys(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("publish-jwt-public-key-file %s: %v", f, err))
		}
	}
	if u := c.PublishJWTJWKSURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("publish-jwt-jwks-url: %q is not an http or https URL", iredact.URL(u)))
		}
		jc.JWKSURL = u
	}
	if c.PublishJWTJWKSRefresh < minJWKSRefresh {
		errs = append(errs, fmt.Errorf("publish-jwt-jwks-refresh: %s is shorter than %s", c.PublishJWTJWKSRefresh, minJWKSRefresh))
	}
	jc.Audience, jc.Issuer = c.PublishJWTAudience, c.PublishJWTIssuer
	if len(errs) > 0 {
		// A key file that did not load would also read as "no key to
		// verify tokens with": one error per problem.
		return ac, errs
	}
	if _, kerrs := auth.NewKeySet(ac); len(kerrs) > 0 {
		errs = append(errs, kerrs...)
	}
	return ac, errs
}

// jwksSwitch runs the JWKS fetcher of publish-jwt-jwks-url: one at a time,
// replaced when a reload changes the URL or its refresh.
type jwksSwitch struct {
	log     *slog.Logger
	metrics *auth.JWKSMetrics

	mu      sync.Mutex
	cur     *auth.JWKS
	url     string
	refresh time.Duration
	closed  bool
}

// keySet builds the publish auth policy of ac with the fetcher of
// ac.JWT.JWKSURL (started, or the running one when it is unchanged). The
// returned done closes the fetcher no longer needed: call it once the new
// set is in use, or at once when errs are returned (the running fetcher
// then stays, and the one started for the refused set goes).
func (s *jwksSwitch) keySet(ac auth.Config, refresh time.Duration) (set *auth.KeySet, done func(), errs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, oldURL, oldRefresh := s.cur, s.url, s.refresh
	if !s.closed && (ac.JWT.JWKSURL != s.url || refresh != s.refresh) {
		s.cur, s.url, s.refresh = nil, ac.JWT.JWKSURL, refresh
		if ac.JWT.JWKSURL != "" {
			s.cur = auth.NewJWKS(auth.JWKSOptions{URL: ac.JWT.JWKSURL, Refresh: refresh, Logger: s.log, Metrics: s.metrics})
		}
	}
	ac.JWT.JWKS = s.cur
	set, errs = auth.NewKeySet(ac)
	done = func() {}
	if len(errs) > 0 {
		if started := s.cur; started != nil && started != old {
			done = started.Close
		}
		s.cur, s.url, s.refresh = old, oldURL, oldRefresh
		return nil, done, errs
	}
	if old != nil && old != s.cur {
		done = old.Close
	}
	return set, done, nil
}

// Close stops the fetcher; later calls of keySet start none.
func (s *jwksSwitch) Close() {
	s.mu.Lock()
	cur := s.cur
	s.closed, s.cur = true, nil
	s.mu.Unlock()
	if cur != nil {
		cur.Close() // waits for a fetch in flight to see its cancelled context
	}
}

// isAuthOption reports whether the option named name is one of publish
// auth's.
func isAuthOption(name string) bool {
	return name == "publish-auth" || name == "stream-auth" || name == "stream-key" || strings.HasPrefix(name, "publish-jwt-")
}

// authOptions are the values of the publish auth options in c, for a
// fingerprint.
func authOptions(c Config) map[string]any {
	out := map[string]any{}
	for _, o := range options() {
		if isAuthOption(o.name) {
			out[o.name] = optionValue(o, &c)
		}
	}
	return out
}
