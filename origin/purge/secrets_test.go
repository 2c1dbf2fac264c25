package purge

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// echoServer is a hostile CDN: it answers every purge with an error whose
// text repeats the credentials it received.
type echoServer struct {
	mu   sync.Mutex
	sent strings.Builder // every answer, to prove the secrets reached it
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	echo := r.URL.RawQuery + " " + r.Header.Get("Authorization") + " " + r.Header.Get("Fastly-Key") + " " +
		r.Header.Get("X-Purge-Secret") + " " + r.Header.Get("X-Hook")
	e.mu.Lock()
	e.sent.WriteString(echo + "\n")
	e.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/purge_cache") { // Cloudflare: a 200 that failed
		js, _ := json.Marshal(echo)
		_, _ = w.Write([]byte(`{"success":false,"errors":[{"code":9109,"message":` + string(js) + `}]}`))
		return
	}
	http.Error(w, echo, http.StatusInternalServerError)
}

// Tokens never appear in logs or errors, even when a CDN repeats them.
func TestSecretsNeverShown(t *testing.T) {
	es := &echoServer{}
	srv := httptest.NewUnstartedServer(es)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short at Close
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	env := fakeEnv{
		vars: map[string]string{
			"HOOK_TOKEN":           "hook-secret-111",
			"HOOK_QUERY":           "query-secret-222",
			"VARNISH_PURGE_SECRET": "varnish-secret-333",
			"FASTLY_API_TOKEN":     "fastly-secret-444",
		},
		files: map[string]string{
			"/run/secrets/cf": "cloudflare-secret-555\n",
			"/etc/edgerc": "[default]\nclient_secret = " + akClientSecret + "\nhost = " + host +
				"\naccess_token = " + akAccessToken + "\nclient_token = " + akClientToken + "\n",
		},
	}
	secretValues := []string{"hook-secret-111", "query-secret-222", "varnish-secret-333", "fastly-secret-444",
		"cloudflare-secret-555", akClientSecret, akAccessToken, akClientToken}
	client := srv.Client()
	cfgs := []Config{
		{Type: "http", Method: "POST", URL: srv.URL + "/hook?token=${HOOK_QUERY}&s={stream}",
			Headers: map[string]string{"X-Hook": "${HOOK_TOKEN}"}, client: client},
		{Type: "varnish", URL: srv.URL, Headers: map[string]string{"X-Purge-Secret": "${VARNISH_PURGE_SECRET}"}, client: client},
		{Type: "fastly", APIURL: srv.URL, ServiceID: "svc", TokenEnv: "FASTLY_API_TOKEN", client: client},
		{Type: "cloudflare", APIURL: srv.URL, ZoneID: "zone", TokenFile: "/run/secrets/cf", client: client},
		{Type: "akamai", EdgercFile: "/etc/edgerc", client: client},
	}
	bs, errs := New(cfgs, env.getenv, env.readFile)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	logs := &logBuffer{}
	q, err := NewQueue(bs, Options{MaxAttempts: 2, After: (&instant{}).after, Logger: newLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(Request{Stream: "cam1", Scope: ScopeStream, Reason: ReasonTakedown})
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// And the errors Purge returns, for a caller without a queue.
	var errText strings.Builder
	for _, b := range bs {
		err := b.Purge(context.Background(), Request{Stream: "cam1", Scope: ScopeManifests})
		if err == nil {
			t.Errorf("%s: no error from the echo server", b.Name())
			continue
		}
		errText.WriteString(err.Error() + "\n")
	}
	es.mu.Lock()
	sent := es.sent.String()
	es.mu.Unlock()
	for _, s := range secretValues {
		// EdgeGrid never sends the client secret: it keys the signature.
		if s != akClientSecret && !strings.Contains(sent, s) {
			t.Errorf("the echo server never saw %q: the test proves nothing for it", s)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("log shows %q", s)
		}
		if strings.Contains(errText.String(), s) {
			t.Errorf("an error shows %q", s)
		}
	}
	if !strings.Contains(logs.String(), "[REDACTED]") || strings.Count(logs.String(), `"msg":"purge failed"`) != len(bs) {
		t.Errorf("expected one failed line per backend, with redactions:\n%s", logs)
	}
	for _, b := range bs {
		b.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
}

// Config errors name the variable or file, never its value.
func TestSecretsNotInConfigErrors(t *testing.T) {
	env := fakeEnv{
		vars: map[string]string{"BROKEN": "line-secret-666\r\nX-Injected: 1"},
		files: map[string]string{
			// An .edgerc whose broken line is a secret.
			"/etc/edgerc": "[default]\nclient_secret  edgerc-secret-777\n",
		},
	}
	_, errs := New([]Config{
		{Type: "http", URL: "http://127.0.0.1{path}", Headers: map[string]string{"Authorization": "${BROKEN}"}},
		{Type: "akamai", EdgercFile: "/etc/edgerc"},
	}, env.getenv, env.readFile)
	if len(errs) == 0 {
		t.Fatal("no errors")
	}
	for _, err := range errs {
		for _, s := range []string{"line-secret-666", "edgerc-secret-777"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q shows %q", err, s)
			}
		}
	}
}
