package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/ingest/rtmp"
	"github.com/liveorigin/liveorigin/internal/ffpublish"
	"github.com/liveorigin/liveorigin/origin"
	"github.com/liveorigin/liveorigin/packager"
)

// Config configures a probe run.
type Config struct {
	// Clients is the number of lightweight LL-HLS viewers; at least 1.
	Clients int
	// Duration is how long the clients play (the measurement).
	Duration time.Duration
	// PartTarget is the packager's part target; 0 selects its default
	// (1/3 s).
	PartTarget time.Duration
	// Settle is how long the clients play before they are measured: the
	// gohlslib client's distance from the live edge (it starts at the
	// edge, then settles) and the part deliveries (the clients all connect
	// at once: the first parts' deliveries are reported apart, as the
	// warm-up).
	Settle time.Duration
	// FFmpeg is the ffmpeg executable; default "ffmpeg".
	FFmpeg string
	// Size is the video size of the generated stream; default 1280x720.
	Size string
	// Kbps is the video bitrate of the generated stream; default 2500
	// (OBS's default); negative leaves x264 at its default quality (about
	// 4.5 Mbit/s for the 720p test pattern).
	Kbps int
	// Logger receives the in-process server's logs; default: discarded.
	Logger *slog.Logger
	// Status receives a line at each stage of the run; default: none.
	Status io.Writer

	// stopWhen, when set (tests), ends the measurement as soon as it holds
	// (it is asked after each measured delivery and gohlslib sample), so a
	// test waits for what it needs rather than for a fixed time.
	stopWhen func(progress) bool
}

// progress is what stopWhen sees.
type progress struct {
	measured  int   // part deliveries measured
	video     int64 // gohlslib video samples
	distances int   // gohlslib distances taken
}

// streamName is the name the probe publishes under.
const streamName = "probe"

// startTimeout bounds the wait for the stream's first segment on every
// track after ffmpeg starts.
const startTimeout = 30 * time.Second

func (c Config) withDefaults() (Config, error) {
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.Kbps == 0 {
		c.Kbps = 2500
	}
	if c.Size == "" {
		c.Size = "1280x720"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Status == nil {
		c.Status = io.Discard
	}
	var errs []error
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("clients: %d; at least 1", c.Clients))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: %v; must be positive", c.Duration))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("settle: %v is negative", c.Settle))
	}
	var w, h int
	if _, err := fmt.Sscanf(c.Size, "%dx%d", &w, &h); err != nil || w < 16 || h < 16 || w%2 != 0 || h%2 != 0 || fmt.Sprintf("%dx%d", w, h) != c.Size {
		errs = append(errs, fmt.Errorf("size: %q; want WIDTHxHEIGHT with even numbers, e.g. 1280x720", c.Size))
	}
	popts := packager.Options{PartTarget: c.PartTarget}
	errs = append(errs, popts.Validate()...)
	return c, errors.Join(errs...)
}

// Run runs liveorigin's ingest, packager and origin in-process on loopback,
// publishes a generated stream into it with ffmpeg, plays it with
// cfg.Clients viewers and one gohlslib client for cfg.Duration, and reports
// what they measured. Cancelling ctx ends the measurement early; the report
// then covers what was measured so far. An error means there is no report
// (the setup failed); a report whose Failed() is not nil measured nothing
// useful.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	events := make(chan struct{}, 1)
	notify := func() {
		select {
		case events <- struct{}{}:
		default:
		}
	}
	arr := newArrivals()
	if cfg.stopWhen != nil {
		arr.notify = notify
	}

	// The server: liveorigin's own pieces, wired as cmd/liveorigin does.
	var st stack
	defer st.unwind()
	registry, err := packager.NewRegistry(packager.Options{PartTarget: cfg.PartTarget, Logger: log})
	if err != nil {
		return nil, err
	}
	st.push(registry.Close)
	rs, err := rtmp.New(rtmp.Options{Addr: "127.0.0.1:0", Publisher: newTimedPublisher(registry, registry, arr), Logger: log})
	if err != nil {
		return nil, err
	}
	if err := rs.Listen(); err != nil {
		return nil, err
	}
	var serving sync.WaitGroup
	st.push(serving.Wait)
	serving.Go(func() {
		if err := rs.Serve(); err != nil && !errors.Is(err, rtmp.ErrServerClosed) {
			log.Error("rtmp serve", "err", err)
		}
	})
	st.push(func() { _ = rs.Close() })
	o, err := origin.New(origin.Options{Streams: registry, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{
		Handler:           timeWrites(o.Handler(), arr),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serving.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http serve", "err", err)
		}
	})
	st.push(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	})
	base := "http://" + ln.Addr().String() + "/" + ingest.App + "/" + streamName + "/"

	// The publisher.
	rtmpURL := "rtmp://" + rs.Addr().String() + "/" + ingest.App + "/" + streamName
	ff, err := ffpublish.Start(cfg.FFmpeg, ffpublish.Options{
		Size: cfg.Size, GOP: 60, Kbps: max(cfg.Kbps, 0),
		// The encoder runs elsewhere in production: here it takes as
		// little of the machine under test as it can.
		Preset: "ultrafast",
	}, rtmpURL)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Status, "llprobe: ffmpeg publishing a %s test pattern (%s) to %s\n", cfg.Size, bitrateText(cfg.Kbps), rtmpURL)
	st.push(ff.Stop)
	if err := waitForStream(ctx, registry, arr, ff); err != nil {
		return nil, err
	}

	// The clients.
	fmt.Fprintf(cfg.Status, "llprobe: %d clients and gohlslib playing %s for %v\n", cfg.Clients, base+"index.m3u8", cfg.Duration)
	playlistURL, err := url.Parse(base + "v0.m3u8")
	if err != nil {
		return nil, err
	}
	verrs := newViewerErrors()
	var partBytes, partCount atomic.Int64
	vctx, stopViewers := context.WithCancel(context.Background())
	var viewers sync.WaitGroup
	st.push(func() {
		stopViewers()
		viewers.Wait()
	})
	start := time.Now()
	arr.measureFrom(start.Add(cfg.Settle))
	for i := range cfg.Clients {
		v := &viewer{id: i, http: newRawClient(playlistURL.Host), playlist: playlistURL, arrivals: arr, errors: verrs,
			onPart: func(n int) { partBytes.Add(int64(n)); partCount.Add(1) }}
		viewers.Go(func() {
			defer v.http.close()
			v.run(vctx)
		})
	}
	var playerNotify func()
	if cfg.stopWhen != nil {
		playerNotify = notify
	}
	pl, err := startPlayer(base+"index.m3u8", start.Add(cfg.Settle), playerNotify)
	if err != nil {
		return nil, fmt.Errorf("gohlslib: %w", err)
	}
	st.push(func() { _ = pl.stop() })

	// The measurement.
	timer := time.NewTimer(cfg.Duration)
	defer timer.Stop()
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(cfg.Status, "llprobe: interrupted after %v\n", time.Since(start).Round(time.Millisecond))
			break wait
		case <-timer.C:
			break wait
		case <-ff.Done():
			runErr = ff.Exited()
			break wait
		case <-pl.done:
			break wait // gohlslib stopped on its own: the run has failed
		case <-events:
			distances, _ := pl.result()
			if cfg.stopWhen(progress{measured: arr.measured(), video: pl.video.Load(), distances: len(distances)}) {
				break wait
			}
		}
	}
	elapsed := time.Since(start)
	partTarget := time.Duration(0)
	if tl, err := registry.Timeline(streamName); err == nil {
		partTarget = tl.PartTarget // as advertised (it may have grown for the frame rate)
	}

	// Stop in order: the players, then the publisher, then the server.
	playerErr := pl.stop()
	st.unwind()
	if runErr != nil {
		return nil, runErr
	}

	r := &Report{
		CPUs:         runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		Clients:      cfg.Clients,
		DurationS:    elapsed.Seconds(),
		PartTargetMS: ms(partTarget),
		Target:       Target{P99MS: ms(targetP99)},
	}
	m := arr.result()
	lat := m.latencies
	slices.Sort(lat)
	slices.Sort(m.firstByte)
	slices.Sort(m.warmup)
	slices.Sort(m.written)
	slices.Sort(m.packaging)
	slices.Sort(m.offsets)
	r.IngestOffset = IngestOffset{
		Frames: len(m.offsets),
		P50MS:  ms(quantile(m.offsets, 0.5)), MinMS: ms(quantile(m.offsets, 0)), MaxMS: ms(quantile(m.offsets, 1)),
	}
	r.PartsPublished = m.parts
	r.Delivery = Delivery{
		Measured: len(lat),
		P50MS:    ms(quantile(lat, 0.50)), P90MS: ms(quantile(lat, 0.90)),
		P99MS: ms(quantile(lat, 0.99)), MaxMS: ms(quantile(lat, 1)),
		FirstByteP50MS: ms(quantile(m.firstByte, 0.50)), FirstByteP99MS: ms(quantile(m.firstByte, 0.99)),
		WrittenP50MS: ms(quantile(m.written, 0.50)), WrittenP99MS: ms(quantile(m.written, 0.99)),
		PackagingP50MS: ms(quantile(m.packaging, 0.50)), PackagingP99MS: ms(quantile(m.packaging, 0.99)),
		WarmupMeasured: len(m.warmup), WarmupP99MS: ms(quantile(m.warmup, 0.99)),
		AskedAfterArrival: m.late,
		Unmatched:         m.unmatched,
	}
	if n := partCount.Load(); n > 0 {
		r.Delivery.PartBytesAvg = int(partBytes.Load() / n)
	}
	r.Target.Met = len(lat) > 0 && quantile(lat, 0.99) < targetP99
	r.ClientErrors = verrs.report()
	dist, decodeMsgs := pl.result()
	slices.Sort(dist)
	r.Gohlslib = Player{
		VideoSamples:        pl.video.Load(),
		AudioSamples:        pl.audio.Load(),
		Parts:               pl.parts.Load(),
		DistanceSamples:     len(dist),
		DistanceP50MS:       ms(quantile(dist, 0.50)),
		DistanceP99MS:       ms(quantile(dist, 0.99)),
		DistanceMaxMS:       ms(quantile(dist, 1)),
		BehindIngestP50MS:   ms(quantile(dist, 0.5) - quantile(m.offsets, 0.5)),
		DecodeErrors:        pl.decodeErrs.Load(),
		DecodeErrorMessages: decodeMsgs,
	}
	if playerErr != nil {
		r.Gohlslib.Error = playerErr.Error()
	}
	r.Gohlslib.OK = playerErr == nil && r.Gohlslib.DecodeErrors == 0 && r.Gohlslib.VideoSamples > 0
	return r, nil
}

// waitForStream waits until the stream has its first part recorded and a
// segment on every track (so the multivariant playlist, which states the
// bandwidths, can be rendered), waking on each change of the timeline.
func waitForStream(ctx context.Context, registry *packager.Registry, arr *arrivals, ff *ffpublish.Publisher) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	timedOut := func() error {
		return fmt.Errorf("the stream had no segment on every track %v after ffmpeg started; ffmpeg says: %q",
			startTimeout, ff.Stderr())
	}
	select {
	case <-arr.first:
	case <-ff.Done():
		return ff.Exited()
	case <-ctx.Done():
		return ctx.Err()
	case <-deadline.C:
		return timedOut()
	}
	for {
		tl, err := registry.Timeline(streamName)
		if err != nil {
			return fmt.Errorf("stream %s: %w", streamName, err)
		}
		ready := len(tl.Tracks) > 0
		for _, tt := range tl.Tracks {
			ready = ready && len(tt.Segments) > 0
		}
		if ready {
			return nil
		}
		select {
		case <-tl.Changed():
		case <-ff.Done():
			return ff.Exited()
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return timedOut()
		}
	}
}

// timeWrites records when the origin has written each part it answers with
// 200 (viewers' and gohlslib's requests): the server's side of a delivery,
// before the client reads it.
func timeWrites(h http.Handler, arr *arrivals) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/part-") {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.status == http.StatusOK {
			arr.delivered(partKey(r.URL.Path), delivery{delivered: time.Now(), written: true})
		}
	})
}

// statusRecorder remembers a response's status.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// report summarises the viewers' errors.
func (e *viewerErrors) report() ClientErrors {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := ClientErrors{ByKind: map[string]int{}, Clients: len(e.byViewer)}
	for k, n := range e.byKind {
		r.ByKind[k] = n
		r.Total += n
	}
	for _, n := range e.byViewer {
		r.MaxPerClient = max(r.MaxPerClient, n)
	}
	if len(e.example) > 0 {
		r.Examples = map[string]string{}
		for k, m := range e.example {
			r.Examples[k] = m
		}
	}
	return r
}

// stack runs cleanups in reverse order, once.
type stack struct{ fns []func() }

func (s *stack) push(f func()) { s.fns = append(s.fns, f) }

func (s *stack) unwind() {
	for len(s.fns) > 0 {
		f := s.fns[len(s.fns)-1]
		s.fns = s.fns[:len(s.fns)-1]
		f()
	}
}

// bitrateText describes the generated stream's video bitrate.
func bitrateText(kbps int) string {
	if kbps <= 0 {
		return "x264's default quality"
	}
	return strconv.Itoa(kbps) + " kbit/s"
}
