package packager

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Options configure a Registry. The zero value of every field selects its
// default.
type Options struct {
	// SegmentTarget is the segment target duration; default 2s. Valid:
	// 500ms..20s. Segments are cut at the first key frame at or after it.
	SegmentTarget time.Duration
	// Window is the playlist window; default 30s. The effective window is
	// max(Window, 3*TargetDuration) (rfc8216bis 6.2.2).
	Window time.Duration
	// ReconnectGrace is how long a stream waits for its publisher to return
	// before it ends; default 10s.
	ReconnectGrace time.Duration
	// MaxTargetDuration caps the HLS EXT-X-TARGETDURATION; default 10s. It
	// must be at least SegmentTarget rounded up to whole seconds; it is used
	// in whole seconds (rounded down).
	MaxTargetDuration time.Duration
	// PartsOff turns LL-HLS parts (and LL-DASH chunks) off; default false:
	// parts on. With parts off every segment is one CMAF fragment and
	// playlists carry no low-latency tags.
	PartsOff bool
	// PartTarget is the part target duration: every segment is cut into
	// CMAF chunks of at most this length, each one an LL-HLS partial
	// segment; default 1/3 s (at most SegmentTarget/2). Valid: 100ms..1s
	// and at most SegmentTarget/2. It is used rounded up to whole
	// milliseconds, the precision of EXT-X-PART-INF.
	PartTarget time.Duration
	// MaxStreams is the number of streams held at once (live, waiting for a
	// reconnect, or ended but still readable); default 100. Publish beyond it
	// fails with ErrTooManyStreams.
	MaxStreams int
	// MaxSegmentBytes bounds the media of one track's segment in progress;
	// default 64 MiB. A session whose segment grows beyond it is ended with
	// ErrSegmentTooLarge (a cut between key frames would only hide a
	// misconfigured encoder, and the window would hold as much).
	MaxSegmentBytes int
	// Now is the wall clock; default time.Now. Every wall-clock decision
	// (timeline anchoring, grace, removal) uses it, so tests inject a fake.
	Now func() time.Time
	// Logger receives the package's logs; default slog.Default().
	Logger *slog.Logger
	// Registerer receives the package's metrics; default: none (a fresh
	// prometheus.NewRegistry() that nobody scrapes).
	Registerer prometheus.Registerer
	// TracerProvider, when set, traces each publish session (a span from
	// connect to close) and each segment produced (a short child span:
	// from the access unit that closed it to its appearing in the
	// playlist). nil: no tracing, and no cost.
	TracerProvider trace.TracerProvider
	// OnStreamEvent, when set, is told when a fresh stream starts under a
	// name and when a stream ends (the CDN purge triggers). It is called
	// with the stream's lock held: it must return at once (enqueue, never
	// block) and must not call the Registry.
	OnStreamEvent func(name string, ev StreamEvent)

	// manualTick disables the Registry's ticker goroutine: tests call tick
	// themselves so that timer decisions are deterministic.
	manualTick bool
}

const (
	defaultSegmentTarget     = 2 * time.Second
	defaultWindow            = 30 * time.Second
	defaultReconnectGrace    = 10 * time.Second
	defaultMaxTargetDuration = 10 * time.Second
	defaultMaxStreams        = 100
	defaultMaxSegmentBytes   = 64 << 20
	defaultPartTarget        = time.Second / 3

	minPartTarget = 100 * time.Millisecond
	maxPartTarget = time.Second

	minSegmentTarget = 500 * time.Millisecond
	maxSegmentTarget = 20 * time.Second
)

// Effective returns o as the Registry uses it: every zero field set to its
// default (the part target a zero PartTarget picks, for instance).
func (o Options) Effective() Options { return o.withDefaults() }

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.SegmentTarget == 0 {
		o.SegmentTarget = defaultSegmentTarget
	}
	if o.Window == 0 {
		o.Window = defaultWindow
	}
	if o.ReconnectGrace == 0 {
		o.ReconnectGrace = defaultReconnectGrace
	}
	if o.MaxTargetDuration == 0 {
		o.MaxTargetDuration = defaultMaxTargetDuration
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = defaultMaxStreams
	}
	if o.MaxSegmentBytes == 0 {
		o.MaxSegmentBytes = defaultMaxSegmentBytes
	}
	if o.PartTarget == 0 && !o.PartsOff {
		o.PartTarget = min(defaultPartTarget, o.SegmentTarget/2)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	return o
}

// Validate checks the options (after defaults) and returns one error per
// problem; each message starts with the option's name.
func (o Options) Validate() []error {
	d := o.withDefaults()
	var errs []error
	switch {
	case d.SegmentTarget < minSegmentTarget:
		errs = append(errs, fmt.Errorf("segment-target: %v is below the %v minimum", d.SegmentTarget, minSegmentTarget))
	case d.SegmentTarget > maxSegmentTarget:
		errs = append(errs, fmt.Errorf("segment-target: %v is above the %v maximum", d.SegmentTarget, maxSegmentTarget))
	}
	if d.Window < 0 {
		errs = append(errs, fmt.Errorf("window: %v is negative", d.Window))
	}
	if d.ReconnectGrace < 0 {
		errs = append(errs, fmt.Errorf("reconnect-grace: %v is negative", d.ReconnectGrace))
	}
	if d.MaxTargetDuration < 0 {
		errs = append(errs, fmt.Errorf("max-target-duration: %v is negative", d.MaxTargetDuration))
	} else if min := ceilSeconds(d.SegmentTarget); d.MaxTargetDuration.Truncate(time.Second) < min {
		errs = append(errs, fmt.Errorf("max-target-duration: %v is below the segment target rounded up to whole seconds (%v)",
			d.MaxTargetDuration, min))
	}
	if d.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("max-streams: %d is negative", d.MaxStreams))
	}
	if d.MaxSegmentBytes < 0 {
		errs = append(errs, fmt.Errorf("max-segment-size: %d is negative", d.MaxSegmentBytes))
	}
	// The default part target always fits a valid segment target; an
	// explicit one is checked (rfc8216bis 4.4.3.7: parts are a fraction of
	// a segment, and the Advance Part Limit assumes parts of at most 1 s).
	if !d.PartsOff && o.PartTarget != 0 {
		switch {
		case d.PartTarget < minPartTarget:
			errs = append(errs, fmt.Errorf("part-target: %v is below the %v minimum", d.PartTarget, minPartTarget))
		case d.PartTarget > maxPartTarget:
			errs = append(errs, fmt.Errorf("part-target: %v is above the %v maximum", d.PartTarget, maxPartTarget))
		case d.PartTarget > d.SegmentTarget/2:
			errs = append(errs, fmt.Errorf("part-target: %v is more than half the %v segment target", d.PartTarget, d.SegmentTarget))
		}
	}
	return errs
}

// ceilSeconds rounds d up to whole seconds (HLS target durations are
// integers, rfc8216bis 4.4.3.1).
func ceilSeconds(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		return d - r + time.Second
	}
	return d
}
