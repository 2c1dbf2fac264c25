package deploy_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "deploy/prometheus/liveorigin-rules.yaml"
	rulesTestFile = "deploy/prometheus/liveorigin-rules.test.yaml"
	promConfig    = "deploy/prometheus/prometheus.yml"
	runbookPrefix = "https://github.com/liveorigin/liveorigin/blob/main/docs/operations.md#"
)

// The alerts issue 6 asks for; more are welcome.
var requiredAlerts = []string{
	"LiveoriginPublisherGone",
	"LiveoriginSegmentProductionStalled",
	"LiveoriginPurgeFailures",
	"LiveoriginPurgesDropped",
	"LiveoriginBlockingReload503High",
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, rulesFile)), &doc); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []alertRule
	for _, g := range doc.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// groupingLabels lists the labels of the by (...) and on (...) clauses of
// an expression: the labels an alert carries.
func groupingLabels(expr string) map[string]bool {
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(?:by|on)\s*\(([^)]*)\)`).FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			labels[strings.TrimSpace(l)] = true
		}
	}
	return labels
}

// TestAlertRules checks every alert: severity, summary, description, a
// runbook link to its section of docs/operations.md, the labels it
// carries named in its text, and metric names that exist.
func TestAlertRules(t *testing.T) {
	rules := loadRules(t)
	docs := documentedMetrics(t)
	anchors := githubAnchors(readRepoFile(t, "docs/operations.md"))
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("%s: recording rule %s: this file holds alerts only", rulesFile, r.Record)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("%s: alert %s defined twice", rulesFile, r.Alert)
		}
		seen[r.Alert] = true
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s: %s: severity %q, want critical, warning or info", rulesFile, r.Alert, r.Labels["severity"])
		}
		summary, description := r.Annotations["summary"], r.Annotations["description"]
		if summary == "" || description == "" {
			t.Errorf("%s: %s: want summary and description annotations", rulesFile, r.Alert)
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookPrefix)
		if !ok || !anchors[anchor] {
			t.Errorf("%s: %s: runbook_url %q is not %s<a heading of docs/operations.md>", rulesFile, r.Alert, r.Annotations["runbook_url"], runbookPrefix)
		} else if anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: %s: runbook_url points to #%s, want its own section #%s", rulesFile, r.Alert, anchor, strings.ToLower(r.Alert))
		}
		for l := range groupingLabels(r.Expr) {
			switch l {
			case "stream", "name", "backend", "kind", "type":
				if ref := "$labels." + l; !strings.Contains(summary+description, ref) {
					t.Errorf("%s: %s: the alert carries label %s, but its summary and description do not say {{ %s }}", rulesFile, r.Alert, l, ref)
				}
			}
		}
		checkSelectors(t, rulesFile+": "+r.Alert, r.Expr, docs)
	}
	for _, a := range requiredAlerts {
		if !seen[a] {
			t.Errorf("%s: no alert %s", rulesFile, a)
		}
	}
}

// TestAlertRuleTestsCoverEveryAlert wants each alert seen firing and not
// firing in the promtool unit tests.
func TestAlertRuleTestsCoverEveryAlert(t *testing.T) {
	var doc struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, rulesTestFile)), &doc); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	if len(doc.RuleFiles) != 1 || doc.RuleFiles[0] != filepath.Base(rulesFile) {
		t.Errorf("%s: rule_files %q, want [%s]", rulesTestFile, doc.RuleFiles, filepath.Base(rulesFile))
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range doc.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		if !fires[r.Alert] {
			t.Errorf("%s: no test expects %s to fire", rulesTestFile, r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no test expects %s to stay quiet", rulesTestFile, r.Alert)
		}
	}
}

// TestPromtool checks the rules and the example configuration with
// promtool, and runs the rules' unit tests.
func TestPromtool(t *testing.T) {
	promtool := needTool(t, "promtool", "Debian package prometheus; make deps installs it")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(rulesTestFile)},
		{"check", "config", filepath.Base(promConfig)},
	} {
		if out, err := runTool(dir, promtool, args...); err != nil {
			t.Errorf("%v", err)
		} else if !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool %s: no SUCCESS:\n%s", strings.Join(args, " "), out)
		}
	}
}
