package purge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	awsKeyID  = "AKIAIOSFODNN7EXAMPLE"
	awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	awsDistID = "EDFDVBD6EXAMPLE"
)

// invalidationBatch is the request body of CreateInvalidation (CloudFront
// API reference, CreateInvalidation: POST
// /2020-05-31/distribution/{Id}/invalidation).
type invalidationBatch struct {
	XMLName         xml.Name `xml:"http://cloudfront.amazonaws.com/doc/2020-05-31/ InvalidationBatch"`
	CallerReference string   `xml:"CallerReference"`
	Quantity        int      `xml:"Paths>Quantity"`
	Items           []string `xml:"Paths>Items>Path"`
}

// cloudFrontServer checks SigV4 and the XML body, and answers 201, or the
// error it is told to.
type cloudFrontServer struct {
	t       *testing.T
	mu      sync.Mutex
	batches []invalidationBatch
	errCode int
	errXML  string
	last    *http.Request // the newest request and its body
	lastB   string
}

func (s *cloudFrontServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2020-05-31/distribution/"+awsDistID+"/invalidation" {
		s.t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	if err := verifySigV4(r, body.String()); err != "" {
		s.t.Errorf("SigV4: %s", err)
	}
	var b invalidationBatch
	if err := xml.Unmarshal([]byte(body.String()), &b); err != nil {
		s.t.Errorf("body %s: %v", body.String(), err)
	}
	if b.Quantity != len(b.Items) {
		s.t.Errorf("Quantity %d for %d paths", b.Quantity, len(b.Items))
	}
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.last, s.lastB = r, body.String()
	code, errXML := s.errCode, s.errXML
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if code != 0 {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`<?xml version="1.0"?><ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">` + errXML + `<RequestId>r1</RequestId></ErrorResponse>`))
		return
	}
	w.Header().Set("Location", "https://cloudfront.amazonaws.com/2020-05-31/distribution/"+awsDistID+"/invalidation/I2J0I21PCUYOIK")
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-01-01T00:00:00Z</CreateTime>%s</Invalidation>`, body.String()[strings.Index(body.String(), "<InvalidationBatch"):])
}

var sigV4RE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// verifySigV4 recomputes the signature (AWS Signature Version 4, "Create a
// canonical request", "Create a string to sign", "Calculate the signature").
func verifySigV4(r *http.Request, body string) string {
	m := sigV4RE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "Authorization " + r.Header.Get("Authorization") + " has not the AWS4-HMAC-SHA256 form"
	}
	keyID, date, region, service, signed, sig := m[1], m[2], m[3], m[4], m[5], m[6]
	if keyID != awsKeyID || region != "us-east-1" || service != "cloudfront" {
		return "credential scope " + keyID + "/" + region + "/" + service
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if when, err := time.Parse("20060102T150405Z", amzDate); err != nil || !strings.HasPrefix(amzDate, date) || time.Since(when).Abs() > time.Minute {
		return "X-Amz-Date " + amzDate + " is not now or not " + date
	}
	names := strings.Split(signed, ";")
	if !slices.IsSorted(names) || !slices.Contains(names, "host") || !slices.Contains(names, "x-amz-date") {
		return "SignedHeaders " + signed
	}
	var canon strings.Builder
	for _, h := range names {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	sum := sha256.Sum256([]byte(body))
	payload := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payload {
		return "X-Amz-Content-Sha256 is not the body's"
	}
	creq := strings.Join([]string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, canon.String(), signed, payload}, "\n")
	creqSum := sha256.Sum256([]byte(creq))
	scope := date + "/" + region + "/" + service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creqSum[:])
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	k := mac(mac(mac(mac([]byte("AWS4"+awsSecret), date), region), service), "aws4_request")
	if want := hex.EncodeToString(mac(k, toSign)); want != sig {
		return "signature " + sig + " does not match " + want
	}
	return ""
}

// awsEnv gives the SDK's default chain static keys and nothing else.
func awsEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", awsKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsSecret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestCloudFront(t *testing.T) {
	awsEnv(t)
	cs := &cloudFrontServer{t: t}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	paths := Request{Stream: "cam1", Scope: ScopePaths, Paths: []string{"/live/cam1/v0.m3u8", "/live/cam1/a&b.m3u8"}}
	for _, tc := range []struct {
		name          string
		mode          string
		manifestPaths []string
		r             Request
		paths         []string
	}{
		{"stream", "", nil, Request{Stream: "cam1", Scope: ScopeStream}, []string{"/live/cam1/*"}},
		// CloudFront takes * only at the end: the stream's prefix.
		{"manifests", "paths", nil, Request{Stream: "cam1", Scope: ScopeManifests}, []string{"/live/cam1/*"}},
		{"manifests, configured", "", []string{"/live/{stream}/index.m3u8", "/live/{stream}/v0.m3u8*", "/live/{stream}/manifest.mpd"},
			Request{Stream: "cam1", Scope: ScopeManifests}, []string{"/live/cam1/index.m3u8", "/live/cam1/v0.m3u8*", "/live/cam1/manifest.mpd"}},
		{"paths", "", nil, paths, []string{"/live/cam1/v0.m3u8", "/live/cam1/a&b.m3u8"}},
		{"tags stream", "tags", nil, Request{Stream: "cam1", Scope: ScopeStream}, []string{"#stream-cam1"}},
		{"tags manifests", "tags", nil, Request{Stream: "cam1", Scope: ScopeManifests}, []string{"#manifests-cam1"}},
		{"tags paths", "tags", nil, paths, []string{"/live/cam1/v0.m3u8", "/live/cam1/a&b.m3u8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, Config{Type: "cloudfront", DistributionID: awsDistID, Endpoint: srv.URL, Mode: tc.mode, ManifestPaths: tc.manifestPaths}, fakeEnv{})
			if err := b.Purge(context.Background(), tc.r); err != nil {
				t.Fatal(err)
			}
			cs.mu.Lock()
			last := cs.batches[len(cs.batches)-1]
			cs.mu.Unlock()
			if !slices.Equal(last.Items, tc.paths) {
				t.Errorf("paths %v, want %v", last.Items, tc.paths)
			}
			if !strings.HasPrefix(last.CallerReference, "liveorigin-") {
				t.Errorf("CallerReference %q", last.CallerReference)
			}
		})
	}
}

// The checker is not vacuous: a changed body or path fails it.
func TestSigV4VerifierRejects(t *testing.T) {
	awsEnv(t)
	cs := &cloudFrontServer{t: t}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	b := newBackend(t, Config{Type: "cloudfront", DistributionID: awsDistID, Endpoint: srv.URL}, fakeEnv{})
	if err := b.Purge(context.Background(), Request{Stream: "cam1", Scope: ScopeStream}); err != nil {
		t.Fatal(err)
	}
	cs.mu.Lock()
	r, body := cs.last, cs.lastB
	cs.mu.Unlock()
	if err := verifySigV4(r, body); err != "" {
		t.Fatalf("the SDK's own request fails: %s", err)
	}
	if err := verifySigV4(r, strings.Replace(body, "cam1", "cam2", 1)); err == "" {
		t.Error("a changed body passes")
	}
	r.URL.Path = "/2020-05-31/distribution/OTHER/invalidation"
	if err := verifySigV4(r, body); err == "" {
		t.Error("a changed path passes")
	}
}

// CallerReference is one per request, kept across retries (CloudFront then
// answers with the invalidation it already made), and unique otherwise.
func TestCloudFrontCallerReference(t *testing.T) {
	awsEnv(t)
	cs := &cloudFrontServer{t: t}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	b := newBackend(t, Config{Type: "cloudfront", DistributionID: awsDistID, Endpoint: srv.URL}, fakeEnv{})
	r1 := Request{Stream: "cam1", Scope: ScopeStream, id: newID()}
	r2 := Request{Stream: "cam1", Scope: ScopeStream, id: newID()}
	for _, r := range []Request{r1, r1, r2, {Stream: "cam1", Scope: ScopeStream}, {Stream: "cam1", Scope: ScopeStream}} {
		if err := b.Purge(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	refs := make([]string, len(cs.batches))
	for i, bt := range cs.batches {
		refs[i] = bt.CallerReference
	}
	if refs[0] != refs[1] {
		t.Errorf("a retry changed CallerReference: %v", refs)
	}
	if refs[1] == refs[2] || refs[2] == refs[3] || refs[3] == refs[4] {
		t.Errorf("two requests share a CallerReference: %v", refs)
	}
}

func TestCloudFrontErrors(t *testing.T) {
	awsEnv(t)
	for _, tc := range []struct {
		code      int
		errXML    string
		permanent bool
	}{
		{400, `<Error><Type>Sender</Type><Code>TooManyInvalidationsInProgress</Code><Message>Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations.</Message></Error>`, false},
		{403, `<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized</Message></Error>`, true},
		{404, `<Error><Type>Sender</Type><Code>NoSuchDistribution</Code><Message>The specified distribution does not exist.</Message></Error>`, true},
		{400, `<Error><Type>Sender</Type><Code>InvalidArgument</Code><Message>Your request contains one or more invalid invalidation paths.</Message></Error>`, true},
		{503, `<Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>down</Message></Error>`, false},
	} {
		cs := &cloudFrontServer{t: t, errCode: tc.code, errXML: tc.errXML}
		srv := httptest.NewServer(cs)
		b := newBackend(t, Config{Type: "cloudfront", DistributionID: awsDistID, Endpoint: srv.URL}, fakeEnv{})
		err := b.Purge(context.Background(), Request{Stream: "cam1", Scope: ScopeStream})
		if err == nil || IsPermanent(err) != tc.permanent {
			t.Errorf("%d %s: err %v, want permanent=%v", tc.code, tc.errXML, err, tc.permanent)
		}
		srv.Close()
	}
}
