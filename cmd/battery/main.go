// Command battery is liveorigin's hostile-input battery: it runs every
// hostile publisher and client we could devise against a liveorigin while
// one clean stream is published and played, and checks that the server
// took no harm (internal/battery says what it runs and checks).
//
//	go run ./cmd/battery -liveorigin bin/liveorigin   # starts the server itself (make battery)
//	go run ./cmd/battery -admin 127.0.0.1:9997        # against a running server
//
// Started by the battery, liveorigin listens on 127.0.0.1 ports the OS
// picks; arguments after -- are passed to it. It fails when liveorigin
// exits or writes "panic:" or "fatal error:" to its stderr. Pointed at a
// running server, the battery needs its admin listener (the other
// listeners are read from /api/v1/server) and ffmpeg.
//
// It prints one line per case, then the table and a summary line, and
// exits 1 when a case or a check failed, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/liveorigin/liveorigin/internal/battery"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("battery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binary := fs.String("liveorigin", "", "start this liveorigin `executable` on loopback ports and run the battery against it")
	admin := fs.String("admin", "", "run against the liveorigin whose admin listener is at `host:port`")
	token := fs.String("admin-token", os.Getenv("LIVEORIGIN_ADMIN_TOKEN"), "the admin API bearer token, if the server has one (env LIVEORIGIN_ADMIN_TOKEN)")
	var opts battery.Options
	fs.BoolVar(&opts.Short, "short", false, "smaller counts and bursts (what `go test` runs)")
	fs.StringVar(&opts.FFmpeg, "ffmpeg", "ffmpeg", "the ffmpeg executable")
	cases := fs.String("cases", "", "run only the cases whose names contain one of these comma-separated substrings")
	fs.IntVar(&opts.HalfOpen, "half-open", 0, "half-open connections held on each TCP port (default 1000, 700 with -short)")
	fs.IntVar(&opts.GoroutineSlack, "goroutine-slack", 0, "goroutines above the baseline that count as back to it (default 25)")
	heapSlack := fs.Int64("heap-slack-mib", 0, "MiB of heap in use (beyond the media the streams hold) above the baseline that count as back to it (default 12)")
	fs.DurationVar(&opts.Settle, "settle", 0, "how long the server may take, after the cases, to forget their streams and bring goroutines and heap back (default 150s)")
	fs.DurationVar(&opts.StallAfter, "stall-after", 0, "how long the clean viewer may see no new segment before that is an error (default three target durations)")
	verbose := fs.Bool("v", false, "log progress, and the server's log when the battery started it")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: battery (-liveorigin PATH [-- liveorigin flags] | -admin HOST:PORT) [flags]\n\nRuns liveorigin's hostile-input battery (needs ffmpeg).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (*binary == "") == (*admin == "") {
		fmt.Fprintln(stderr, "battery: give one of -liveorigin and -admin")
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 && *binary == "" {
		fmt.Fprintf(stderr, "battery: unexpected arguments %q (liveorigin flags go after -- with -liveorigin)\n", fs.Args())
		return 2
	}
	if *cases != "" {
		opts.Cases = strings.Split(*cases, ",")
	}
	opts.HeapSlack = *heapSlack << 20
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts.Status = stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	target := battery.Target{Admin: *admin, AdminToken: *token}
	var srv *server
	if *binary != "" {
		var serverLog io.Writer = io.Discard
		if *verbose {
			serverLog = stderr
		}
		var err error
		if srv, err = startServer(ctx, *binary, fs.Args(), serverLog); err != nil {
			fmt.Fprintf(stderr, "battery: %v\n", err)
			return 1
		}
		target.Admin, target.Alive = srv.admin, srv.alive
	}
	rep, err := battery.Run(ctx, target, opts)
	code := 0
	if srv != nil {
		// A clean stop is part of the pass: the server must shut down
		// gracefully after all that.
		if serr := srv.stop(30 * time.Second); serr != nil {
			fmt.Fprintf(stderr, "battery: %v\n", serr)
			if rep != nil {
				rep.Problems = append(rep.Problems, serr.Error())
			}
			code = 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "battery: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "battery: %v\n", err)
		return 1
	}
	if !rep.Passed() {
		code = 1
	}
	return code
}
