package origin

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveorigin/liveorigin/manifest"
	"github.com/liveorigin/liveorigin/packager"
)

// recentSnapshots is how many snapshots per stream keep their documents.
// Blocking requests woken by one snapshot are served from it even when the
// next one (a part later) arrives while they answer: all of them share its
// documents.
const recentSnapshots = 4

// renderCache holds, per stream, the documents rendered from the newest
// timeline snapshots. Each document is rendered at most once per snapshot
// (and per delta-update variant), on the first request that needs it, and
// then served as bytes to everyone (DESIGN decision 5). Nothing here is held
// while a document is rendered or a response is written.
type renderCache struct {
	utcTimingURL string
	streams      sync.Map     // stream name → *streamDocs
	lastSweep    atomic.Int64 // Unix ns of the last sweep
	// renders counts documents rendered, for the tests of render-once.
	renders atomic.Int64
}

// streamDocs are the documents of a stream's recent snapshots, newest last.
type streamDocs struct {
	mu     sync.Mutex
	recent []*docs
	keys   *surrogateKeys // fixed at construction
}

// keysFor returns the stream's prebuilt surrogate key headers.
func (c *renderCache) keysFor(stream string) *surrogateKeys {
	v, ok := c.streams.Load(stream)
	if !ok {
		v, _ = c.streams.LoadOrStore(stream, &streamDocs{keys: newSurrogateKeys(stream)})
	}
	return v.(*streamDocs).keys
}

// docs are the documents of one snapshot.
type docs struct {
	tl           *packager.Timeline
	c            *renderCache
	multivariant doc
	mpd          doc
	// media holds the media playlists by rendition name, one per _HLS_skip
	// value; fixed at construction.
	media map[string]*[3]doc
}

// doc is one rendered document. once guards body, etag and err.
type doc struct {
	once sync.Once
	body []byte
	etag string
	err  error
}

func (d *doc) get(c *renderCache, render func() ([]byte, error)) (*doc, error) {
	d.once.Do(func() {
		c.renders.Add(1)
		d.body, d.err = render()
		if d.err == nil {
			sum := sha256.Sum256(d.body)
			d.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
	})
	return d, d.err
}

// forTimeline returns the docs for tl, sharing them with every other request
// that holds the same snapshot, as long as it is one of the stream's recent
// ones. An older snapshot (a request that raced several changes) is
// rendered for that request alone.
func (c *renderCache) forTimeline(tl *packager.Timeline) *docs {
	v, ok := c.streams.Load(tl.Stream)
	if !ok {
		v, _ = c.streams.LoadOrStore(tl.Stream, &streamDocs{keys: newSurrogateKeys(tl.Stream)})
	}
	sd := v.(*streamDocs)
	sd.mu.Lock()
	defer sd.mu.Unlock()
	for i := len(sd.recent) - 1; i >= 0; i-- {
		if sd.recent[i].tl == tl {
			return sd.recent[i]
		}
	}
	d := c.newDocs(tl)
	// Keep the newest snapshots, by version; a replaced stream (a new
	// publisher after the end) starts its versions higher, never lower.
	i := len(sd.recent)
	for i > 0 && sd.recent[i-1].tl.Version > tl.Version {
		i--
	}
	if i == 0 && len(sd.recent) == recentSnapshots {
		return d
	}
	sd.recent = append(sd.recent, nil)
	copy(sd.recent[i+1:], sd.recent[i:])
	sd.recent[i] = d
	if len(sd.recent) > recentSnapshots {
		sd.recent[0] = nil
		sd.recent = append(sd.recent[:0], sd.recent[1:]...)
	}
	return d
}

func (c *renderCache) newDocs(tl *packager.Timeline) *docs {
	d := &docs{tl: tl, c: c, media: make(map[string]*[3]doc, len(tl.Tracks))}
	for _, tr := range tl.Tracks {
		d.media[tr.Name] = &[3]doc{}
	}
	return d
}

// forget drops a stream that no longer exists.
func (c *renderCache) forget(name string) { c.streams.Delete(name) }

// sweepEvery is how often playback requests also forget the documents of
// every stream that is gone, not only of the one they ask for.
const sweepEvery = 10 * time.Second

// sweep forgets the documents of the streams gone since the last sweep,
// at most once per sweepEvery (the caller's clock, now). The documents
// hold their timeline snapshots, and with them the window's segments: a
// stream viewed until it ended and never asked for again kept its last
// window in memory for good (found by the hostile-input battery). With
// the sweep, what is held beyond the live streams is bounded by what was
// viewed in the last sweepEvery of playback traffic.
func (c *renderCache) sweep(now time.Time, exists func(name string) bool, forget func(name string)) {
	last := c.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !c.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	c.streams.Range(func(k, _ any) bool {
		if name := k.(string); !exists(name) {
			forget(name)
		}
		return true
	})
}

func (d *docs) multivariantDoc() (*doc, error) {
	return d.multivariant.get(d.c, func() ([]byte, error) { return manifest.Multivariant(d.tl) })
}

// mediaDoc is a media playlist: the whole one, or a delta update.
func (d *docs) mediaDoc(track string, skip manifest.Skip) (*doc, error) {
	m, ok := d.media[track]
	if !ok || int(skip) >= len(m) {
		if len(d.tl.Tracks) == 0 && !d.tl.Ended {
			// A publisher has connected but not declared its tracks yet:
			// the rendition may appear in a moment. 503 is not stored by
			// a CDN, where a 404 would be kept (and would outlive the purge
			// sent when the stream started).
			return nil, packager.ErrNotYet
		}
		return nil, packager.ErrNotFound
	}
	return m[skip].get(d.c, func() ([]byte, error) {
		return manifest.MediaPlaylist(d.tl, track, manifest.MediaOptions{Skip: skip})
	})
}

func (d *docs) mpdDoc(utcTiming string) (*doc, error) {
	return d.mpd.get(d.c, func() ([]byte, error) {
		return manifest.MPD(d.tl, manifest.MPDOptions{UTCTimingURL: utcTiming, Now: d.tl.Updated})
	})
}
