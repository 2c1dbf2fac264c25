package limits

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The limits (label values of liveorigin_limit_hits_total).
const (
	Streams              = "streams"
	PublishersPerAddress = "publishers_per_address"
	IngestBitrate        = "ingest_bitrate"
	SegmentSize          = "segment_size"
	HTTPConnections      = "http_connections"
	HTTPHeaderSize       = "http_header_size"
	HTTPReadTimeout      = "http_read_timeout"
	HTTPWriteTimeout     = "http_write_timeout"
	ManifestRate         = "manifest_rate"
)

// names are all the limits: their series exist (at 0) from the start.
var names = []string{Streams, PublishersPerAddress, IngestBitrate, SegmentSize,
	HTTPConnections, HTTPHeaderSize, HTTPReadTimeout, HTTPWriteTimeout, ManifestRate}

// logEvery is the shortest interval between two log lines of one limit: a
// flood (a connection storm, a client hammering a playlist) is counted in
// full but logged once per interval, with the number of hits not logged.
const logEvery = time.Second

// Hits counts and logs the limits hit.
type Hits struct {
	log     *slog.Logger
	now     func() time.Time
	counter *prometheus.CounterVec
	byName  map[string]prometheus.Counter

	changed signal

	mu     sync.Mutex
	logged map[string]time.Time // last log line of each limit
	quiet  map[string]int       // hits since that line, not logged
}

// NewHits registers liveorigin_limit_hits_total on reg (nil: not
// registered) and logs to log (nil: discarded).
func NewHits(log *slog.Logger, reg prometheus.Registerer) *Hits {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hits{log: log, now: time.Now, byName: make(map[string]prometheus.Counter, len(names)),
		logged: make(map[string]time.Time), quiet: make(map[string]int)}
	h.counter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liveorigin_limit_hits_total",
		Help: "Times a configured limit was hit, by limit (docs/security.md, Limits).",
	}, []string{"limit"})
	for _, n := range names {
		h.byName[n] = h.counter.WithLabelValues(n)
	}
	if reg != nil {
		reg.MustRegister(h.counter)
	}
	return h
}

// Hit counts one hit of limit and logs msg with attrs at Warn (at most one
// line per limit per second; the line says how many were not logged).
func (h *Hits) Hit(limit, msg string, attrs ...slog.Attr) {
	h.byName[limit].Inc()
	h.changed.notify()
	now := h.now()
	h.mu.Lock()
	if last, ok := h.logged[limit]; ok && now.Sub(last) < logEvery {
		h.quiet[limit]++
		h.mu.Unlock()
		return
	}
	h.logged[limit] = now
	quiet := h.quiet[limit]
	h.quiet[limit] = 0
	h.mu.Unlock()
	attrs = append(attrs, slog.String("limit", limit))
	if quiet > 0 {
		attrs = append(attrs, slog.Int("not_logged", quiet))
	}
	h.log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// Await waits until limit has been hit n times, or ctx ends.
func (h *Hits) Await(ctx context.Context, limit string, n float64) error {
	for {
		changed := h.changed.C()
		if h.Count(limit) == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%s: %v hits, want %v: %w", limit, h.Count(limit), n, ctx.Err())
		}
	}
}

// Count is the number of hits of limit so far.
func (h *Hits) Count(limit string) float64 {
	c, ok := h.byName[limit]
	if !ok {
		return 0
	}
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
