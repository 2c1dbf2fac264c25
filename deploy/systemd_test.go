package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	systemdUnit    = "deploy/systemd/liveorigin.service"
	systemdDropIn  = "deploy/systemd/privileged-ports.conf"
	systemdConfig  = "deploy/systemd/liveorigin.yaml"
	installedBin   = "/usr/local/bin/liveorigin"
	installedConf  = "/etc/liveorigin/liveorigin.yaml"
	installedEnv   = "/etc/liveorigin/env"
	maxUnitExposed = "20" // systemd-analyze security --threshold: exposure 2.0 ("OK") at most
)

// unitKeys parses a unit file into key → values (a key may repeat), per
// section: "Service.NoNewPrivileges".
func unitKeys(text string) map[string][]string {
	keys := map[string][]string{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			keys[section+"."+strings.TrimSpace(k)] = append(keys[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return keys
}

// TestSystemdUnitHardening checks the unit's settings that matter: the
// sandbox, no capabilities, the secrets file, restarts, and a stop timeout
// longer than the daemon's drain.
func TestSystemdUnitHardening(t *testing.T) {
	keys := unitKeys(readRepoFile(t, systemdUnit))
	for key, want := range map[string]string{
		"Service.NoNewPrivileges":         "yes",
		"Service.DynamicUser":             "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.PrivateDevices":          "yes",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.CapabilityBoundingSet":   "",
		"Service.AmbientCapabilities":     "",
		"Service.MemoryDenyWriteExecute":  "yes",
		"Service.Restart":                 "on-failure",
		"Service.EnvironmentFile":         "-" + installedEnv,
		"Service.KillSignal":              "SIGTERM",
	} {
		if got, ok := keys[key]; !ok || got[len(got)-1] != want {
			t.Errorf("%s: %s=%q, want %q", systemdUnit, key, got, want)
		}
	}
	if f := keys["Service.SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("%s: SystemCallFilter=%q, want @system-service first", systemdUnit, f)
	}
	if f := keys["Service.ExecStart"]; len(f) != 1 || f[0] != installedBin+" --config "+installedConf {
		t.Errorf("%s: ExecStart=%q, want %s --config %s", systemdUnit, f, installedBin, installedConf)
	}
	// A high descriptor limit: one per viewer's and publisher's connection.
	if f := keys["Service.LimitNOFILE"]; len(f) != 1 || atoi(f[0]) < 65536 {
		t.Errorf("%s: LimitNOFILE=%q, want 65536 or more", systemdUnit, f)
	}
	// The daemon ends on SIGHUP until it reloads on it: no ExecReload
	// before main.go handles the signal.
	if _, ok := keys["Service.ExecReload"]; ok && !strings.Contains(readRepoFile(t, "cmd/liveorigin/main.go"), "SIGHUP") {
		t.Errorf("%s: ExecReload is set but liveorigin does not handle SIGHUP (it would end the daemon)", systemdUnit)
	}

	// TimeoutStopSec must leave the drain its shutdown-timeout.
	stop, err := time.ParseDuration(keys["Service.TimeoutStopSec"][0])
	if err != nil {
		t.Fatalf("%s: TimeoutStopSec: %v (write it as a Go duration, e.g. 30s)", systemdUnit, err)
	}
	shutdown := configDuration(t, systemdConfig, "shutdown-timeout")
	if stop <= shutdown+5*time.Second {
		t.Errorf("%s: TimeoutStopSec=%v leaves no margin over shutdown-timeout %v of %s", systemdUnit, stop, shutdown, systemdConfig)
	}

	// The drop-in for ports below 1024 grants exactly one capability.
	drop := unitKeys(readRepoFile(t, systemdDropIn))
	for key, want := range map[string]string{
		"Service.CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"Service.AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
	} {
		if got := drop[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s=%q, want %q", systemdDropIn, key, got, want)
		}
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// TestSystemdEnvExample checks that the secrets file example names real
// variables of the daemon.
func TestSystemdEnvExample(t *testing.T) {
	_, envs := optionDefaults(t)
	known := map[string]bool{}
	for _, e := range envs {
		known[e] = true
	}
	names := envExampleNames(readRepoFile(t, "deploy/systemd/env.example"))
	if !slices.Contains(names, "LIVEORIGIN_ADMIN_TOKEN") {
		t.Errorf("deploy/systemd/env.example does not show LIVEORIGIN_ADMIN_TOKEN")
	}
	for _, n := range names {
		if strings.HasPrefix(n, "LIVEORIGIN_") && !known[n] {
			t.Errorf("deploy/systemd/env.example: %s is not a liveorigin variable (liveorigin --help)", n)
		}
	}
}

// envExampleNames lists the VAR of every "VAR=value" or "#VAR=value" line.
func envExampleNames(text string) []string {
	var names []string
	re := regexp.MustCompile(`^#?([A-Z_][A-Z0-9_]*)=`)
	for _, line := range strings.Split(text, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

// configDuration reads a duration option from a config file, or the
// daemon's default.
func configDuration(t *testing.T, file, opt string) time.Duration {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(readRepoFile(t, file)), &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	v, ok := cfg[opt].(string)
	if !ok {
		defaults, _ := optionDefaults(t)
		v = defaults[opt]
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %s: %v", file, opt, err)
	}
	return d
}

// TestSystemdAnalyze runs systemd-analyze verify and security (offline) on
// the unit, alone and with the drop-in. verify needs ExecStart to exist, so
// a copy of the unit runs the binary built here.
func TestSystemdAnalyze(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "apt-get install systemd")
	if _, err := runTool("", sa, "--version"); err != nil {
		t.Skipf("systemd-analyze cannot run here: %v", err)
	}
	bin := daemon(t)
	unit := strings.ReplaceAll(readRepoFile(t, systemdUnit), installedBin, bin)
	for _, withDropIn := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "liveorigin.service")
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		if withDropIn {
			d := filepath.Join(dir, "liveorigin.service.d")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "privileged-ports.conf"), []byte(readRepoFile(t, systemdDropIn)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// verify exits 0 on unknown keys and bad values: every line it
		// prints is a finding.
		out, err := runTool(dir, sa, "verify", path)
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify (drop-in %v): %v\n%s", withDropIn, err, out)
		}
		out, err = runTool(dir, sa, "security", "--offline=true", "--threshold="+maxUnitExposed, path)
		if err != nil {
			t.Errorf("systemd-analyze security (drop-in %v): exposure above %s/10: %v\n%s", withDropIn, maxUnitExposed, err, out)
		}
		if !strings.Contains(out, "Overall exposure level for liveorigin.service") {
			t.Errorf("systemd-analyze security printed no exposure level:\n%s", out)
		}
	}
}

// TestSystemdConfigStarts starts the daemon with the example config file of
// the unit (listeners moved to free ports): the daemon refuses a bad one.
func TestSystemdConfigStarts(t *testing.T) {
	r := startDaemon(t, filepath.Join(repoRoot(t), systemdConfig), nil)
	if code, body := r.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
}
