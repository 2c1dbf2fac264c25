// Package deploy_test checks the deploy artefacts against the daemon they
// deploy: the systemd unit (systemd-analyze), the container build (its go
// build, run here: the binary must be static and start), the Kubernetes
// manifests (ports, probes, security context, against the daemon's own
// defaults), the Prometheus alert rules (promtool check and test rules) and
// the Grafana dashboard (every metric name documented in docs/metrics.md).
//
// The daemon is built once, with the Containerfile's own go build command,
// and the example configurations are started with it (listeners on
// 127.0.0.1:0), so a configuration the daemon refuses fails here.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tmpDir holds the daemon built for the tests; TestMain removes it.
var tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "liveorigin-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root: tests run in deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

// readRepoFile reads a file by its path from the repository root.
func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// needTool skips the test when a command is not installed.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (%s): skipped", name, install)
	}
	return p
}

var daemonBuild struct {
	once sync.Once
	bin  string
	err  error
}

// daemon returns the liveorigin binary built with the Containerfile's go
// build command (container_test.go).
func daemon(t *testing.T) string {
	t.Helper()
	daemonBuild.once.Do(func() {
		daemonBuild.bin, daemonBuild.err = buildLikeContainerfile(repoRoot(t), filepath.Join(tmpDir, "liveorigin"))
	})
	if daemonBuild.err != nil {
		t.Fatalf("building the daemon as deploy/container/Containerfile does: %v", daemonBuild.err)
	}
	return daemonBuild.bin
}

// listener is a listen-address option of the daemon and its protocol. Every
// "-addr" option of liveorigin --help must be here (TestListenersKnown), so
// that a new listener makes these tests ask for its port in the manifests.
type listener struct {
	opt   string
	proto string // "TCP" or "UDP", as Kubernetes spells it
}

var listeners = []listener{
	{"rtmp-addr", "TCP"},
	{"rtmps-addr", "TCP"}, // off by default (it needs a certificate)
	{"srt-addr", "UDP"},
	{"rtsp-addr", "TCP"},
	{"rtsp-udp-rtp-addr", "UDP"},
	{"rtsp-udp-rtcp-addr", "UDP"},
	{"http-addr", "TCP"},
	{"admin-addr", "TCP"},
}

var helpDefault = regexp.MustCompile(`^\s+env (LIVEORIGIN_[A-Z0-9_]+), default "(.*)"$`)

// optionDefaults runs liveorigin --help and returns every option's default
// value and environment variable by option name.
func optionDefaults(t *testing.T) (defaults, envs map[string]string) {
	t.Helper()
	out, err := exec.Command(daemon(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("liveorigin --help: %v\n%s", err, out)
	}
	defaults, envs = map[string]string{}, map[string]string{}
	var opt string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "  --") {
			opt = strings.Fields(strings.TrimPrefix(line, "  --"))[0]
			continue
		}
		if m := helpDefault.FindStringSubmatch(line); m != nil && opt != "" {
			envs[opt], defaults[opt] = m[1], m[2]
		}
	}
	if len(defaults) < 10 {
		t.Fatalf("liveorigin --help: found %d option defaults, want them all:\n%s", len(defaults), out)
	}
	return defaults, envs
}

func TestListenersKnown(t *testing.T) {
	defaults, _ := optionDefaults(t)
	known := map[string]bool{}
	for _, l := range listeners {
		known[l.opt] = true
		if _, ok := defaults[l.opt]; !ok {
			t.Errorf("listener option %s is not in liveorigin --help", l.opt)
		}
	}
	for opt := range defaults {
		if strings.HasSuffix(opt, "-addr") && !known[opt] {
			t.Errorf("liveorigin has a listener option %s that deploy/deploy_test.go does not know: add it to listeners and to the manifests", opt)
		}
	}
}

// portOf returns the port of a listen address (":1935", "0.0.0.0:9997"),
// or "" for an empty (disabled) address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	if addr == "" {
		return ""
	}
	i := strings.LastIndex(addr, ":")
	if i < 0 || i == len(addr)-1 {
		t.Fatalf("listen address %q has no port", addr)
	}
	return addr[i+1:]
}

// running is a daemon started by startDaemon.
type running struct {
	admin string // host:port of the admin listener
	cmd   *exec.Cmd
	done  chan error
	log   *logBuffer
}

// logBuffer keeps the daemon's log lines for failure messages.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line + "\n")
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon starts the daemon with a config file and environment, every
// listener moved to 127.0.0.1:0 (flags beat the file and the environment)
// and RTSP over UDP off (its ports must be fixed and adjacent). It waits for
// the "liveorigin started" log line; the test's cleanup stops it.
func startDaemon(t *testing.T, configFile string, env []string) *running {
	t.Helper()
	args := []string{"--log-format", "json"}
	if configFile != "" {
		args = append(args, "--config", configFile)
	}
	for _, l := range listeners {
		v := "127.0.0.1:0"
		if strings.HasPrefix(l.opt, "rtsp-udp-") || l.opt == "rtmps-addr" {
			v = "" // fixed adjacent ports; a certificate
		}
		args = append(args, "--"+l.opt+"="+v)
	}
	cmd := exec.Command(daemon(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: cmd, done: make(chan error, 1), log: &logBuffer{}}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			r.log.add(line)
			var rec struct {
				Msg   string `json:"msg"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "liveorigin started" {
				started <- rec.Admin
			}
		}
		r.done <- cmd.Wait()
	}()
	t.Cleanup(func() { r.stop(t) })
	select {
	case r.admin = <-started:
	case err := <-r.done:
		r.done <- err
		t.Fatalf("liveorigin %s exited before it started: %v\n%s", strings.Join(args, " "), err, r.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("liveorigin did not log \"liveorigin started\" within 30s:\n%s", r.log)
	}
	return r
}

// stop sends SIGTERM, as systemd and Kubernetes do, and expects a clean
// exit.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("liveorigin after SIGTERM: %v\n%s", err, r.log)
		}
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		t.Errorf("liveorigin did not stop within 30s of SIGTERM:\n%s", r.log)
	}
}

// get fetches a path of the admin listener.
func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

var daemonScrape struct {
	once  sync.Once
	names map[string]bool
}

// scrapedNames starts the daemon with its defaults and returns the metric
// family names its /metrics exposes with no stream (the go_* and process_*
// families that docs/metrics.md includes by reference).
func scrapedNames(t *testing.T) map[string]bool {
	t.Helper()
	daemonScrape.once.Do(func() {
		r := startDaemon(t, "", nil)
		code, body := r.get(t, "/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d\n%s", code, body)
		}
		names := map[string]bool{}
		for _, line := range strings.Split(body, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
				names[f[2]] = true
			}
		}
		daemonScrape.names = names
	})
	if daemonScrape.names == nil {
		t.Fatal("scraping the daemon failed in an earlier test")
	}
	return daemonScrape.names
}

// metricDoc is a row of a table of docs/metrics.md.
type metricDoc struct {
	name, typ string
	row       string // the whole table row: labels, their values, meaning
}

// hasLabel reports whether the row documents the label.
func (d metricDoc) hasLabel(l string) bool {
	cols := strings.Split(d.row, "|")
	return len(cols) > 3 && strings.Contains(cols[3], "`"+l+"`")
}

// documentedMetrics parses every metric table of docs/metrics.md.
func documentedMetrics(t *testing.T) map[string]metricDoc {
	t.Helper()
	docs := map[string]metricDoc{}
	row := regexp.MustCompile("^\\| `([a-z_:][a-z0-9_:]*)` \\| (counter|gauge|histogram|summary) \\|")
	for _, line := range strings.Split(readRepoFile(t, "docs/metrics.md"), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			docs[m[1]] = metricDoc{name: m[1], typ: m[2], row: line}
		}
	}
	if len(docs) < 20 {
		t.Fatalf("docs/metrics.md: found %d metrics in its tables, want them all", len(docs))
	}
	return docs
}

// lookupMetric finds the documentation of a series name, which may be a
// histogram's _bucket, _sum or _count.
func lookupMetric(docs map[string]metricDoc, name string) (metricDoc, bool) {
	if d, ok := docs[name]; ok {
		return d, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if d, ok := docs[base]; ok && (d.typ == "histogram" || d.typ == "summary" && suffix != "_bucket") {
				return d, true
			}
		}
	}
	return metricDoc{}, false
}

// checkSelectors checks the metric names of a PromQL expression: liveorigin_*
// names must be documented in docs/metrics.md, with the labels they are
// matched on; "up" is Prometheus's own; go_* and process_* must be exposed
// by the daemon (docs/metrics.md includes those collectors by reference).
func checkSelectors(t *testing.T, where, expr string, docs map[string]metricDoc) []selector {
	t.Helper()
	sels, err := promqlSelectors(expr)
	if err != nil {
		t.Errorf("%s: %v in %q", where, err, expr)
		return nil
	}
	if len(sels) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, s := range sels {
		switch {
		case s.name == "up":
		case strings.HasPrefix(s.name, "process_") || strings.HasPrefix(s.name, "go_"):
			if !scrapedNames(t)[s.name] {
				t.Errorf("%s: %s is not exposed by liveorigin's /metrics", where, s.name)
			}
		default:
			d, ok := lookupMetric(docs, s.name)
			if !ok {
				t.Errorf("%s: metric %s is not in docs/metrics.md", where, s.name)
				continue
			}
			for _, m := range s.matchers {
				if m.label == "job" || m.label == "instance" {
					continue
				}
				if !d.hasLabel(m.label) && !(m.label == "le" && strings.HasSuffix(s.name, "_bucket")) {
					t.Errorf("%s: %s has no label %q in docs/metrics.md", where, s.name, m.label)
					continue
				}
				if m.op == "=" && !strings.HasPrefix(m.value, "$") && !regexp.MustCompile(`\b`+regexp.QuoteMeta(m.value)+`\b`).MatchString(d.row) {
					t.Errorf("%s: %s{%s=%q}: docs/metrics.md does not list that value", where, s.name, m.label, m.value)
				}
			}
		}
	}
	return sels
}

// githubAnchors returns the anchors GitHub gives the headings of a
// Markdown file.
func githubAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		anchors[a] = true
	}
	return anchors
}

// sortedKeys lists a set for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runTool runs a command and returns its combined output; a non-zero exit
// is an error carrying that output.
func runTool(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), err
}
