package battery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/liveorigin/liveorigin/internal/ffpublish"
)

// Target is the liveorigin under test.
type Target struct {
	// Admin is the admin listener (host:port): /api/v1/server names the
	// other listeners, /metrics and /debug/pprof give the runtime figures.
	Admin string
	// AdminToken is sent as a bearer token to the admin API, if set.
	AdminToken string
	// Alive, when set, reports whether the server process is still well
	// (a subprocess: not exited, no "panic:" on its stderr). It is asked
	// after every case.
	Alive func() error
}

// Options configure a run.
type Options struct {
	// Short runs every case with smaller counts (fewer half-open
	// connections, shorter bursts), for `go test`.
	Short bool
	// FFmpeg is the ffmpeg executable; default "ffmpeg".
	FFmpeg string
	// Cases, when set, runs only the cases whose name contains one of
	// these substrings.
	Cases []string
	// HalfOpen is the number of half-open connections held on each TCP
	// port (RTMP, RTSP, HTTP); default 1000, 700 in Short mode.
	HalfOpen int
	// GoroutineSlack is how many goroutines above the baseline count as
	// back to it; default 25.
	GoroutineSlack int
	// HeapSlack is how many bytes of heap in use above the baseline count
	// as back to it, the media the streams hold left out on both sides;
	// default 12 MiB. (A first run against a fresh server ends 4 to 6 MiB
	// above its baseline: first use and fragmentation. Runs repeated
	// against the same server add under 1 MiB each.)
	HeapSlack int64
	// Settle bounds the wait, after the cases, for the server to forget
	// their streams (reconnect grace, then the window and its retention)
	// and for goroutines and heap to come back; default 150s.
	Settle time.Duration
	// StallAfter is how long the clean viewer may see no new segment in a
	// media playlist before that is an error; default three target
	// durations.
	StallAfter time.Duration
	// Logger receives progress; default: discarded.
	Logger *slog.Logger
	// Status receives a line per case as it ends; default: none.
	Status io.Writer
}

func (o Options) withDefaults() Options {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.HalfOpen <= 0 {
		o.HalfOpen = 1000
		if o.Short {
			o.HalfOpen = 700
		}
	}
	if o.GoroutineSlack <= 0 {
		o.GoroutineSlack = 25
	}
	if o.HeapSlack <= 0 {
		o.HeapSlack = 12 << 20
	}
	if o.Settle <= 0 {
		o.Settle = 150 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Status == nil {
		o.Status = io.Discard
	}
	return o
}

// cleanPrefix starts the clean stream's name; a random suffix keeps one
// run from meeting the stream an earlier run left (ended, or replaced
// within the reconnect grace).
const cleanPrefix = "clean-"

// env is what a case gets: the server's addresses and the run's shared
// pieces.
type env struct {
	rtmp, srt, rtsp, http string // host:port
	clean                 string // the clean stream's name
	admin                 *adminClient
	opts                  Options
	samples               *samples
	log                   *slog.Logger
}

// Run runs the battery against target. An error means the setup failed
// (the admin API did not answer, the clean stream did not start) and
// there is no report.
func Run(ctx context.Context, target Target, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	admin := newAdminClient(target.Admin, target.AdminToken)
	listeners, err := admin.listeners(ctx)
	if err != nil {
		return nil, err
	}
	e := &env{admin: admin, opts: opts, log: opts.Logger, clean: fmt.Sprintf("%s%08x", cleanPrefix, rand.Uint32())}
	host, _, err := net.SplitHostPort(target.Admin)
	if err != nil {
		return nil, fmt.Errorf("admin address %q: %w", target.Admin, err)
	}
	for _, l := range []struct {
		name string
		to   *string
	}{{"rtmp", &e.rtmp}, {"srt", &e.srt}, {"rtsp", &e.rtsp}, {"http", &e.http}} {
		addr, ok := listeners[l.name]
		if !ok || addr == "" {
			return nil, fmt.Errorf("/api/v1/server lists no %s listener", l.name)
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener %q: %w", l.name, addr, err)
		}
		// The listeners are reached where the admin API is (they may be
		// bound to every address).
		*l.to = net.JoinHostPort(host, port)
	}
	if e.samples, err = makeSamples(ctx, opts.FFmpeg); err != nil {
		return nil, err
	}

	alive := func() error {
		if target.Alive != nil {
			if err := target.Alive(); err != nil {
				return err
			}
		}
		return nil
	}
	rep := &Report{Started: time.Now()}

	// The clean stream and its viewer.
	// The clean stream: 640x360 (320x240 in Short mode, for a machine
	// busy with other tests), a key frame a second.
	size := "640x360"
	if opts.Short {
		size = "320x240"
	}
	pub, err := ffpublish.Start(opts.FFmpeg, ffpublish.Options{Size: size, GOP: 30}, "rtmp://"+e.rtmp+"/live/"+e.clean)
	if err != nil {
		return nil, err
	}
	defer pub.Stop()
	viewerCtx, stopViewer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopViewer()
	v := newViewer("http://"+e.http+"/live/"+e.clean+"/", opts.StallAfter, opts.Logger)
	viewerDone := make(chan struct{})
	go func() {
		defer close(viewerDone)
		v.run(viewerCtx)
	}()
	defer func() { stopViewer(); <-viewerDone }()
	fmt.Fprintf(opts.Status, "battery: clean stream published to rtmp://%s/live/%s, played from http://%s/live/%s/index.m3u8\n", e.rtmp, e.clean, e.http, e.clean)
	if err := v.waitPlaying(ctx, pub, 45*time.Second); err != nil {
		return nil, err
	}

	base, err := admin.runtime(ctx, true)
	if err != nil {
		return nil, err
	}
	rep.Baseline = base
	fmt.Fprintf(opts.Status, "battery: baseline %d goroutines, %s heap in use of which %s media held\n", base.Goroutines, mib(base.HeapInuse), mib(base.Held))

	for _, c := range allCases() {
		if !selected(c.name, opts.Cases) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r := runCase(ctx, e, c)
		if err := alive(); err != nil {
			r.fail(fmt.Errorf("server not alive after the case: %w", err))
		}
		if err := v.err(); err != nil && r.Err == nil {
			r.fail(fmt.Errorf("the clean viewer saw an error during the case: %w", err))
		}
		rep.Cases = append(rep.Cases, r)
		fmt.Fprintln(opts.Status, r.line())
		if target.Alive != nil && target.Alive() != nil {
			break // nothing more to learn from a dead server
		}
	}

	// Back to baseline? The cases' streams are forgotten after the
	// reconnect grace, the window and its retention.
	fmt.Fprintf(opts.Status, "battery: waiting (at most %v) for the cases' streams to be forgotten and goroutines and heap to come back\n", opts.Settle)
	rep.After, rep.Settled = settle(ctx, admin, base, opts)
	if err := alive(); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("server not alive: %v", err))
	}
	select {
	case <-pub.Done():
		rep.Problems = append(rep.Problems, "the clean stream's publisher: "+pub.Exited().Error())
	default:
	}
	rep.Viewer = v.stats()
	if errs := v.errs(); len(errs) > 0 {
		rep.Problems = append(rep.Problems, "clean viewer: "+strings.Join(errs, "; "))
	}
	if rep.Viewer.Segments == 0 {
		rep.Problems = append(rep.Problems, "clean viewer fetched no segment")
	}
	if left := caseStreams(rep.After); len(left) > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("the server still holds the cases' streams %v after them: %s",
			opts.Settle, strings.Join(left, ", ")))
	}
	if rep.After.Goroutines > base.Goroutines+opts.GoroutineSlack {
		rep.Problems = append(rep.Problems, fmt.Sprintf("goroutines did not return to baseline within %v: %d, baseline %d (slack %d)",
			opts.Settle, rep.After.Goroutines, base.Goroutines, opts.GoroutineSlack))
	}
	if rep.After.Overhead() > base.Overhead()+opts.HeapSlack {
		rep.Problems = append(rep.Problems, fmt.Sprintf("heap in use beyond the media held did not return to baseline within %v: %s, baseline %s (slack %s)",
			opts.Settle, mib(rep.After.Overhead()), mib(base.Overhead()), mib(opts.HeapSlack)))
	}
	rep.Ended = time.Now()
	return rep, nil
}

func selected(name string, filters []string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if strings.Contains(name, f) {
			return true
		}
	}
	return false
}

// runCase runs one case under its own deadline and catches what it
// reports.
func runCase(ctx context.Context, e *env, c hostileCase) CaseResult {
	timeout := c.timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	before, _ := e.admin.counters(cctx)
	start := time.Now()
	err := c.run(cctx, e)
	r := CaseResult{Name: c.name, Duration: time.Since(start), Err: err}
	if err == nil && cctx.Err() != nil {
		r.Err = fmt.Errorf("did not finish within %v", timeout)
	}
	if after, aerr := e.admin.counters(ctx); aerr == nil {
		r.Counted = diffCounters(before, after)
	}
	return r
}

// caseStreams are the streams held that the cases published: all but
// the clean stream and those held at the baseline.
func caseStreams(rt Runtime) []string {
	var out []string
	for _, name := range rt.Streams {
		if strings.HasPrefix(name, "battery-") {
			out = append(out, name)
		}
	}
	return out
}

// settle waits until the server has forgotten the cases' streams and the
// goroutines and heap are back within the slack of base, or opts.Settle
// has passed, and returns the last figures.
func settle(ctx context.Context, admin *adminClient, base Runtime, opts Options) (Runtime, time.Duration) {
	start := time.Now()
	deadline := time.NewTimer(opts.Settle)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last Runtime
	for {
		rt, err := admin.runtime(ctx, true)
		if err == nil {
			last = rt
			if len(caseStreams(rt)) == 0 && rt.Goroutines <= base.Goroutines+opts.GoroutineSlack && rt.Overhead() <= base.Overhead()+opts.HeapSlack {
				return rt, time.Since(start)
			}
		}
		select {
		case <-ctx.Done():
			return last, time.Since(start)
		case <-deadline.C:
			return last, time.Since(start)
		case <-tick.C:
		}
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
