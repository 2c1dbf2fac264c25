package origin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/liveorigin/liveorigin/observe"
)

var regexpRefs = regexp.MustCompile(`\$ref: "#/([^"]+)"`)

// docs/openapi.yaml documents every /api/v1 route, and nothing else.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
		Comps   map[string]map[string]yaml.Node `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi: %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}

	f := newFixture(t)
	h := f.server.AdminHandler(AdminOptions{Gatherer: f.reg})
	routes := map[string]bool{}
	err = chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/")
		if strings.HasPrefix(route, "/api/v1/") {
			routes[method+" "+route] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 10 {
		t.Fatalf("only %d /api/v1 routes walked: %v", len(routes), routes)
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if strings.HasPrefix(strings.Fields(d)[1], "/api/v1/") && !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("docs/openapi.yaml does not document %s", r)
	}
	for _, r := range extra {
		t.Errorf("docs/openapi.yaml documents %s, which origin/admin.go does not serve", r)
	}
	// Every $ref resolves.
	for _, ref := range regexpRefs.FindAllStringSubmatch(string(raw), -1) {
		parts := strings.Split(ref[1], "/") // components/schemas/Stream
		if len(parts) != 3 || parts[0] != "components" {
			t.Errorf("$ref %q", ref[1])
			continue
		}
		if _, ok := doc.Comps[parts[1]][parts[2]]; !ok {
			t.Errorf("$ref %q does not resolve", ref[1])
		}
	}
}

func TestLogLevelAPI(t *testing.T) {
	f := newFixture(t)
	var level slog.LevelVar
	logs := &syncBuffer{}
	f.server.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: &level}))
	opts := AdminOptions{Gatherer: f.reg, Token: "admin-token-0123456789",
		LogLevel:    level.Level,
		SetLogLevel: func(l slog.Level) error { level.Set(l); return nil }}
	h := f.server.AdminHandler(opts)
	auth := []string{"Authorization", "Bearer admin-token-0123456789"}

	rec := doHandler(h, "GET", "/api/v1/log-level", "", auth...)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{\n  \"level\": \"info\"\n}" {
		t.Errorf("GET: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		body string
		hdr  []string
		want int
	}{
		{`{"level": "debug"}`, nil, http.StatusUnauthorized},
		{`{"level": "debug"}`, []string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{`{"level": "verbose"}`, auth, http.StatusBadRequest},
		{`{"level": "debug", "x": 1}`, auth, http.StatusBadRequest},
		{`nope`, auth, http.StatusBadRequest},
		{`{"level": "DEBUG"}`, auth, http.StatusOK},
	} {
		if rec := doHandler(h, "PUT", "/api/v1/log-level", tc.body, tc.hdr...); rec.Code != tc.want {
			t.Errorf("PUT %s: %d, want %d: %s", tc.body, rec.Code, tc.want, rec.Body)
		}
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("level %v after PUT debug", level.Level())
	}
	if !strings.Contains(logs.String(), `msg="log level changed through the admin API" from=info to=debug remote=`) {
		t.Errorf("the change is not logged:\n%s", logs.String())
	}
	// error: the line that says so is at error level, so it shows.
	if rec := doHandler(h, "PUT", "/api/v1/log-level", `{"level":"error"}`, auth...); rec.Code != 200 || level.Level() != slog.LevelError {
		t.Errorf("PUT error: %d %v", rec.Code, level.Level())
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"log level changed through the admin API\" from=debug to=error") {
		t.Errorf("the change to error is not logged:\n%s", logs.String())
	}

	// Without a token nothing changes; without the functions, 501.
	h = f.server.AdminHandler(AdminOptions{Gatherer: f.reg, LogLevel: level.Level})
	if rec := doHandler(h, "PUT", "/api/v1/log-level", `{"level":"info"}`); rec.Code != http.StatusForbidden {
		t.Errorf("PUT without admin-token: %d", rec.Code)
	}
	h = f.server.AdminHandler(AdminOptions{Gatherer: f.reg})
	if rec := doHandler(h, "GET", "/api/v1/log-level", ""); rec.Code != http.StatusNotImplemented {
		t.Errorf("GET without LogLevel: %d", rec.Code)
	}
	if rec := doHandler(h, "GET", "/api/v1/server", ""); rec.Code != http.StatusNotImplemented {
		t.Errorf("GET /server without Server: %d", rec.Code)
	}
}

// A takedown or a purge through the API passes the caller's trace context
// on, with tracing off too.
func TestAPITraceParent(t *testing.T) {
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tracing := range []bool{false, true} {
		var f *fixture
		if tracing {
			f, _, _ = observedFixture(t, Options{})
		} else {
			f = newFixture(t)
		}
		var got []string
		h := f.server.AdminHandler(AdminOptions{Gatherer: f.reg, Token: "admin-token-0123456789",
			Takedown: func(ctx context.Context, _ string) (bool, error) {
				got = append(got, observe.TraceParent(ctx))
				return true, nil
			},
			Purge: func(ctx context.Context, _ string, _ []string) ([]string, error) {
				got = append(got, observe.TraceParent(ctx))
				return nil, nil
			}})
		auth := []string{"Authorization", "Bearer admin-token-0123456789", "traceparent", parent}
		doHandler(h, "DELETE", "/api/v1/streams/demo", "", auth...)
		doHandler(h, "POST", "/api/v1/purge", `{"stream":"demo"}`, auth...)
		if len(got) != 2 {
			t.Fatalf("tracing %v: %d calls", tracing, len(got))
		}
		for _, tp := range got {
			// Tracing off: the caller's own span; on: the API request's
			// span, in the caller's trace.
			if !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") || (tp == parent) == tracing {
				t.Errorf("tracing %v: traceparent %q", tracing, tp)
			}
		}
	}
}

func TestServerRoute(t *testing.T) {
	f := newFixture(t)
	h := f.server.AdminHandler(AdminOptions{Gatherer: f.reg, Server: func() any { return map[string]any{"version": "v9"} }})
	rec := doHandler(h, "GET", "/api/v1/server", "")
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 || doc["version"] != "v9" {
		t.Errorf("GET /api/v1/server: %d %s", rec.Code, rec.Body)
	}
}
