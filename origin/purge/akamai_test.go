package purge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	akClientToken  = "akab-client-token-xxx-xxxxxxxxxxxxxxxx"
	akAccessToken  = "akab-access-token-xxx-xxxxxxxxxxxxxxxx"
	akClientSecret = "C113nt53KR3TN6N90yVuAgICxIRwsObLi0E67/N8eRN="
)

// edgegridServer is Fast Purge v3 on a TLS test server: it checks every
// request's EdgeGrid signature the way Akamai does and answers 201.
type edgegridServer struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []captured
	nonces map[string]bool
}

func newEdgegridServer(t *testing.T) *edgegridServer {
	e := &edgegridServer{t: t, nonces: map[string]bool{}}
	e.srv = httptest.NewTLSServer(e)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *edgegridServer) host() string { return strings.TrimPrefix(e.srv.URL, "https://") }

var edgegridAuthRE = regexp.MustCompile(`^EG1-HMAC-SHA256 client_token=([^;]+);access_token=([^;]+);timestamp=(\d{8}T\d\d:\d\d:\d\d\+0000);nonce=([0-9a-f-]{36});signature=([A-Za-z0-9+/=]+)$`)

func (e *edgegridServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	e.mu.Lock()
	e.reqs = append(e.reqs, captured{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Header: r.Header.Clone(), Body: body.String()})
	e.mu.Unlock()
	if err := e.verify(r, body.String()); err != "" {
		e.t.Errorf("EdgeGrid: %s", err)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"type":"https://problems.luna.akamaiapis.net/-/pep-authn/request-error","title":"Bad request","status":401}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"httpStatus":201,"estimatedSeconds":5,"purgeId":"edcp-FoBAG8eJC3LUsC6Uw8fSGD","supportId":"17PY1561409004637813-215482752","detail":"Request accepted"}`))
}

// verify recomputes the signature (Akamai, "Authenticate with EdgeGrid":
// signing key = HMAC-SHA256(client_secret, timestamp); data = method, scheme,
// host, path?query, canonical headers, content hash, and the header up to
// "signature=", tab-separated; signature = HMAC-SHA256(signing key, data);
// content hash = SHA-256 of a POST body; all base64).
func (e *edgegridServer) verify(r *http.Request, body string) string {
	m := edgegridAuthRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "Authorization " + r.Header.Get("Authorization") + " has not the EG1-HMAC-SHA256 form"
	}
	clientToken, accessToken, ts, nonce, sig := m[1], m[2], m[3], m[4], m[5]
	if clientToken != akClientToken || accessToken != akAccessToken {
		return "wrong tokens"
	}
	when, err := time.Parse("20060102T15:04:05-0700", ts)
	if err != nil || time.Since(when).Abs() > time.Minute {
		return "timestamp " + ts + " is not now"
	}
	e.mu.Lock()
	reused := e.nonces[nonce]
	e.nonces[nonce] = true
	e.mu.Unlock()
	if reused {
		return "nonce reused"
	}
	mac := func(key, data string) string {
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(data))
		return base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	sum := sha256.Sum256([]byte(body))
	contentHash := ""
	if r.Method == http.MethodPost && body != "" {
		contentHash = base64.StdEncoding.EncodeToString(sum[:])
	}
	authNoSig := strings.TrimSuffix(r.Header.Get("Authorization"), "signature="+sig)
	data := strings.Join([]string{r.Method, "https", r.Host, r.URL.RequestURI(), "", contentHash, authNoSig}, "\t")
	if want := mac(mac(akClientSecret, ts), data); want != sig {
		return "signature " + sig + " does not match " + want
	}
	return ""
}

func (e *edgegridServer) requests() []captured {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]captured(nil), e.reqs...)
}

func TestAkamai(t *testing.T) {
	es := newEdgegridServer(t)
	edgerc := "[default]\nclient_secret = " + akClientSecret + "\nhost = " + es.host() +
		"\naccess_token = " + akAccessToken + "\nclient_token = " + akClientToken + "\n"
	fileEnv := fakeEnv{files: map[string]string{"/etc/liveorigin/edgerc": edgerc}}
	varEnv := fakeEnv{vars: map[string]string{
		"AKAMAI_CCU_HOST": es.host(), "AKAMAI_CCU_CLIENT_TOKEN": akClientToken,
		"AKAMAI_CCU_CLIENT_SECRET": akClientSecret, "AKAMAI_CCU_ACCESS_TOKEN": akAccessToken,
	}}
	for _, tc := range []struct {
		name string
		cfg  Config
		env  fakeEnv
		r    Request
		want want
	}{
		{"tag invalidate production, edgerc", Config{EdgercFile: "/etc/liveorigin/edgerc"}, fileEnv,
			Request{Stream: "cam1", Scope: ScopeStream, TraceParent: traceParent},
			want{method: "POST", path: "/ccu/v3/invalidate/tag/production", body: `{"objects":["stream-cam1"]}`,
				header: map[string]string{"Content-Type": "application/json", "traceparent": traceParent}}},
		{"tag delete staging, env", Config{EdgercSection: "ccu", Network: "staging", Action: "delete"}, varEnv,
			Request{Stream: "cam1", Scope: ScopeManifests},
			want{method: "POST", path: "/ccu/v3/delete/tag/staging", body: `{"objects":["manifests-cam1"]}`}},
		{"url invalidate", Config{EdgercFile: "/etc/liveorigin/edgerc", Host: "cdn.example.com"}, fileEnv,
			Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8", "/live/cam1/index.m3u8"}},
			want{method: "POST", path: "/ccu/v3/invalidate/url/production",
				body: `{"objects":["https://cdn.example.com/live/cam1/v0.m3u8","https://cdn.example.com/live/cam1/index.m3u8"]}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(es.requests())
			c := tc.cfg
			c.Type = "akamai"
			c.client = es.srv.Client()
			b := newBackend(t, c, tc.env)
			if err := b.Purge(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			checkRequests(t, es.requests()[before:], []want{tc.want})
		})
	}
}

func TestAkamaiBatches(t *testing.T) {
	paths := make([]string, 200)
	for i := range paths {
		paths[i] = "/live/cam1/v0/" + strings.Repeat("9", 300) + ".m4s"
	}
	got := batchBytes(paths, akamaiMaxBody)
	if len(got) != 2 || len(got[0])+len(got[1]) != 200 {
		t.Fatalf("batches of %d and %d", len(got[0]), len(got[len(got)-1]))
	}
}

// The checker is not vacuous: a request signed with another secret, or
// changed after signing, fails it.
func TestEdgegridVerifierRejects(t *testing.T) {
	es := &edgegridServer{t: t, nonces: map[string]bool{}}
	sign := func(secret, body string) *http.Request {
		c := Config{Type: "akamai"}
		p := &problems{name: "akamai"}
		env := fakeEnv{vars: map[string]string{"AKAMAI_HOST": "akab.example.net", "AKAMAI_CLIENT_TOKEN": akClientToken,
			"AKAMAI_CLIENT_SECRET": secret, "AKAMAI_ACCESS_TOKEN": akAccessToken}}
		b := newAkamai(&sender{name: "akamai", client: http.DefaultClient}, c, environment{getenv: env.getenv, readFile: env.readFile}, p).(*akamai)
		if len(p.errs) > 0 {
			t.Fatal(p.errs)
		}
		r, _ := http.NewRequest("POST", "https://akab.example.net/ccu/v3/invalidate/tag/production", strings.NewReader(body))
		b.cred.SignRequest(r)
		return r
	}
	if err := es.verify(sign(akClientSecret, `{"objects":["a"]}`), `{"objects":["a"]}`); err != "" {
		t.Fatalf("a good signature fails: %s", err)
	}
	if err := es.verify(sign("another-secret", `{"objects":["a"]}`), `{"objects":["a"]}`); err == "" {
		t.Error("a signature with another secret passes")
	}
	if err := es.verify(sign(akClientSecret, `{"objects":["a"]}`), `{"objects":["b"]}`); err == "" {
		t.Error("a changed body passes")
	}
}
