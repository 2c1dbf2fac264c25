package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the daemon's whole configuration. It lives in package main only:
// wiring maps it onto each package's own Options (DESIGN: no global config
// package). Every field is an option of the table in options(), so it can be
// set in the YAML file, an environment variable or a flag, in that order of
// precedence (a flag wins).
type Config struct {
	RTMPAddr  string
	HTTPAddr  string
	AdminAddr string

	SegmentTarget     time.Duration
	Window            time.Duration
	ReconnectGrace    time.Duration
	MaxTargetDuration time.Duration
	MaxStreams        int

	CORSOrigin string
	PublicURL  string

	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
}

func defaultConfig() Config {
	return Config{
		RTMPAddr:          ":1935",
		HTTPAddr:          ":8080",
		AdminAddr:         "127.0.0.1:9997",
		SegmentTarget:     2 * time.Second,
		Window:            30 * time.Second,
		ReconnectGrace:    10 * time.Second,
		MaxTargetDuration: 10 * time.Second,
		MaxStreams:        100,
		CORSOrigin:        "*",
		LogLevel:          "info",
		LogFormat:         "auto",
		ShutdownTimeout:   10 * time.Second,
	}
}

// option is one configuration option: its name is the YAML key and the
// flag; env is derived from it (LIVEORIGIN_ + upper snake case).
type option struct {
	name, arg, help string
	get             func(c *Config) string
	set             func(c *Config, v string) error
}

func (o option) env() string {
	return "LIVEORIGIN_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

func stringOpt(name, arg, help string, f func(*Config) *string) option {
	return option{name: name, arg: arg, help: help,
		get: func(c *Config) string { return *f(c) },
		set: func(c *Config, v string) error { *f(c) = v; return nil }}
}

func durationOpt(name, help string, f func(*Config) *time.Duration) option {
	return option{name: name, arg: "DURATION", help: help,
		get: func(c *Config) string { return f(c).String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration (use e.g. 2s, 500ms, 1m)", v)
			}
			*f(c) = d
			return nil
		}}
}

func intOpt(name, help string, f func(*Config) *int) option {
	return option{name: name, arg: "N", help: help,
		get: func(c *Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*f(c) = n
			return nil
		}}
}

func options() []option {
	return []option{
		stringOpt("rtmp-addr", "ADDR", "RTMP ingest listen address (OBS: server rtmp://HOST/live, key NAME)", func(c *Config) *string { return &c.RTMPAddr }),
		stringOpt("http-addr", "ADDR", "HTTP playback listen address (HLS and DASH)", func(c *Config) *string { return &c.HTTPAddr }),
		stringOpt("admin-addr", "ADDR", "admin listen address: /metrics, /healthz, /readyz, /api/v1 (keep it on loopback or a private network)", func(c *Config) *string { return &c.AdminAddr }),
		durationOpt("segment-target", "segment target duration; segments are cut at the first keyframe at or after it (500ms to 20s)", func(c *Config) *time.Duration { return &c.SegmentTarget }),
		durationOpt("window", "length of the live window in playlists and the MPD; segments stay fetchable for one more window", func(c *Config) *time.Duration { return &c.Window }),
		durationOpt("reconnect-grace", "how long a stream waits for its publisher to return before it ends", func(c *Config) *time.Duration { return &c.ReconnectGrace }),
		durationOpt("max-target-duration", "cap on the HLS target duration; a longer keyframe interval gets segments cut between keyframes", func(c *Config) *time.Duration { return &c.MaxTargetDuration }),
		intOpt("max-streams", "maximum number of streams at once", func(c *Config) *int { return &c.MaxStreams }),
		stringOpt("cors-origin", "ORIGIN", "Access-Control-Allow-Origin on playback responses; empty disables CORS headers", func(c *Config) *string { return &c.CORSOrigin }),
		stringOpt("public-url", "URL", "base URL viewers reach the origin at (e.g. https://cdn.example.com); used for absolute URLs such as the DASH UTCTiming source", func(c *Config) *string { return &c.PublicURL }),
		stringOpt("log-level", "LEVEL", "log level: debug, info, warn, error", func(c *Config) *string { return &c.LogLevel }),
		stringOpt("log-format", "FORMAT", "log format: auto (text on a terminal, JSON otherwise), json, text", func(c *Config) *string { return &c.LogFormat }),
		durationOpt("shutdown-timeout", "how long a graceful shutdown may take to drain HTTP requests", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	}
}

// errHelp is returned by loadConfig when --help was asked for.
var errHelp = errors.New("help requested")

// loadConfig builds the configuration from defaults, the YAML file named by
// --config (or LIVEORIGIN_CONFIG), the environment and the flags. It returns
// every problem it finds, one error per problem.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (Config, []error) {
	cfg := defaultConfig()
	opts := options()

	fs := flag.NewFlagSet("liveorigin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configFile := getenv("LIVEORIGIN_CONFIG")
	fs.StringVar(&configFile, "config", configFile, "")
	type setFlag struct {
		opt   option
		value string
	}
	var flags []setFlag
	for _, o := range opts {
		o := o
		fs.Func(o.name, o.help, func(v string) error { flags = append(flags, setFlag{o, v}); return nil })
	}
	fs.Usage = func() { printUsage(usage, opts) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(usage, opts)
			return cfg, []error{errHelp}
		}
		return cfg, []error{fmt.Errorf("%v (see liveorigin --help)", err)}
	}
	if fs.NArg() > 0 {
		return cfg, []error{fmt.Errorf("unexpected argument %q (options are flags, see liveorigin --help)", fs.Arg(0))}
	}

	var errs []error
	if configFile != "" {
		errs = append(errs, applyFile(&cfg, opts, configFile)...)
	}
	for _, o := range opts {
		if v, ok := lookupEnv(getenv, o.env()); ok {
			if err := o.set(&cfg, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", o.env(), err))
			}
		}
	}
	for _, f := range flags {
		if err := f.opt.set(&cfg, f.value); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %v", f.opt.name, err))
		}
	}
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, cfg.validate()
}

func lookupEnv(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

func applyFile(cfg *Config, opts []option, path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %v", err)}
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []error{fmt.Errorf("config file %s: %v", path, err)}
	}
	byName := make(map[string]option, len(opts))
	for _, o := range opts {
		byName[o.name] = o
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		node := doc[k]
		o, ok := byName[k]
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s line %d: unknown option %q (see liveorigin --help)", path, node.Line, k))
			continue
		}
		if node.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("config file %s line %d: %s: want a single value", path, node.Line, k))
			continue
		}
		if err := o.set(cfg, node.Value); err != nil {
			errs = append(errs, fmt.Errorf("config file %s line %d: %s: %v", path, node.Line, k, err))
		}
	}
	return errs
}

// validate checks what the packages' own validation does not: listener
// addresses and the logging options. The packager checks its own knobs
// (see newApp).
func (c Config) validate() []error {
	var errs []error
	for _, a := range []struct{ name, v string }{{"rtmp-addr", c.RTMPAddr}, {"http-addr", c.HTTPAddr}, {"admin-addr", c.AdminAddr}} {
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not HOST:PORT (e.g. :8080 or 127.0.0.1:8080)", a.name, a.v))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s: port %q is not a number from 0 to 65535", a.name, port))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log-format: %q is not one of auto, json, text", c.LogFormat))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout: must be positive, got %s", c.ShutdownTimeout))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, fmt.Errorf("public-url: %q must start with http:// or https://", c.PublicURL))
	}
	return errs
}

func printUsage(w io.Writer, opts []option) {
	d := defaultConfig()
	fmt.Fprintf(w, `liveorigin: a live-streaming origin. RTMP in, CMAF packaged once, HLS and DASH out.

Usage: liveorigin [--config FILE] [options]

Publish:  rtmp://HOST:1935/live/NAME   (OBS: server rtmp://HOST/live, stream key NAME)
Play:     http://HOST:8080/live/NAME/index.m3u8   http://HOST:8080/live/NAME/manifest.mpd

Every option can be given as a flag, an environment variable, or a key in the
YAML file named by --config (env LIVEORIGIN_CONFIG). A flag beats the
environment, which beats the file, which beats the default.

  --config FILE
        YAML configuration file, keys as the option names below (e.g. "segment-target: 2s")
`)
	for _, o := range opts {
		fmt.Fprintf(w, "  --%s %s\n        %s\n        env %s, default %q\n", o.name, o.arg, o.help, o.env(), o.get(&d))
	}
}
