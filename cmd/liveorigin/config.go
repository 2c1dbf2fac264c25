package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/liveorigin/liveorigin/auth"
	"github.com/liveorigin/liveorigin/hooks"
	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/ingest/rtmp"
	"github.com/liveorigin/liveorigin/ingest/rtsp"
	"github.com/liveorigin/liveorigin/ingest/srt"
	iredact "github.com/liveorigin/liveorigin/internal/redact"
	"github.com/liveorigin/liveorigin/limits"
	"github.com/liveorigin/liveorigin/observe"
	"github.com/liveorigin/liveorigin/origin/purge"
	"github.com/liveorigin/liveorigin/playauth"
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

	// TLS (docs/security.md): a listener with a certificate and key file
	// serves TLS; the files are read again when they change.
	HTTPTLSCert, HTTPTLSKey   string
	AdminTLSCert, AdminTLSKey string
	RTMPSAddr                 string // empty: no RTMPS
	// RTMPSTLSCert and RTMPSTLSKey default to the HTTP pair.
	RTMPSTLSCert, RTMPSTLSKey string

	SRTAddr              string
	SRTPassphrase        string
	SRTStreamPassphrases map[string]string
	SRTLatency           time.Duration

	RTSPAddr        string
	RTSPUDPRTPAddr  string
	RTSPUDPRTCPAddr string
	RTSPPulls       map[string]string

	SegmentTarget     time.Duration
	Window            time.Duration
	ReconnectGrace    time.Duration
	MaxTargetDuration time.Duration
	MaxStreams        int
	LowLatency        bool
	PartTarget        time.Duration

	CORSOrigin string
	PublicURL  string

	OriginSecret       string // comma-separated: several during a rotation
	OriginSecretHeader string
	AdminToken         string
	TakedownRefuse     time.Duration
	// PublishAuth is the auth.Mode of every stream (open, keys, jwt);
	// StreamAuth a stream's own mode; StreamKeys the key of each stream
	// name; PublishJWT* the keys and audience of the JWT mode
	// (docs/security.md, publishauth.go).
	PublishAuth             string
	StreamAuth              map[string]string
	StreamKeys              map[string]string
	PublishJWTSecret        string
	PublishJWTSecretFile    string
	PublishJWTPublicKeyFile string
	PublishJWTJWKSURL       string
	PublishJWTJWKSRefresh   time.Duration
	PublishJWTAudience      string
	PublishJWTIssuer        string
	// PlaybackToken* are the signed playback options (playauth.go).
	PlaybackTokenKeys           map[string]string
	PlaybackTokenSigningKey     string
	PlaybackTokenStreams        string
	PlaybackTokenMaxLifetime    time.Duration
	PlaybackTokenClientIPHeader string
	// Purge are the CDN purge backends: config file only (a list under
	// "purge:", see docs/purge.md).
	Purge []purge.Config
	// Webhooks are the publish, unpublish and stream_end hooks: config
	// file only (a list under "webhooks:", see docs/webhooks.md).
	Webhooks []hooks.Config

	// Limits (docs/security.md, Limits). 0 turns a maximum off.
	MaxPublishersPerAddress int
	MaxIngestBitrate        int // kbit/s
	IngestBitrateWindow     time.Duration
	MaxSegmentSize          int // bytes
	MaxHTTPConnections      int
	HTTPMaxHeaderBytes      int
	HTTPReadHeaderTimeout   time.Duration
	HTTPReadTimeout         time.Duration
	HTTPWriteTimeout        time.Duration
	HTTPIdleTimeout         time.Duration
	ManifestRateLimit       int
	ManifestRateWindow      time.Duration
	ClientIPHeader          string
	RTMPHandshakeTimeout    time.Duration
	RTMPReadTimeout         time.Duration
	SRTReadTimeout          time.Duration
	RTSPReadTimeout         time.Duration

	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// OTelEndpoint is the OTLP/HTTP collector that receives the traces;
	// empty: tracing off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
	// (docs/tracing.md).
	OTelEndpoint string
}

func defaultConfig() Config {
	return Config{
		RTMPAddr:                 ":1935",
		SRTAddr:                  ":9000",
		SRTLatency:               120 * time.Millisecond,
		RTSPAddr:                 ":8554",
		RTSPUDPRTPAddr:           ":8000",
		RTSPUDPRTCPAddr:          ":8001",
		HTTPAddr:                 ":8080",
		AdminAddr:                "127.0.0.1:9997",
		SegmentTarget:            2 * time.Second,
		Window:                   30 * time.Second,
		ReconnectGrace:           10 * time.Second,
		MaxTargetDuration:        10 * time.Second,
		MaxStreams:               100,
		LowLatency:               true,
		CORSOrigin:               "*",
		OriginSecretHeader:       "X-Origin-Secret",
		TakedownRefuse:           time.Hour,
		PublishAuth:              string(auth.ModeOpen),
		PlaybackTokenMaxLifetime: playauth.DefaultMaxLifetime,
		PublishJWTJWKSRefresh:    auth.DefaultJWKSRefresh,

		MaxPublishersPerAddress: 10,
		MaxIngestBitrate:        50_000,
		IngestBitrateWindow:     limits.DefaultBitrateWindow,
		MaxSegmentSize:          64 << 20,
		MaxHTTPConnections:      10_000,
		HTTPMaxHeaderBytes:      16 << 10,
		HTTPReadHeaderTimeout:   10 * time.Second,
		HTTPReadTimeout:         30 * time.Second,
		HTTPWriteTimeout:        60 * time.Second,
		HTTPIdleTimeout:         120 * time.Second,
		ManifestRateWindow:      10 * time.Second,
		RTMPHandshakeTimeout:    rtmp.DefaultHandshakeTimeout,
		RTMPReadTimeout:         rtmp.DefaultReadTimeout,
		SRTReadTimeout:          srt.DefaultReadTimeout,
		RTSPReadTimeout:         rtsp.DefaultReadTimeout,
		LogLevel:                "info",
		LogFormat:               "auto",
		ShutdownTimeout:         10 * time.Second,
	}
}

// option is one configuration option: its name is the YAML key and the
// flag; env is derived from it (LIVEORIGIN_ + upper snake case).
type option struct {
	name, arg, help string
	get             func(c *Config) string
	set             func(c *Config, v string) error
	// isMap options hold NAME=VALUE entries: a flag may repeat, the
	// environment variable takes a comma-separated list, the file a mapping.
	isMap bool
	// secret values are never printed.
	secret bool
	// isBool options may be given as a bare flag (--low-latency means true).
	isBool bool
	// field points at the option's field of c: a reload compares and
	// copies values through it (get is redacted and summarised).
	field func(c *Config) any
	// live options take effect on a reload (SIGHUP, POST /api/v1/reload);
	// a change to any other is reported as needing a restart.
	live bool
}

// liveOpt marks o as applied on a reload.
func liveOpt(o option) option {
	o.live = true
	return o
}

func (o option) env() string {
	return "LIVEORIGIN_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

func stringOpt(name, arg, help string, f func(*Config) *string) option {
	return option{name: name, arg: arg, help: help,
		field: func(c *Config) any { return f(c) },
		get:   func(c *Config) string { return *f(c) },
		set:   func(c *Config, v string) error { *f(c) = v; return nil }}
}

func durationOpt(name, help string, f func(*Config) *time.Duration) option {
	return option{name: name, arg: "DURATION", help: help,
		field: func(c *Config) any { return f(c) },
		get:   func(c *Config) string { return f(c).String() },
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
		field: func(c *Config) any { return f(c) },
		get:   func(c *Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*f(c) = n
			return nil
		}}
}

func boolOpt(name, help string, f func(*Config) *bool) option {
	return option{name: name, arg: "BOOL", help: help, isBool: true,
		field: func(c *Config) any { return f(c) },
		get:   func(c *Config) string { return strconv.FormatBool(*f(c)) },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*f(c) = b
			return nil
		}}
}

// mapOpt is an option of NAME=VALUE entries keyed by stream name.
func mapOpt(name, arg, help string, secret bool, f func(*Config) *map[string]string) option {
	return option{name: name, arg: "NAME=" + arg, help: help, isMap: true, secret: secret,
		field: func(c *Config) any { return f(c) },
		get: func(c *Config) string {
			if len(*f(c)) == 0 {
				return ""
			}
			return fmt.Sprintf("%d entries", len(*f(c)))
		},
		set: func(c *Config, v string) error {
			k, val, ok := strings.Cut(v, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return fmt.Errorf("want NAME=%s, got %q", arg, redact(v, secret))
			}
			if *f(c) == nil {
				*f(c) = map[string]string{}
			}
			(*f(c))[k] = val
			return nil
		}}
}

func redact(v string, secret bool) string {
	if secret {
		return "<redacted>"
	}
	return v
}

func options() []option {
	return append([]option{
		stringOpt("rtmp-addr", "ADDR", "RTMP ingest listen address (OBS: server rtmp://HOST/live, key NAME)", func(c *Config) *string { return &c.RTMPAddr }),
		stringOpt("srt-addr", "ADDR", "SRT ingest listen address (UDP); callers use streamid=publish:live/NAME", func(c *Config) *string { return &c.SRTAddr }),
		{name: "srt-passphrase", arg: "SECRET", help: "SRT passphrase every caller must use (10 to 79 characters); empty accepts unencrypted callers", secret: true, live: true,
			field: func(c *Config) any { return &c.SRTPassphrase },
			get:   func(c *Config) string { return redact(c.SRTPassphrase, c.SRTPassphrase != "") },
			set:   func(c *Config, v string) error { c.SRTPassphrase = v; return nil }},
		liveOpt(mapOpt("srt-stream-passphrase", "SECRET", "SRT passphrase for one stream, overriding srt-passphrase (repeat the flag; env: comma-separated)", true, func(c *Config) *map[string]string { return &c.SRTStreamPassphrases })),
		durationOpt("srt-latency", "SRT receiver latency: how long the receiver waits for retransmissions", func(c *Config) *time.Duration { return &c.SRTLatency }),
		stringOpt("rtsp-addr", "ADDR", "RTSP ingest listen address (TCP); push to rtsp://HOST:8554/live/NAME", func(c *Config) *string { return &c.RTSPAddr }),
		stringOpt("rtsp-udp-rtp-addr", "ADDR", "UDP address for RTSP RECORD over UDP (RTP, an even port); empty disables UDP", func(c *Config) *string { return &c.RTSPUDPRTPAddr }),
		stringOpt("rtsp-udp-rtcp-addr", "ADDR", "UDP address for RTSP RECORD over UDP (RTCP, the RTP port + 1)", func(c *Config) *string { return &c.RTSPUDPRTCPAddr }),
		liveOpt(mapOpt("rtsp-pull", "URL", "pull a camera into stream NAME: NAME=rtsp://user:pass@camera/path (repeat the flag; env: comma-separated)", false, func(c *Config) *map[string]string { return &c.RTSPPulls })),
		stringOpt("http-addr", "ADDR", "HTTP playback listen address (HLS and DASH)", func(c *Config) *string { return &c.HTTPAddr }),
		stringOpt("admin-addr", "ADDR", "admin listen address: /metrics, /healthz, /readyz, /api/v1 (keep it on loopback or a private network)", func(c *Config) *string { return &c.AdminAddr }),
		stringOpt("http-tls-cert", "FILE", "PEM certificate (with its chain) for the playback listener: set with http-tls-key, playback is HTTPS only (TLS 1.2+, HTTP/2); read again when the file changes", func(c *Config) *string { return &c.HTTPTLSCert }),
		stringOpt("http-tls-key", "FILE", "PEM private key of http-tls-cert", func(c *Config) *string { return &c.HTTPTLSKey }),
		stringOpt("admin-tls-cert", "FILE", "PEM certificate for the admin listener (may be the http-tls-cert file): set with admin-tls-key, the admin listener is HTTPS only", func(c *Config) *string { return &c.AdminTLSCert }),
		stringOpt("admin-tls-key", "FILE", "PEM private key of admin-tls-cert", func(c *Config) *string { return &c.AdminTLSKey }),
		stringOpt("rtmps-addr", "ADDR", "RTMPS ingest listen address (RTMP inside TLS: rtmps://HOST:PORT/live, key NAME); empty: no RTMPS. Its certificate: rtmps-tls-cert, else http-tls-cert", func(c *Config) *string { return &c.RTMPSAddr }),
		stringOpt("rtmps-tls-cert", "FILE", "PEM certificate for the RTMPS listener; empty: the http-tls-cert pair", func(c *Config) *string { return &c.RTMPSTLSCert }),
		stringOpt("rtmps-tls-key", "FILE", "PEM private key of rtmps-tls-cert", func(c *Config) *string { return &c.RTMPSTLSKey }),
		durationOpt("segment-target", "segment target duration; segments are cut at the first keyframe at or after it (500ms to 20s)", func(c *Config) *time.Duration { return &c.SegmentTarget }),
		durationOpt("window", "length of the live window in playlists and the MPD; segments stay fetchable for one more window", func(c *Config) *time.Duration { return &c.Window }),
		durationOpt("reconnect-grace", "how long a stream waits for its publisher to return before it ends", func(c *Config) *time.Duration { return &c.ReconnectGrace }),
		durationOpt("max-target-duration", "cap on the HLS target duration; a longer keyframe interval gets segments cut between keyframes", func(c *Config) *time.Duration { return &c.MaxTargetDuration }),
		boolOpt("low-latency", "LL-HLS parts, blocking playlist reload and LL-DASH chunked segments; false serves regular HLS and DASH only", func(c *Config) *bool { return &c.LowLatency }),
		durationOpt("part-target", "LL-HLS part (CMAF chunk) target duration; players hold back three parts (100ms to 1s, at most half the segment target); 0 picks 1/3 s (at most half the segment target)", func(c *Config) *time.Duration { return &c.PartTarget }),
		intOpt("max-streams", "maximum number of streams at once", func(c *Config) *int { return &c.MaxStreams }),
		liveOpt(stringOpt("cors-origin", "ORIGIN", "Access-Control-Allow-Origin on playback responses; empty disables CORS headers", func(c *Config) *string { return &c.CORSOrigin })),
		stringOpt("public-url", "URL", "base URL viewers reach the origin at (e.g. https://cdn.example.com); used for absolute URLs such as the DASH UTCTiming source", func(c *Config) *string { return &c.PublicURL }),
		{name: "origin-secret", arg: "SECRET[,SECRET]", help: "when set, playback answers only requests carrying one of these secrets in origin-secret-header (your CDN adds it), so viewers cannot bypass the CDN; at least 16 characters each; two during a rotation", secret: true, live: true,
			field: func(c *Config) any { return &c.OriginSecret },
			get:   func(c *Config) string { return redact(c.OriginSecret, c.OriginSecret != "") },
			set:   func(c *Config, v string) error { c.OriginSecret = v; return nil }},
		stringOpt("origin-secret-header", "NAME", "request header that carries the origin secret", func(c *Config) *string { return &c.OriginSecretHeader }),
		{name: "admin-token", arg: "TOKEN", help: "bearer token for /api/v1 on the admin listener (at least 16 characters); without it the API is read-only", secret: true, live: true,
			field: func(c *Config) any { return &c.AdminToken },
			get:   func(c *Config) string { return redact(c.AdminToken, c.AdminToken != "") },
			set:   func(c *Config, v string) error { c.AdminToken = v; return nil }},
		liveOpt(stringOpt("publish-auth", "MODE", "who may publish: open (anyone who reaches an ingest port), keys (the stream's stream-key, sent as NAME?key=SECRET) or jwt (a signed token, sent as NAME?key=TOKEN)", func(c *Config) *string { return &c.PublishAuth })),
		liveOpt(mapOpt("stream-auth", "MODE", "publish auth mode of one stream (open, keys, jwt), overriding publish-auth (repeat the flag; env: comma-separated)", false, func(c *Config) *map[string]string { return &c.StreamAuth })),
		liveOpt(mapOpt("stream-key", "SECRET", "publish key of one stream with publish-auth keys, at least 16 characters (repeat the flag; env: comma-separated)", true, func(c *Config) *map[string]string { return &c.StreamKeys })),
		{name: "publish-jwt-secret", arg: "SECRET", help: "HS256 secret that verifies publish tokens (at least 32 bytes); or publish-jwt-secret-file", secret: true, live: true,
			field: func(c *Config) any { return &c.PublishJWTSecret },
			get:   func(c *Config) string { return redact(c.PublishJWTSecret, c.PublishJWTSecret != "") },
			set:   func(c *Config, v string) error { c.PublishJWTSecret = v; return nil }},
		liveOpt(stringOpt("publish-jwt-secret-file", "PATH", "file holding the HS256 secret of publish tokens (a trailing newline is dropped; read again on reload)", func(c *Config) *string { return &c.PublishJWTSecretFile })),
		liveOpt(stringOpt("publish-jwt-public-key-file", "PATH", "PEM file of the public keys that verify RS256 (RSA, at least 2048 bits) and ES256 (P-256) publish tokens (read again on reload)", func(c *Config) *string { return &c.PublishJWTPublicKeyFile })),
		{name: "publish-jwt-jwks-url", arg: "URL", help: "JWK Set URL whose RS256/ES256 keys verify publish tokens, fetched in the background", live: true,
			field: func(c *Config) any { return &c.PublishJWTJWKSURL },
			get:   func(c *Config) string { return iredact.URL(c.PublishJWTJWKSURL) },
			set:   func(c *Config, v string) error { c.PublishJWTJWKSURL = v; return nil }},
		liveOpt(durationOpt("publish-jwt-jwks-refresh", "how often publish-jwt-jwks-url is fetched again (at least 10s); a token with an unknown kid asks for a fetch sooner", func(c *Config) *time.Duration { return &c.PublishJWTJWKSRefresh })),
		liveOpt(stringOpt("publish-jwt-audience", "AUD", "when set, publish tokens must name it in their aud claim", func(c *Config) *string { return &c.PublishJWTAudience })),
		liveOpt(stringOpt("publish-jwt-issuer", "ISS", "when set, publish tokens must have it as their iss claim", func(c *Config) *string { return &c.PublishJWTIssuer })),
		liveOpt(durationOpt("takedown-refuse", "after a takedown (DELETE /api/v1/streams/NAME), how long the name is refused to publishers and answers 410", func(c *Config) *time.Duration { return &c.TakedownRefuse })),
		liveOpt(intOpt("max-publishers-per-address", "most publishers at once from one IP address, across RTMP, SRT and RTSP; one more is refused (0: no limit)", func(c *Config) *int { return &c.MaxPublishersPerAddress })),
		liveOpt(intOpt("max-ingest-bitrate", "most media one publisher may send, in kbit/s, averaged over ingest-bitrate-window; a publisher above it is cut off (0: no limit)", func(c *Config) *int { return &c.MaxIngestBitrate })),
		liveOpt(durationOpt("ingest-bitrate-window", "sliding window max-ingest-bitrate is averaged over (1s to 1m; a publisher keeps the window it started with)", func(c *Config) *time.Duration { return &c.IngestBitrateWindow })),
		intOpt("max-segment-size", "most bytes one track's segment may hold; a publisher whose segment grows beyond it is cut off", func(c *Config) *int { return &c.MaxSegmentSize }),
		liveOpt(intOpt("max-http-connections", "most playback HTTP connections open at once; more are answered 503 and closed (0: no limit)", func(c *Config) *int { return &c.MaxHTTPConnections })),
		intOpt("http-max-header-bytes", "largest request header accepted on the HTTP and admin listeners; a larger one is answered 431", func(c *Config) *int { return &c.HTTPMaxHeaderBytes }),
		durationOpt("http-read-header-timeout", "time a client has to send a request's header; a slower one (slowloris) is cut off", func(c *Config) *time.Duration { return &c.HTTPReadHeaderTimeout }),
		durationOpt("http-read-timeout", "time a client has to send a whole request", func(c *Config) *time.Duration { return &c.HTTPReadTimeout }),
		durationOpt("http-write-timeout", "time a playback response may take, waiting included: more than 4 x max-target-duration (a request waits up to 3 target durations for the live edge, then a growing LL-DASH segment streams for one more)", func(c *Config) *time.Duration { return &c.HTTPWriteTimeout }),
		durationOpt("http-idle-timeout", "how long an idle keep-alive connection stays open", func(c *Config) *time.Duration { return &c.HTTPIdleTimeout }),
		liveOpt(intOpt("manifest-rate-limit", "most playlist and MPD requests per client address per manifest-rate-window; more are answered 429 (0: off; behind a CDN set client-ip-header)", func(c *Config) *int { return &c.ManifestRateLimit })),
		liveOpt(durationOpt("manifest-rate-window", "sliding window of manifest-rate-limit (at least 1s)", func(c *Config) *time.Duration { return &c.ManifestRateWindow })),
		liveOpt(stringOpt("client-ip-header", "NAME", "request header with the viewer's address, set by your CDN (e.g. True-Client-IP, or X-Forwarded-For: its last entry); keys manifest-rate-limit. Empty: the connection's address", func(c *Config) *string { return &c.ClientIPHeader })),
		durationOpt("rtmp-handshake-timeout", "time an RTMP client has to complete the handshake", func(c *Config) *time.Duration { return &c.RTMPHandshakeTimeout }),
		durationOpt("rtmp-read-timeout", "an RTMP publisher that sends nothing for this long is cut off", func(c *Config) *time.Duration { return &c.RTMPReadTimeout }),
		durationOpt("srt-read-timeout", "an SRT caller that sends nothing for this long is cut off (3 times as long without media)", func(c *Config) *time.Duration { return &c.SRTReadTimeout }),
		durationOpt("rtsp-read-timeout", "an RTSP session (push or pull) that receives nothing for this long is cut off", func(c *Config) *time.Duration { return &c.RTSPReadTimeout }),
		liveOpt(stringOpt("log-level", "LEVEL", "log level: debug, info, warn, error", func(c *Config) *string { return &c.LogLevel })),
		stringOpt("log-format", "FORMAT", "log format: auto (text on a terminal, JSON otherwise), json, text", func(c *Config) *string { return &c.LogFormat }),
		stringOpt("otel-endpoint", "URL", "OpenTelemetry: send traces over OTLP/HTTP to this collector, e.g. http://collector:4318 (/v1/traces is appended); empty: tracing off unless OTEL_EXPORTER_OTLP_ENDPOINT is set", func(c *Config) *string { return &c.OTelEndpoint }),
		liveOpt(durationOpt("shutdown-timeout", "how long a graceful shutdown may take to drain HTTP requests", func(c *Config) *time.Duration { return &c.ShutdownTimeout })),
	}, playbackTokenOptions()...)
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
		add := func(v string) error { flags = append(flags, setFlag{o, v}); return nil }
		if o.isBool {
			fs.BoolFunc(o.name, o.help, add)
		} else {
			fs.Func(o.name, o.help, add)
		}
	}
	fs.Usage = func() {} // printed once below, on flag.ErrHelp
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
			values := []string{v}
			if o.isMap {
				values = strings.Split(v, ",")
			}
			for _, v := range values {
				if err := o.set(&cfg, v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %v", o.env(), err))
				}
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

// applyPurge reads the "purge:" list of the config file: CDN purge
// backends (origin/purge.Config), unknown keys refused.
func applyPurge(cfg *Config, path string, node yaml.Node) []error {
	if node.Kind != yaml.SequenceNode {
		return []error{fmt.Errorf("config file %s line %d: purge: want a list of backends (see docs/purge.md)", path, node.Line)}
	}
	raw, err := yaml.Marshal(&node)
	if err != nil {
		return []error{fmt.Errorf("config file %s line %d: purge: %v", path, node.Line, err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var list []purge.Config
	if err := dec.Decode(&list); err != nil {
		return []error{fmt.Errorf("config file %s: purge (from line %d): %v (see docs/purge.md)", path, node.Line, err)}
	}
	cfg.Purge = list
	return nil
}

// applyWebhooks reads the "webhooks:" list of the config file
// (hooks.Config), unknown keys refused.
func applyWebhooks(cfg *Config, path string, node yaml.Node) []error {
	if node.Kind != yaml.SequenceNode {
		return []error{fmt.Errorf("config file %s line %d: webhooks: want a list of hooks (see docs/webhooks.md)", path, node.Line)}
	}
	raw, err := yaml.Marshal(&node)
	if err != nil {
		return []error{fmt.Errorf("config file %s line %d: webhooks: %v", path, node.Line, err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var list []hooks.Config
	if err := dec.Decode(&list); err != nil {
		return []error{fmt.Errorf("config file %s: webhooks (from line %d): %v (see docs/webhooks.md)", path, node.Line, err)}
	}
	cfg.Webhooks = list
	return nil
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
		if k == "purge" {
			errs = append(errs, applyPurge(cfg, path, node)...)
			continue
		}
		if k == "webhooks" {
			errs = append(errs, applyWebhooks(cfg, path, node)...)
			continue
		}
		o, ok := byName[k]
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s line %d: unknown option %q (see liveorigin --help)", path, node.Line, k))
			continue
		}
		if o.isMap {
			if node.Kind != yaml.MappingNode {
				errs = append(errs, fmt.Errorf("config file %s line %d: %s: want a mapping of stream names to values", path, node.Line, k))
				continue
			}
			for i := 0; i+1 < len(node.Content); i += 2 {
				key, val := node.Content[i], node.Content[i+1]
				if val.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("config file %s line %d: %s: %s: want a single value", path, val.Line, k, key.Value))
					continue
				}
				if err := o.set(cfg, key.Value+"="+val.Value); err != nil {
					errs = append(errs, fmt.Errorf("config file %s line %d: %s: %v", path, key.Line, k, err))
				}
			}
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
	for _, a := range []struct{ name, v string }{
		{"rtmp-addr", c.RTMPAddr}, {"srt-addr", c.SRTAddr}, {"rtsp-addr", c.RTSPAddr},
		{"rtsp-udp-rtp-addr", c.RTSPUDPRTPAddr}, {"rtsp-udp-rtcp-addr", c.RTSPUDPRTCPAddr},
		{"http-addr", c.HTTPAddr}, {"admin-addr", c.AdminAddr}, {"rtmps-addr", c.RTMPSAddr},
	} {
		if a.v == "" && (strings.HasPrefix(a.name, "rtsp-udp") || a.name == "rtmps-addr") {
			continue // UDP for RTSP and RTMPS are optional
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not HOST:PORT (e.g. :8080 or 127.0.0.1:8080)", a.name, a.v))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s: port %q is not a number from 0 to 65535", a.name, port))
		}
	}
	errs = append(errs, c.validateTLS()...)
	if (c.RTSPUDPRTPAddr == "") != (c.RTSPUDPRTCPAddr == "") {
		errs = append(errs, errors.New("rtsp-udp-rtp-addr and rtsp-udp-rtcp-addr: set both or neither"))
	}
	if err := checkPassphrase(c.SRTPassphrase); err != nil {
		errs = append(errs, fmt.Errorf("srt-passphrase: %v", err))
	}
	for _, name := range sortedKeys(c.SRTStreamPassphrases) {
		if err := ingest.ValidateName(name); err != nil {
			errs = append(errs, fmt.Errorf("srt-stream-passphrase %s: %v", name, err))
		} else if err := checkPassphrase(c.SRTStreamPassphrases[name]); err != nil || c.SRTStreamPassphrases[name] == "" {
			errs = append(errs, fmt.Errorf("srt-stream-passphrase %s: must be 10 to 79 characters", name))
		}
	}
	if c.SRTLatency < 0 || c.SRTLatency > 10*time.Second {
		errs = append(errs, fmt.Errorf("srt-latency: %s is outside 0 to 10s", c.SRTLatency))
	}
	for _, name := range sortedKeys(c.RTSPPulls) {
		raw := c.RTSPPulls[name]
		if err := ingest.ValidateName(name); err != nil {
			errs = append(errs, fmt.Errorf("rtsp-pull %s: %v", name, err))
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
			errs = append(errs, fmt.Errorf("rtsp-pull %s: want a URL like rtsp://user:pass@camera:554/path", name))
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
	if c.OTelEndpoint != "" {
		if _, err := observe.TracesURL(c.OTelEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("otel-endpoint: %v", err))
		}
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout: must be positive, got %s", c.ShutdownTimeout))
	}
	for _, sec := range c.originSecrets() {
		if len(sec) < 16 {
			errs = append(errs, fmt.Errorf("origin-secret: each secret must be at least 16 characters (got one of %d)", len(sec)))
		}
	}
	if c.OriginSecret != "" && len(c.originSecrets()) == 0 {
		errs = append(errs, errors.New("origin-secret: no secret in the list"))
	}
	if !observe.ValidHeaderName(c.OriginSecretHeader) {
		errs = append(errs, fmt.Errorf("origin-secret-header: %q is not a header name", c.OriginSecretHeader))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, fmt.Errorf("admin-token: must be at least 16 characters (got %d)", len(c.AdminToken)))
	}
	if _, aerrs := c.authConfig(os.ReadFile); len(aerrs) > 0 {
		errs = append(errs, aerrs...)
	}
	if _, perrs := c.playbackPolicy(); len(perrs) > 0 {
		errs = append(errs, perrs...)
	}
	if h := c.PlaybackTokenClientIPHeader; h != "" && !observe.ValidHeaderName(h) {
		errs = append(errs, fmt.Errorf("playback-token-client-ip-header: %q is not a header name", h))
	}
	if c.TakedownRefuse < 0 {
		errs = append(errs, fmt.Errorf("takedown-refuse: %s is negative", c.TakedownRefuse))
	}
	errs = append(errs, c.validateLimits()...)
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, fmt.Errorf("public-url: %q must start with http:// or https://", c.PublicURL))
	}
	return errs
}

// validateTLS checks the TLS options: each key with its certificate, and
// RTMPS with a pair. Whether the files load is checked at start (newApp).
func (c Config) validateTLS() []error {
	var errs []error
	for _, p := range []struct{ cert, key, certV, keyV string }{
		{"http-tls-cert", "http-tls-key", c.HTTPTLSCert, c.HTTPTLSKey},
		{"admin-tls-cert", "admin-tls-key", c.AdminTLSCert, c.AdminTLSKey},
		{"rtmps-tls-cert", "rtmps-tls-key", c.RTMPSTLSCert, c.RTMPSTLSKey},
	} {
		if (p.certV == "") != (p.keyV == "") {
			errs = append(errs, fmt.Errorf("%s and %s: set both or neither", p.cert, p.key))
		}
	}
	if c.RTMPSAddr == "" {
		if c.RTMPSTLSCert != "" {
			errs = append(errs, errors.New("rtmps-tls-cert: set rtmps-addr too, or RTMPS stays off"))
		}
		return errs
	}
	if c.RTMPSTLSCert == "" && c.HTTPTLSCert == "" {
		errs = append(errs, errors.New("rtmps-addr: needs a certificate: set rtmps-tls-cert and rtmps-tls-key (or http-tls-cert and http-tls-key)"))
	}
	return errs
}

// rtmpsPair is the certificate and key of the RTMPS listener.
func (c Config) rtmpsPair() (cert, key string) {
	if c.RTMPSTLSCert != "" {
		return c.RTMPSTLSCert, c.RTMPSTLSKey
	}
	return c.HTTPTLSCert, c.HTTPTLSKey
}

// rtspPulls are the cameras to pull, sorted by stream name.
func (c Config) rtspPulls() []rtsp.Pull {
	pulls := make([]rtsp.Pull, 0, len(c.RTSPPulls))
	for _, name := range sortedKeys(c.RTSPPulls) {
		pulls = append(pulls, rtsp.Pull{Name: name, URL: c.RTSPPulls[name]})
	}
	return pulls
}

// originSecrets splits origin-secret into its secrets.
func (c Config) originSecrets() []string {
	var out []string
	for _, s := range strings.Split(c.OriginSecret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkPassphrase applies SRT's rule: empty (no encryption) or 10 to 79
// characters.
func checkPassphrase(p string) error {
	if p != "" && (len(p) < 10 || len(p) > 79) {
		return fmt.Errorf("must be 10 to 79 characters, got %d", len(p))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
		if o.isMap {
			fmt.Fprintf(w, "        config file: a mapping, e.g. %s: {NAME: %s}\n", o.name, strings.TrimPrefix(o.arg, "NAME="))
		}
	}
}
