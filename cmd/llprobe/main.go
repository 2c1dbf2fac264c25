// Command llprobe measures liveorigin's LL-HLS delivery latency on this
// machine.
//
// It runs liveorigin's RTMP ingest, packager and origin in-process on
// 127.0.0.1, publishes a generated stream into it with ffmpeg (a 30 fps
// test pattern and a tone, in real time), and plays it with many
// lightweight LL-HLS clients (preload-hinted parts, blocking playlist
// reloads) plus one real third-party client, bluenviron/gohlslib. It
// reports, per part and client, the time from the arrival at ingest of the
// part's last frame to the client having the whole part (p50/p90/p99/max),
// and how far behind the live edge gohlslib plays.
//
//	go run ./cmd/llprobe [-clients 200] [-duration 30s] [-part-target 333ms] [-json]
//
// It exits 1 when no part delivery was measured or gohlslib failed (could
// not play, or reported decode errors), 2 on bad flags. A missed latency
// target is reported, not an error: the probe measures. docs/low-latency.md
// ("Measure") explains the figures.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("llprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.IntVar(&cfg.Clients, "clients", 200, "number of lightweight LL-HLS clients")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the clients play")
	fs.DurationVar(&cfg.PartTarget, "part-target", time.Second/3, "the packager's part target (100ms..1s)")
	fs.DurationVar(&cfg.Settle, "settle", 5*time.Second, "the clients play this long before they are measured (part deliveries; gohlslib's distance from the live edge)")
	fs.StringVar(&cfg.FFmpeg, "ffmpeg", "ffmpeg", "the ffmpeg executable that publishes the stream")
	fs.StringVar(&cfg.Size, "size", "1280x720", "video size of the generated stream")
	fs.IntVar(&cfg.Kbps, "kbps", 2500, "video bitrate of the generated stream in kbit/s (2500: OBS's default); -1: x264's default quality")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of the summary")
	verbose := fs.Bool("v", false, "log the in-process server (info level; warnings are always logged)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (server and clients) to `file`")
	traceFile := fs.String("trace", "", "write an execution trace of the measurement to `file` (go tool trace)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: llprobe [flags]\n\nMeasures LL-HLS part delivery latency of an in-process liveorigin (needs ffmpeg).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "llprobe: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Status = stderr
	if _, err := cfg.withDefaults(); err != nil {
		fmt.Fprintf(stderr, "llprobe: %v\n", err)
		return 2
	}

	stopProfiles, err := startProfiles(*cpuProfile, *traceFile)
	if err != nil {
		fmt.Fprintf(stderr, "llprobe: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The first Ctrl-C ends the measurement (the report covers what was
	// measured); a second one kills the probe.
	context.AfterFunc(ctx, stop)
	r, err := Run(ctx, cfg)
	if perr := stopProfiles(); perr != nil {
		fmt.Fprintf(stderr, "llprobe: %v\n", perr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "llprobe: %v\n", err)
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "llprobe: %v\n", err)
		return 1
	}
	if err := r.Failed(); err != nil {
		fmt.Fprintf(stderr, "llprobe: %v\n", err)
		return 1
	}
	return 0
}

// startProfiles starts the CPU profile and the execution trace asked for;
// the function it returns stops them and closes their files.
func startProfiles(cpuProfile, traceFile string) (func() error, error) {
	var stops []func() error
	stopAll := func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return f.Close() })
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			_ = stopAll()
			return nil, fmt.Errorf("trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			_ = f.Close()
			_ = stopAll()
			return nil, fmt.Errorf("trace: %w", err)
		}
		stops = append(stops, func() error { trace.Stop(); return f.Close() })
	}
	return stopAll, nil
}
