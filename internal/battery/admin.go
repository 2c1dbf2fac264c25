package battery

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// adminClient reads the server's admin listener.
type adminClient struct {
	addr  string // host:port
	base  string
	token string
	hc    *http.Client
}

func newAdminClient(addr, token string) *adminClient {
	return &adminClient{
		addr:  addr,
		base:  "http://" + addr,
		token: token,
		hc:    &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}, Timeout: 15 * time.Second},
	}
}

func (a *adminClient) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return nil, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin %s: %s", path, resp.Status)
	}
	return body, nil
}

// listeners returns the bound listener addresses by name (rtmp, srt,
// rtsp, http, admin) from /api/v1/server.
func (a *adminClient) listeners(ctx context.Context) (map[string]string, error) {
	body, err := a.get(ctx, "/api/v1/server", 1<<20)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Listeners map[string]string `json:"listeners"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("admin /api/v1/server: %w", err)
	}
	return doc.Listeners, nil
}

// Runtime is the server's goroutine count and heap in use.
type Runtime struct {
	Goroutines int   `json:"goroutines"`
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	// Held is the media the streams hold for their windows and
	// retention (liveorigin_packager_bytes_held, summed): it grows as
	// the clean stream's window fills and shrinks as the cases' streams
	// are forgotten, whatever the server did wrong or right.
	Held int64 `json:"bytes_held"`
	// Streams are the streams the packager holds (by their
	// liveorigin_packager_bytes_held series).
	Streams []string `json:"streams"`
}

// Overhead is the heap in use beyond the media held: what the return to
// baseline compares.
func (r Runtime) Overhead() int64 { return r.HeapInuse - r.Held }

// runtime reads go_goroutines, go_memstats_heap_inuse_bytes and
// liveorigin_packager_bytes_held from /metrics; with gc, it first has the server collect garbage
// (/debug/pprof/heap?gc=1), so the heap figure is what is live.
func (a *adminClient) runtime(ctx context.Context, gc bool) (Runtime, error) {
	// Twice: what sync.Pools hold (the HTTP server's buffers of thousands
	// of closed connections) survives one collection, not two.
	for i := 0; gc && i < 2; i++ {
		if _, err := a.get(ctx, "/debug/pprof/heap?gc=1", 64<<20); err != nil {
			return Runtime{}, err
		}
	}
	m, err := a.metrics(ctx)
	if err != nil {
		return Runtime{}, err
	}
	g, ok1 := m["go_goroutines"]
	h, ok2 := m["go_memstats_heap_inuse_bytes"]
	if !ok1 || !ok2 {
		return Runtime{}, fmt.Errorf("admin /metrics has no go_goroutines or go_memstats_heap_inuse_bytes")
	}
	rt := Runtime{Goroutines: int(g), HeapInuse: int64(h)}
	for k, v := range m {
		if labels, ok := strings.CutPrefix(k, "liveorigin_packager_bytes_held{"); ok {
			rt.Held += int64(v)
			if _, name, ok := strings.Cut(labels, `stream="`); ok {
				name, _, _ = strings.Cut(name, `"`)
				rt.Streams = append(rt.Streams, name)
			}
		}
	}
	sort.Strings(rt.Streams)
	return rt, nil
}

// metrics returns every sample on /metrics by its series (name and
// labels as exposed).
func (a *adminClient) metrics(ctx context.Context) (map[string]float64, error) {
	body, err := a.get(ctx, "/metrics", 64<<20)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(body)), nil
}

// parseMetrics reads the Prometheus text format's samples: a series, a
// space, a value (a timestamp after it is ignored).
func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the last space outside the labels.
		end := strings.LastIndexByte(line, '}')
		rest := line[end+1:]
		series := line[:end+1]
		if end < 0 {
			series, rest, _ = strings.Cut(line, " ")
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(series)] = v
	}
	return out
}

// counters returns the liveorigin_* counters that say how the server
// took bad input: errors, refusals, rejections.
func (a *adminClient) counters(ctx context.Context) (map[string]float64, error) {
	m, err := a.metrics(ctx)
	if err != nil {
		return nil, err
	}
	for k := range m {
		name, _, _ := strings.Cut(k, "{")
		if !strings.HasPrefix(name, "liveorigin_") || !strings.HasSuffix(name, "_total") ||
			!(strings.Contains(name, "error") || strings.Contains(name, "refused") || strings.Contains(name, "reject")) {
			delete(m, k)
		}
	}
	return m, nil
}

// diffCounters lists the counters that grew, "series +N", sorted.
func diffCounters(before, after map[string]float64) []string {
	var out []string
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out = append(out, fmt.Sprintf("%s +%g", strings.TrimPrefix(k, "liveorigin_"), d))
		}
	}
	sort.Strings(out)
	return out
}
