package origin

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/liveorigin/liveorigin/manifest"
	"github.com/liveorigin/liveorigin/packager"
)

// renderCache holds, per stream, the documents rendered from the newest
// timeline snapshot. Each document is rendered at most once per snapshot, on
// the first request that needs it, and then served as bytes to everyone
// (DESIGN decision 5). Nothing here is held while a response is written.
type renderCache struct {
	utcTimingURL string
	streams      sync.Map // stream name → *docs
}

// docs are the documents of one snapshot.
type docs struct {
	tl           *packager.Timeline
	multivariant doc
	mpd          doc
	media        map[string]*doc // by rendition name; fixed at construction
}

// doc is one rendered document. once guards body, etag and err.
type doc struct {
	once sync.Once
	body []byte
	etag string
	err  error
}

func (d *doc) get(render func() ([]byte, error)) (*doc, error) {
	d.once.Do(func() {
		d.body, d.err = render()
		if d.err == nil {
			sum := sha256.Sum256(d.body)
			d.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
	})
	return d, d.err
}

// forTimeline returns the docs for tl, sharing them with every other request
// that holds the same snapshot.
func (c *renderCache) forTimeline(tl *packager.Timeline) *docs {
	cur, ok := c.streams.Load(tl.Stream)
	if ok && cur.(*docs).tl == tl {
		return cur.(*docs)
	}
	d := &docs{tl: tl, media: make(map[string]*doc, len(tl.Tracks))}
	for _, tr := range tl.Tracks {
		d.media[tr.Name] = &doc{}
	}
	switch {
	case !ok:
		if prev, loaded := c.streams.LoadOrStore(tl.Stream, d); loaded && prev.(*docs).tl == tl {
			return prev.(*docs)
		}
	case cur.(*docs).tl.Version < tl.Version:
		if !c.streams.CompareAndSwap(tl.Stream, cur, d) {
			if now, ok := c.streams.Load(tl.Stream); ok && now.(*docs).tl == tl {
				return now.(*docs)
			}
		}
	}
	// An older snapshot than the cached one (a request that raced a
	// change) is rendered for that request alone.
	return d
}

// forget drops a stream that no longer exists.
func (c *renderCache) forget(name string) { c.streams.Delete(name) }

func (d *docs) multivariantDoc() (*doc, error) {
	return d.multivariant.get(func() ([]byte, error) { return manifest.Multivariant(d.tl) })
}

func (d *docs) mediaDoc(track string) (*doc, error) {
	m, ok := d.media[track]
	if !ok {
		return nil, packager.ErrNotFound
	}
	return m.get(func() ([]byte, error) { return manifest.MediaPlaylist(d.tl, track) })
}

func (d *docs) mpdDoc(utcTiming string) (*doc, error) {
	return d.mpd.get(func() ([]byte, error) {
		return manifest.MPD(d.tl, manifest.MPDOptions{UTCTimingURL: utcTiming, Now: d.tl.Updated})
	})
}
