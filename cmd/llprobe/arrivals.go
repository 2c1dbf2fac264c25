package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// Ingest-arrival timing, without touching the packager: the Publisher given
// to the RTMP server is wrapped. The packager publishes a part synchronously
// inside the WriteAU of the frame that completes it, so a part that is new
// in the snapshot after a WriteAU arrived with that frame: its arrival is
// the time the frame was handed over, taken just before the call.

// timelines is what the wrapper needs from the packager.
type timelines interface {
	Timeline(name string) (*packager.Timeline, error)
}

// timedPublisher is an ingest.Publisher that records the arrival of every
// part its sessions complete.
type timedPublisher struct {
	ingest.Publisher
	timelines timelines
	arrivals  *arrivals

	mu    sync.Mutex
	edges map[string]*partEdges // by stream name, across reconnects
}

func newTimedPublisher(p ingest.Publisher, t timelines, a *arrivals) *timedPublisher {
	return &timedPublisher{Publisher: p, timelines: t, arrivals: a, edges: map[string]*partEdges{}}
}

func (p *timedPublisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	s, err := p.Publisher.Publish(ctx, info)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	e := p.edges[info.Name]
	if e == nil {
		e = &partEdges{ends: map[string]uint64{}}
		p.edges[info.Name] = e
	}
	p.mu.Unlock()
	return &timedSession{Session: s, name: info.Name, p: p, edges: e}, nil
}

// partEdges remembers, per track, where the newest part already recorded
// ends, so that a snapshot's new parts are found without keeping their
// names. Part start times never go back within a stream (a returning
// publisher continues after the previous period).
type partEdges struct {
	mu   sync.Mutex
	last *packager.Timeline
	ends map[string]uint64 // rendition → end of the newest part recorded
}

// timedSession is one publish session seen through the wrapper. Its
// methods are called from one goroutine (ingest.Session).
type timedSession struct {
	ingest.Session
	name  string
	p     *timedPublisher
	edges *partEdges
	clock ingestClock
}

func (s *timedSession) Start(tracks []ingest.Track) error {
	err := s.Session.Start(tracks)
	if err == nil {
		s.clock.start(tracks)
	}
	return err
}

func (s *timedSession) WriteAU(au ingest.AccessUnit) error {
	t := time.Now()
	err := s.Session.WriteAU(au)
	published := time.Now()
	tl, terr := s.p.timelines.Timeline(s.name)
	if terr != nil {
		return err
	}
	s.edges.mu.Lock()
	var keys []string
	var firstVideo *packager.Part
	if tl != s.edges.last {
		s.edges.last = tl
		keys, firstVideo = newParts(tl, s.edges.ends)
	}
	s.edges.mu.Unlock()
	if len(keys) > 0 {
		s.p.arrivals.arrived(keys, t, published)
	}
	if off, ok := s.clock.offset(au, t, firstVideo); ok {
		s.p.arrivals.ingestOffset(off)
	}
	return err
}

// newParts returns the keys ("STREAM/RENDITION/part-START.m4s") of the parts
// in tl that end after ends[rendition], and moves ends on: the parts of
// newly completed segments and the pending parts. firstVideo is the first
// new part of a video track, if any.
func newParts(tl *packager.Timeline, ends map[string]uint64) (keys []string, firstVideo *packager.Part) {
	for _, tt := range tl.Tracks {
		end := ends[tt.Name]
		newest := end
		add := func(p *packager.Part) {
			if p.Start >= end {
				keys = append(keys, tl.Stream+"/"+tt.Name+"/"+p.Name())
				newest = max(newest, p.End())
				if firstVideo == nil && tt.Track.Kind == ingest.Video {
					firstVideo = p
				}
			}
		}
		first := len(tt.Segments)
		for first > 0 && tt.Segments[first-1].Start+tt.Segments[first-1].Duration > end {
			first--
		}
		for _, seg := range tt.Segments[first:] {
			for _, p := range seg.Parts {
				add(p)
			}
		}
		for _, p := range tt.Pending {
			add(p)
		}
		ends[tt.Name] = newest
	}
	return keys, firstVideo
}

// arrivalRetention is how long an arrival is kept for deliveries to match:
// far longer than a part can be waited for (three target durations).
const arrivalRetention = time.Minute

// arrivals joins part arrivals (ingest) with part deliveries (clients). A
// client may read a part before the ingest side has recorded its arrival
// (the packager wakes the waiting requests inside WriteAU, before the
// wrapper looks at the snapshot), so a delivery whose part has no arrival
// yet waits for it, for up to arrivalRetention.
type arrivals struct {
	retention time.Duration
	notify    func() // after each recorded delivery latency; may be nil

	mu      sync.Mutex
	at      map[string]time.Time // part key → arrival
	order   []keyTime            // arrivals, oldest first, for pruning
	waiting map[string][]delivery
	nWait   int
	parts   map[string]int // parts recorded, by rendition

	// from: deliveries of parts that arrived before it are the warm-up
	// (the clients connecting all at once), kept apart in warmup.
	from      time.Time
	warmup    []time.Duration
	latencies []time.Duration // delivered − arrival, every measured delivery
	firstByte []time.Duration // first response byte − arrival, every measured delivery
	written   []time.Duration // origin handler done − arrival, every part answered with 200
	packaging []time.Duration // WriteAU return − arrival, every part
	offsets   []time.Duration // arrival − PROGRAM-DATE-TIME, every video frame (ingestClock)
	late      int             // measured deliveries asked for after the part existed
	unmatched int             // deliveries of parts whose arrival was never recorded

	first     chan struct{} // closed at the first part recorded
	firstOnce sync.Once
}

type keyTime struct {
	key string
	t   time.Time
}

// delivery is one client's reception of one part: when it asked, when the
// first byte of the answer came and when it had all of it. A delivery seen
// from the server (written) has only delivered: when the origin's handler
// had written the whole part to the connection.
type delivery struct {
	asked, firstByte, delivered time.Time
	written                     bool
}

func newArrivals() *arrivals {
	return &arrivals{
		retention: arrivalRetention,
		at:        map[string]time.Time{},
		waiting:   map[string][]delivery{},
		parts:     map[string]int{},
		first:     make(chan struct{}),
	}
}

// arrived records that the parts keys arrived at t (the WriteAU of their
// last frame began) and were published (that WriteAU returned).
func (a *arrivals) arrived(keys []string, t, published time.Time) {
	a.mu.Lock()
	for _, k := range keys {
		if _, ok := a.at[k]; ok {
			continue
		}
		a.at[k] = t
		a.packaging = append(a.packaging, published.Sub(t))
		a.order = append(a.order, keyTime{k, t})
		a.parts[rendition(k)]++
		for _, d := range a.waiting[k] {
			a.measureLocked(t, d)
		}
		a.nWait -= len(a.waiting[k])
		delete(a.waiting, k)
	}
	a.pruneLocked(t)
	a.mu.Unlock()
	a.firstOnce.Do(func() { close(a.first) })
	if a.notify != nil {
		a.notify()
	}
}

// ingestOffset records the offset of one video frame (ingestClock).
func (a *arrivals) ingestOffset(d time.Duration) {
	a.mu.Lock()
	a.offsets = append(a.offsets, d)
	a.mu.Unlock()
}

// delivered records a client's reception of part key, or the origin having
// written it (d.written).
func (a *arrivals) delivered(key string, d delivery) {
	a.mu.Lock()
	if t, ok := a.at[key]; ok {
		a.measureLocked(t, d)
		a.mu.Unlock()
		if a.notify != nil {
			a.notify()
		}
		return
	}
	a.waiting[key] = append(a.waiting[key], d)
	a.nWait++
	a.mu.Unlock()
}

// measureFrom sets the end of the warm-up: deliveries of parts that arrive
// from t on are measured.
func (a *arrivals) measureFrom(t time.Time) {
	a.mu.Lock()
	a.from = t
	a.mu.Unlock()
}

func (a *arrivals) measureLocked(arrival time.Time, d delivery) {
	if arrival.Before(a.from) {
		if !d.written {
			a.warmup = append(a.warmup, d.delivered.Sub(arrival))
		}
		return
	}
	if d.written {
		a.written = append(a.written, d.delivered.Sub(arrival))
		return
	}
	a.latencies = append(a.latencies, d.delivered.Sub(arrival))
	a.firstByte = append(a.firstByte, d.firstByte.Sub(arrival))
	if d.asked.After(arrival) {
		a.late++
	}
}

// pruneLocked forgets arrivals older than the retention and gives up on
// deliveries that waited that long for theirs.
func (a *arrivals) pruneLocked(now time.Time) {
	cut := now.Add(-a.retention)
	n := 0
	for n < len(a.order) && a.order[n].t.Before(cut) {
		delete(a.at, a.order[n].key)
		n++
	}
	if n > 0 {
		clear(a.order[:n])
		a.order = a.order[n:]
	}
	if a.nWait == 0 {
		return
	}
	for k, ds := range a.waiting {
		kept := ds[:0]
		for _, d := range ds {
			if d.delivered.Before(cut) {
				if !d.written {
					a.unmatched++
				}
				a.nWait--
			} else {
				kept = append(kept, d)
			}
		}
		if len(kept) == 0 {
			delete(a.waiting, k)
		} else {
			a.waiting[k] = kept
		}
	}
}

// measurements are what arrivals measured.
type measurements struct {
	latencies, firstByte, written, packaging, offsets []time.Duration
	warmup                                            []time.Duration
	late, unmatched                                   int
	parts                                             map[string]int // by rendition
}

// result returns the measurements; deliveries still waiting for their
// part's arrival count as unmatched.
func (a *arrivals) result() measurements {
	a.mu.Lock()
	defer a.mu.Unlock()
	unmatched := a.unmatched
	for _, ds := range a.waiting {
		for _, d := range ds {
			if !d.written {
				unmatched++
			}
		}
	}
	return measurements{
		latencies: slices.Clone(a.latencies),
		warmup:    slices.Clone(a.warmup),
		firstByte: slices.Clone(a.firstByte),
		written:   slices.Clone(a.written),
		packaging: slices.Clone(a.packaging),
		offsets:   slices.Clone(a.offsets),
		late:      a.late,
		unmatched: unmatched,
		parts:     maps.Clone(a.parts),
	}
}

// measured is the number of deliveries measured so far.
func (a *arrivals) measured() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.latencies)
}

// rendition is the rendition element of a part key ("v0" in
// "probe/v0/part-1.m4s").
func rendition(key string) string {
	_, rest, _ := strings.Cut(key, "/")
	r, _, _ := strings.Cut(rest, "/")
	return r
}
