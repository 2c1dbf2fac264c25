// Command liveorigin is a live-streaming origin: publishers push RTMP, the
// daemon packages CMAF once and serves HLS and DASH over HTTP.
//
// Run it with no arguments for the built-in defaults; liveorigin --help lists
// every option (flag, environment variable and config file key).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/liveorigin/liveorigin/origin"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, errs := loadConfig(args, getenv, stdout)
	if len(errs) == 1 && errors.Is(errs[0], errHelp) {
		return 0
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "liveorigin: config: %v\n", err)
		}
		return 2
	}
	level := new(slog.LevelVar) // a reload may change it
	log := newLogger(cfg, level, stderr)

	a, err := newApp(cfg, log)
	if err != nil {
		// One line per problem (errors.Join separates them with newlines).
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "liveorigin: %s\n", line)
		}
		return 2
	}
	// SIGHUP reloads the configuration: the same flags and environment,
	// the file read again. Caught from here on (its default ends the
	// process).
	a.enableReload(func() (Config, []error) { return loadConfig(args, getenv, io.Discard) }, level)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := a.listen(); err != nil {
		fmt.Fprintf(stderr, "liveorigin: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reloads := reloadOnSignal(ctx, hup, a.reloadConfig)
	err = a.serve(ctx)
	stop()
	<-reloads
	if err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// reloadOnSignal calls reload for each signal on sigs (SIGHUP) until ctx
// ends; reload logs what it did. The returned channel is closed when it
// has stopped.
func reloadOnSignal(ctx context.Context, sigs <-chan os.Signal, reload func() (origin.ReloadResult, error)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
				_, _ = reload() // a refusal is logged, one line per problem
			}
		}
	}()
	return done
}

// newLogger makes the process logger: text on a terminal, JSON otherwise.
// Its level is level, set here from the configuration (a reload changes
// it).
func newLogger(cfg Config, level *slog.LevelVar, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.LogLevel))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
