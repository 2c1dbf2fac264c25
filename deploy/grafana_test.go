package deploy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const dashboardFile = "deploy/grafana/liveorigin.json"

// What the dashboard must show (issue 6): a metric of each.
var dashboardMetrics = []string{
	"liveorigin_streams_active",                           // streams
	"liveorigin_publishers_active",                        // publishers
	"liveorigin_ingest_bytes_total",                       // ingest bitrate per stream
	"liveorigin_ingest_frames_total",                      // frame rate per stream
	"liveorigin_packager_segments_total",                  // segments per minute
	"liveorigin_packager_segment_duration_seconds_bucket", // segment duration
	"liveorigin_packager_bytes_held",                      // bytes held
	"liveorigin_http_requests_total",                      // by kind and code, blocking-reload 503 ratio
	"liveorigin_http_request_duration_seconds_bucket",     // latency p50, p99 by kind
	"liveorigin_purge_requests_total",                     // purge results
	"liveorigin_purge_queue_length",                       // purge queue
	"liveorigin_srt_rtt_seconds",                          // SRT RTT
	"liveorigin_srt_packets_lost_total",                   // SRT loss
}

type grafanaPanel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

type grafanaDashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Datasource json.RawMessage `json:"datasource"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// TestGrafanaDashboard checks that the dashboard is built on the real
// metric names, filters on its $instance and $stream variables, and takes
// its datasource as the DS_PROMETHEUS import input.
func TestGrafanaDashboard(t *testing.T) {
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(readRepoFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("%s: __inputs %+v, want one prometheus datasource input DS_PROMETHEUS", dashboardFile, d.Inputs)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: want a uid and a title", dashboardFile)
	}
	const ds = `{"type":"prometheus","uid":"${DS_PROMETHEUS}"}`
	sameDS := func(raw json.RawMessage) bool {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return false
		}
		b, _ := json.Marshal(v)
		return string(b) == ds
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "query" && !sameDS(v.Datasource) {
			t.Errorf("%s: variable %s: datasource %s, want %s", dashboardFile, v.Name, v.Datasource, ds)
		}
	}
	for _, v := range []string{"instance", "stream"} {
		if !vars[v] {
			t.Errorf("%s: no $%s template variable", dashboardFile, v)
		}
	}

	docs := documentedMetrics(t)
	used := map[string]bool{}
	var panels []grafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	titles := map[string]bool{}
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		if titles[p.Title] {
			t.Errorf("%s: two panels titled %q", dashboardFile, p.Title)
		}
		titles[p.Title] = true
		if !sameDS(p.Datasource) {
			t.Errorf("%s: panel %q: datasource %s, want %s", dashboardFile, p.Title, p.Datasource, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for i, q := range p.Targets {
			where := fmt.Sprintf("%s: panel %q query %d", dashboardFile, p.Title, i)
			if !sameDS(q.Datasource) {
				t.Errorf("%s: datasource %s, want %s", where, q.Datasource, ds)
			}
			for _, s := range checkSelectors(t, where, q.Expr, docs) {
				used[s.name] = true
				checkDashboardFilters(t, where, s, docs)
			}
		}
	}
	for _, m := range dashboardMetrics {
		if !used[m] {
			t.Errorf("%s: no panel shows %s", dashboardFile, m)
		}
	}
}

// checkDashboardFilters wants every selector filtered by $instance, and by
// $stream when the metric has a stream label (or stream=~".*" for a panel
// about every stream).
func checkDashboardFilters(t *testing.T, where string, s selector, docs map[string]metricDoc) {
	t.Helper()
	has := func(label, value string) bool {
		for _, m := range s.matchers {
			if m.label == label && m.op == "=~" && m.value == value {
				return true
			}
		}
		return false
	}
	if !has("instance", "$instance") {
		t.Errorf(`%s: %s without instance=~"$instance"`, where, s.name)
	}
	// stream=~".*" says on purpose: every stream, whatever is selected.
	if d, ok := lookupMetric(docs, s.name); ok && d.hasLabel("stream") && !has("stream", "$stream") && !has("stream", ".*") {
		t.Errorf(`%s: %s has a stream label but no stream=~"$stream"`, where, s.name)
	}
	if strings.Contains(s.name, "$") {
		t.Errorf("%s: a variable in a metric name: %s", where, s.name)
	}
}
