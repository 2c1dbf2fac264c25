package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "liveorigin.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, errs := loadConfig(nil, envMap(nil), &bytes.Buffer{})
	if len(errs) > 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	if !reflect.DeepEqual(cfg, defaultConfig()) {
		t.Fatalf("got %+v, want defaults", cfg)
	}
	if cfg.RTMPAddr != ":1935" || cfg.HTTPAddr != ":8080" || cfg.AdminAddr != "127.0.0.1:9997" {
		t.Fatalf("listener defaults: %+v", cfg)
	}
	// part-target 0 picks 1/3 s; the start log says what was picked.
	if got := packagerOptions(cfg).Effective().PartTarget; got != time.Second/3 {
		t.Errorf("effective part target %v, want 1/3 s", got)
	}
	cfg.SegmentTarget = 500 * time.Millisecond
	if got := packagerOptions(cfg).Effective().PartTarget; got != 250*time.Millisecond {
		t.Errorf("effective part target with 500ms segments %v, want half of them", got)
	}
}

// A flag beats the environment, which beats the file, which beats the default.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "segment-target: 4s\nwindow: 40s\nhttp-addr: \":81\"\nmax-streams: 7\n")
	env := envMap(map[string]string{
		"LIVEORIGIN_CONFIG":    file,
		"LIVEORIGIN_WINDOW":    "50s",
		"LIVEORIGIN_HTTP_ADDR": ":82",
	})
	cfg, errs := loadConfig([]string{"--http-addr", ":83"}, env, &bytes.Buffer{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if cfg.SegmentTarget != 4*time.Second {
		t.Errorf("segment-target from file: got %s", cfg.SegmentTarget)
	}
	if cfg.Window != 50*time.Second {
		t.Errorf("window from env: got %s", cfg.Window)
	}
	if cfg.HTTPAddr != ":83" {
		t.Errorf("http-addr from flag: got %s", cfg.HTTPAddr)
	}
	if cfg.MaxStreams != 7 {
		t.Errorf("max-streams from file: got %d", cfg.MaxStreams)
	}
}

// Options keyed by stream name merge across the file, the environment and
// repeated flags.
func TestConfigMapOptions(t *testing.T) {
	file := writeFile(t, "rtsp-pull:\n  lobby: rtsp://u:p@10.0.0.9/s1\n  gate: rtsp://10.0.0.10/h264\nsrt-stream-passphrase:\n  hevc: 0123456789abc\n")
	env := envMap(map[string]string{
		"LIVEORIGIN_CONFIG":    file,
		"LIVEORIGIN_RTSP_PULL": "gate=rtsp://10.0.0.11/h264,yard=rtsp://10.0.0.12/h264",
	})
	cfg, errs := loadConfig([]string{"--rtsp-pull", "roof=rtsp://10.0.0.13/x", "--rtsp-pull", "lobby=rtsp://10.0.0.14/x"}, env, &bytes.Buffer{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]string{
		"lobby": "rtsp://10.0.0.14/x", "gate": "rtsp://10.0.0.11/h264", "yard": "rtsp://10.0.0.12/h264", "roof": "rtsp://10.0.0.13/x",
	}
	if !reflect.DeepEqual(cfg.RTSPPulls, want) {
		t.Errorf("rtsp-pull: got %v, want %v", cfg.RTSPPulls, want)
	}
	if cfg.SRTStreamPassphrases["hevc"] != "0123456789abc" {
		t.Errorf("srt-stream-passphrase: %v", cfg.SRTStreamPassphrases)
	}
}

// Bad configurations and the one line per problem each must produce.
func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string
	}{
		{name: "bad duration flag", args: []string{"--segment-target", "two"}, want: []string{`--segment-target: "two" is not a duration`}},
		{name: "bad env", env: map[string]string{"LIVEORIGIN_MAX_STREAMS": "many"}, want: []string{`LIVEORIGIN_MAX_STREAMS: "many" is not a whole number`}},
		{name: "bad address", args: []string{"--http-addr", "8080"}, want: []string{`http-addr: "8080" is not HOST:PORT`}},
		{name: "two problems", args: []string{"--log-level", "loud", "--admin-addr", "x:y"}, want: []string{`admin-addr: port "y"`, `log-level: "loud"`}},
		{name: "unknown file key", file: "segment-targett: 2s\n", want: []string{`line 1: unknown option "segment-targett"`}},
		{name: "file value", file: "window: forever\n", want: []string{`line 1: window: "forever" is not a duration`}},
		{name: "file not yaml", file: "window: [1, 2\n", want: []string{"config file"}},
		{name: "missing file", args: []string{"--config", "/nonexistent/liveorigin.yaml"}, want: []string{"no such file"}},
		{name: "unknown flag", args: []string{"--nope"}, want: []string{"flag provided but not defined: -nope"}},
		{name: "stray argument", args: []string{"serve"}, want: []string{`unexpected argument "serve"`}},
		{name: "public url", args: []string{"--public-url", "cdn.example.com"}, want: []string{"public-url"}},
		{name: "short passphrase", args: []string{"--srt-passphrase", "short"}, want: []string{"srt-passphrase: must be 10 to 79 characters, got 5"}},
		{name: "stream passphrase without name", args: []string{"--srt-stream-passphrase", "hunter2hunter2"}, want: []string{"want NAME=SECRET, got \"<redacted>\""}},
		{name: "stream passphrase bad name", args: []string{"--srt-stream-passphrase", "a b=0123456789ab"}, want: []string{"srt-stream-passphrase a b: invalid stream name"}},
		{name: "pull url", args: []string{"--rtsp-pull", "cam=http://camera/x"}, want: []string{"rtsp-pull cam: want a URL like rtsp://"}},
		{name: "pull not a mapping", file: "rtsp-pull: rtsp://camera/x\n", want: []string{"rtsp-pull: want a mapping"}},
		{name: "udp half set", args: []string{"--rtsp-udp-rtcp-addr", ""}, want: []string{"set both or neither"}},
		{name: "short origin secret", args: []string{"--origin-secret", "0123456789abcdef,short"}, want: []string{"origin-secret: each secret must be at least 16 characters (got one of 5)"}},
		{name: "short admin token", env: map[string]string{"LIVEORIGIN_ADMIN_TOKEN": "tiny"}, want: []string{"admin-token: must be at least 16 characters (got 4)"}},
		{name: "secret header", args: []string{"--origin-secret-header", "X Secret"}, want: []string{`origin-secret-header: "X Secret" is not a header name`}},
		{name: "bool flag", args: []string{"--low-latency=maybe"}, want: []string{`--low-latency: "maybe" is not true or false`}},
		{name: "tls key without cert", args: []string{"--http-tls-key", "/etc/tls.key"}, want: []string{"http-tls-cert and http-tls-key: set both or neither"}},
		{name: "admin tls half set", args: []string{"--admin-tls-cert", "/etc/tls.crt"}, want: []string{"admin-tls-cert and admin-tls-key: set both or neither"}},
		{name: "rtmps without certificate", args: []string{"--rtmps-addr", ":1936"}, want: []string{"rtmps-addr: needs a certificate"}},
		{name: "rtmps bad address", args: []string{"--rtmps-addr", "1936", "--http-tls-cert", "c", "--http-tls-key", "k"}, want: []string{`rtmps-addr: "1936" is not HOST:PORT`}},
		{name: "rtmps certificate without listener", args: []string{"--rtmps-tls-cert", "c", "--rtmps-tls-key", "k"}, want: []string{"rtmps-tls-cert: set rtmps-addr too"}},
		{name: "negative limit", args: []string{"--max-publishers-per-address", "-1"}, want: []string{"max-publishers-per-address: -1 is negative (0 turns the limit off)"}},
		{name: "write timeout below the longest response", args: []string{"--http-write-timeout", "40s"},
			want: []string{"http-write-timeout: 40s must be more than 4 x max-target-duration (40s)"}},
		{name: "zero timeout", env: map[string]string{"LIVEORIGIN_RTMP_READ_TIMEOUT": "0s"}, want: []string{"rtmp-read-timeout: must be positive, got 0s"}},
		{name: "bitrate window", args: []string{"--ingest-bitrate-window", "500ms"}, want: []string{"ingest-bitrate-window: 500ms is outside 1s to 1m"}},
		{name: "small segment size", args: []string{"--max-segment-size", "1000"}, want: []string{"max-segment-size: 1000 is below 65536 bytes"}},
		{name: "client ip header", args: []string{"--client-ip-header", "X-Real IP"}, want: []string{`client-ip-header: "X-Real IP" is not a header name`}},
		{name: "purge not a list", file: "purge:\n  type: varnish\n", want: []string{"purge: want a list of backends"}},
		{name: "token streams without key", args: []string{"--playback-token-streams", "*"}, want: []string{"no playback-token-key is set"}},
		{name: "short token key", args: []string{"--playback-token-key", "k1=short-secret"}, want: []string{"the secret must be at least 32 bytes"}},
		{name: "token key id", args: []string{"--playback-token-key", "k.1=" + playKey1}, want: []string{`key id "k.1"`}},
		{name: "two token keys", args: []string{"--playback-token-key", "k1=" + playKey1, "--playback-token-key", "k2=" + playKey2}, want: []string{"name the one that signs"}},
		{name: "unknown signing key", args: []string{"--playback-token-key", "k1=" + playKey1, "--playback-token-signing-key", "k3"}, want: []string{`no playback-token-key has the id "k3"`}},
		{name: "token stream name", args: []string{"--playback-token-key", "k1=" + playKey1, "--playback-token-streams", "a/b"}, want: []string{"playback-token-streams a/b"}},
		{name: "client ip header", args: []string{"--playback-token-client-ip-header", "X Forwarded"}, want: []string{"is not a header name"}},
		{name: "purge unknown key", file: "purge:\n  - type: varnish\n    urll: http://127.0.0.1:6081\n", want: []string{"field urll not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.file != "" {
				env["LIVEORIGIN_CONFIG"] = writeFile(t, tc.file)
			}
			_, errs := loadConfig(tc.args, envMap(env), &bytes.Buffer{})
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d: %q does not contain %q", i, errs[i], w)
				}
			}
		})
	}
}

// Low latency, CDN and admin options from the three sources; the purge list
// from the file (its backends are checked when the daemon starts).
func TestConfigCDNOptions(t *testing.T) {
	file := writeFile(t, "low-latency: false\npart-target: 250ms\ntakedown-refuse: 10m\npurge:\n  - type: varnish\n    url: http://127.0.0.1:6081\n    mode: ban\n  - type: fastly\n    service-id: SVC\n    token-env: FASTLY_TOKEN\n")
	cfg, errs := loadConfig([]string{"--origin-secret", "0123456789abcdef, fedcba9876543210", "--low-latency"}, envMap(map[string]string{
		"LIVEORIGIN_CONFIG": file, "LIVEORIGIN_ADMIN_TOKEN": "admin-token-0123456789",
	}), &bytes.Buffer{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !cfg.LowLatency || cfg.PartTarget != 250*time.Millisecond || cfg.TakedownRefuse != 10*time.Minute {
		t.Errorf("low-latency %v (the bare flag wins over the file), part-target %v, takedown-refuse %v", cfg.LowLatency, cfg.PartTarget, cfg.TakedownRefuse)
	}
	if got := cfg.originSecrets(); !reflect.DeepEqual(got, []string{"0123456789abcdef", "fedcba9876543210"}) {
		t.Errorf("origin secrets %q", got)
	}
	if cfg.AdminToken != "admin-token-0123456789" || cfg.OriginSecretHeader != "X-Origin-Secret" {
		t.Errorf("admin token %q, header %q", cfg.AdminToken, cfg.OriginSecretHeader)
	}
	if len(cfg.Purge) != 2 || cfg.Purge[0].Type != "varnish" || cfg.Purge[0].URL != "http://127.0.0.1:6081" || cfg.Purge[0].Mode != "ban" || cfg.Purge[1].Type != "fastly" {
		t.Errorf("purge %+v", cfg.Purge)
	}
}

// The packager validates its own knobs; run reports them at start, one per line.
func TestRunRefusesInvalidPackagingConfig(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"--segment-target", "1ms", "--window", "-1s"}, envMap(nil), &bytes.Buffer{}, &stderr)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr: %s", code, stderr.String())
	}
	out := stderr.String()
	for _, w := range []string{"segment-target", "window"} {
		if !strings.Contains(out, w) {
			t.Errorf("stderr %q does not name %s", out, w)
		}
	}
}

func TestHelpDocumentsEveryOption(t *testing.T) {
	var stdout bytes.Buffer
	if code := run([]string{"--help"}, envMap(nil), &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("--help exit code %d", code)
	}
	for _, o := range options() {
		for _, w := range []string{"--" + o.name, o.env()} {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("--help lacks %s", w)
			}
		}
	}
}

// docs/configuration.md is the reference: it must name every option.
func TestConfigurationDocCoversEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range options() {
		for _, w := range []string{"`" + o.name + "`", "`" + o.env() + "`"} {
			if !bytes.Contains(doc, []byte(w)) {
				t.Errorf("docs/configuration.md does not document %s", w)
			}
		}
	}
}
