package hooks

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// The hook secret, the publisher's stream key and a token in a hook URL's
// query or user info never appear in a log line (at debug level) or an
// error, whatever the hook answers.
func TestSecretsNeverShown(t *testing.T) {
	const (
		streamKey = "stream-key-7f3a9c"
		urlToken  = "url-token-51d0e2"
		urlPass   = "url-pass-88c1aa"
	)
	for _, answer := range []int{http.StatusNoContent, http.StatusForbidden, http.StatusInternalServerError} {
		rc := newReceiver(t, func(r *http.Request, ev Event) int {
			return answer
		})
		u, _ := url.Parse(rc.srv.URL)
		u.User = url.UserPassword("user", urlPass)
		u.Path, u.RawQuery = "/hook", "token="+urlToken
		c := Config{Name: "auth", URL: u.String(), Events: []string{EventPublish, EventUnpublish, EventStreamEnd}, SecretEnv: "HOOK_SECRET",
			MaxAttempts: 2}
		f := newFixture(t, []Config{c}, Options{})
		sess, err := NewPublisher(&fakePublisher{}, f.d).Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp",
			Query: url.Values{"key": {streamKey}}})
		var msgs []string
		if err != nil {
			msgs = append(msgs, err.Error())
		} else {
			sess.Close(errors.New("bye"))
		}
		f.d.StreamEnded("demo")
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		if err := f.d.Close(ctx); err != nil {
			msgs = append(msgs, err.Error())
		}
		cancel()
		if h := rc.requests()[0]; h.Event.Query["key"] != streamKey || h.Header.Get("Authorization") == "" && !strings.Contains(h.Header.Get(HeaderSignature), "sha256=") {
			t.Fatalf("the hook did not get the key: %+v", h.Event)
		}
		msgs = append(msgs, f.logs.String())
		for _, m := range msgs {
			for _, s := range []string{testSecret, streamKey, urlToken, urlPass} {
				if strings.Contains(m, s) {
					t.Errorf("answer %d: %q shows a secret:\n%s", answer, s, m)
				}
			}
		}
		if !strings.Contains(f.logs.String(), `"hook":"auth"`) {
			t.Errorf("no log line about the hook:\n%s", f.logs)
		}
	}
}

// The String of a hook, logged at start, has no secret either.
func TestHookStringHasNoSecret(t *testing.T) {
	hs, errs := Build([]Config{{URL: "https://u:pw-123456@h.example/x?token=tok-123456", Events: []string{"publish"}, SecretEnv: "HOOK_SECRET"}},
		testEnv.getenv, testEnv.readFile)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s := hs[0].String()
	for _, secret := range []string{"pw-123456", "tok-123456", testSecret} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows %q", s, secret)
		}
	}
}
