package origin

import (
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/packager"
)

// Concurrent viewers, estimated two ways (docs/metrics.md, "Viewers"):
//
//   - sessions: the distinct playback session ids seen on a stream's
//     requests in the last 15 to 30 seconds. A player (or a CDN) names its
//     session with the _lo_sid query parameter or the X-Playback-Session-Id
//     header (Apple's players send it). The ids are counted in two
//     HyperLogLog sketches of 4096 registers (2 × 4 KiB a stream, about 1.6%
//     standard error, exact for a handful) that rotate every 15 s: memory is
//     bounded whatever the audience.
//   - request_rate: the media playlist requests of the stream's first
//     rendition (every viewer polls it, once per reload interval) and the
//     MPD requests, each weighted by the reload interval it stands for
//     (the target duration, the part target for a blocking reload, the
//     MPD's minimumUpdatePeriod), summed over the same window and divided
//     by its length: requests per second × reload interval.
//
// Behind a CDN that collapses requests, request_rate counts the caches
// that poll the origin, not the viewers; sessions counts the sessions
// whose requests reach the origin (cache misses and blocking reloads
// carry their ids if the CDN forwards them). Neither is exact; the docs say
// which to use when.

const (
	// viewerGeneration is how long one sketch collects: a session counts
	// for 15 to 30 s after its last request.
	viewerGeneration = 15 * time.Second
	hllPrecision     = 12
	hllRegisters     = 1 << hllPrecision

	// SessionIDParam and SessionIDHeader name a playback session.
	SessionIDParam  = "_lo_sid"
	SessionIDHeader = "X-Playback-Session-Id"
)

// ViewersEstimate is a stream's estimated concurrent viewers, by method.
type ViewersEstimate struct {
	// Sessions is the number of distinct playback session ids seen in the
	// last 15 to 30 s.
	Sessions int `json:"sessions"`
	// RequestRate is playlist requests per second × reload interval.
	RequestRate float64 `json:"request_rate"`
}

// viewers holds the per-stream estimators. Entries exist only for streams
// that answered a request; those the packager no longer holds are dropped
// when a new stream appears and at every scrape.
type viewers struct {
	streams Streams
	seed    maphash.Seed

	mu     sync.RWMutex
	byName map[string]*streamViewers
}

func newViewers(streams Streams) *viewers {
	return &viewers{streams: streams, seed: maphash.MakeSeed(), byName: make(map[string]*streamViewers)}
}

// streamViewers is one stream's estimator: two generations of everything.
type streamViewers struct {
	mu        sync.Mutex
	genStart  time.Time // start of the current generation
	prevLen   time.Duration
	cur, prev *[hllRegisters]uint8
	// curLoad and prevLoad are viewer-seconds: the sum of the reload
	// intervals of the counted playlist requests.
	curLoad, prevLoad float64
}

// record counts one answered request of a stream: its playback session id
// (when it has one) and the viewer-seconds it stands for (reload > 0 for
// the requests that request_rate counts).
func (v *viewers) record(name, sessionID string, reload time.Duration, now time.Time) {
	sv := v.get(name)
	if sv == nil {
		return
	}
	var h uint64
	if sessionID != "" {
		h = maphash.String(v.seed, sessionID)
	}
	sv.mu.Lock()
	sv.rotate(now)
	if sessionID != "" {
		hllAdd(sv.cur, h)
	}
	sv.curLoad += reload.Seconds()
	sv.mu.Unlock()
}

// get returns the stream's estimator, making it (and forgetting those of
// streams that are gone) the first time.
func (v *viewers) get(name string) *streamViewers {
	v.mu.RLock()
	sv := v.byName[name]
	v.mu.RUnlock()
	if sv != nil || name == "" {
		return sv
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if sv = v.byName[name]; sv != nil {
		return sv
	}
	v.sweepLocked()
	sv = &streamViewers{cur: new([hllRegisters]uint8), prev: new([hllRegisters]uint8)}
	v.byName[strings.Clone(name)] = sv
	return sv
}

// sweepLocked forgets the estimators of streams the packager no longer
// holds: the stream label stays bounded by max-streams.
func (v *viewers) sweepLocked() {
	for name := range v.byName {
		if _, err := v.streams.Timeline(name); errors.Is(err, packager.ErrNotFound) {
			delete(v.byName, name)
		}
	}
}

// forget drops a stream's estimator (the stream is gone).
func (v *viewers) forget(name string) {
	v.mu.RLock()
	_, ok := v.byName[name]
	v.mu.RUnlock()
	if ok {
		v.mu.Lock()
		delete(v.byName, name)
		v.mu.Unlock()
	}
}

// estimate is the stream's estimate now; zero for a stream never seen.
func (v *viewers) estimate(name string, now time.Time) ViewersEstimate {
	v.mu.RLock()
	sv := v.byName[name]
	v.mu.RUnlock()
	if sv == nil {
		return ViewersEstimate{}
	}
	return sv.estimate(now)
}

// all returns every stream's estimate, after forgetting the streams that
// are gone.
func (v *viewers) all(now time.Time) map[string]ViewersEstimate {
	v.mu.Lock()
	v.sweepLocked()
	list := make(map[string]*streamViewers, len(v.byName))
	for name, sv := range v.byName {
		list[name] = sv
	}
	v.mu.Unlock()
	out := make(map[string]ViewersEstimate, len(list))
	for name, sv := range list {
		out[name] = sv.estimate(now)
	}
	return out
}

// rotate starts a new generation when the current one is full; after a
// quiet spell of two generations, both are cleared.
func (sv *streamViewers) rotate(now time.Time) {
	if sv.genStart.IsZero() {
		sv.genStart = now
		return
	}
	age := now.Sub(sv.genStart)
	switch {
	case age < viewerGeneration:
		return
	case age >= 2*viewerGeneration:
		clear(sv.cur[:])
		clear(sv.prev[:])
		sv.curLoad, sv.prevLoad, sv.prevLen = 0, 0, 0
	default:
		sv.cur, sv.prev = sv.prev, sv.cur
		clear(sv.cur[:])
		sv.prevLoad, sv.curLoad, sv.prevLen = sv.curLoad, 0, age
	}
	sv.genStart = now
}

func (sv *streamViewers) estimate(now time.Time) ViewersEstimate {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.rotate(now)
	// Divide by at least one generation: a stream whose counting has just
	// begun would otherwise see its first requests as a crowd.
	span := max(sv.prevLen+now.Sub(sv.genStart), viewerGeneration)
	return ViewersEstimate{
		Sessions:    hllUnionCount(sv.cur, sv.prev),
		RequestRate: math.Round((sv.prevLoad+sv.curLoad)/span.Seconds()*10) / 10,
	}
}

// hllAdd adds a 64-bit hash to a HyperLogLog sketch: the first
// hllPrecision bits pick the register, which keeps the longest run of
// leading zeros (+1) seen in the rest.
func hllAdd(reg *[hllRegisters]uint8, h uint64) {
	idx := h >> (64 - hllPrecision)
	rho := uint8(bits.LeadingZeros64(h<<hllPrecision|1<<(hllPrecision-1)) + 1)
	if reg[idx] < rho {
		reg[idx] = rho
	}
}

// hllUnionCount estimates the distinct hashes added to a or b, with
// Ertl's improved estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017, algorithm 6): unbiased from 0 to far beyond
// any audience, without the bias tables of HyperLogLog++ nor the switch to
// linear counting whose seam costs accuracy around 2.5 × 4096.
func hllUnionCount(a, b *[hllRegisters]uint8) int {
	const q = 64 - hllPrecision // registers hold 0..q+1
	var c [q + 2]int
	for i := range a {
		c[max(a[i], b[i])]++
	}
	const m = float64(hllRegisters)
	z := m * hllTau(1-float64(c[q+1])/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + float64(c[k]))
	}
	z += m * hllSigma(float64(c[0])/m)
	return int(math.Round(m * m / (2 * math.Ln2) / z))
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}

// playbackSessionID returns the request's playback session id: the
// _lo_sid query parameter (raw, not unescaped: it is only hashed), else the
// X-Playback-Session-Id header; "" when there is neither. At most 128
// bytes are used.
func playbackSessionID(r *http.Request) string {
	id := queryValue(r.URL.RawQuery, SessionIDParam)
	if id == "" {
		id = headerValue(r.Header, SessionIDHeader)
	}
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}

// queryValue finds key=value in a raw query without allocating.
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// viewersCollector exports the estimates as liveorigin_viewers_estimate.
type viewersCollector struct {
	v   *viewers
	now func() time.Time
}

var descViewers = prometheus.NewDesc("liveorigin_viewers_estimate",
	"Estimated concurrent viewers of a stream, by method: sessions (distinct playback session ids seen in the last "+
		"15-30 s) or request_rate (playlist requests per second × reload interval). Estimates, not counts: see docs/metrics.md.",
	[]string{"stream", "method"}, nil)

func (c viewersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descViewers }

func (c viewersCollector) Collect(ch chan<- prometheus.Metric) {
	for name, e := range c.v.all(c.now()) {
		ch <- prometheus.MustNewConstMetric(descViewers, prometheus.GaugeValue, float64(e.Sessions), name, "sessions")
		ch <- prometheus.MustNewConstMetric(descViewers, prometheus.GaugeValue, e.RequestRate, name, "request_rate")
	}
}
