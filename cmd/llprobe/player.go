package main

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// player is one real third-party LL-HLS client (bluenviron/gohlslib) playing
// alongside the viewers. It checks that what the origin serves decodes, and
// measures how far behind the live edge a player is: at each video sample,
// now − the sample's PROGRAM-DATE-TIME, which liveorigin anchors to the wall
// clock of the sample's arrival at ingest.
type player struct {
	client    *gohlslib.Client
	transport *http.Transport
	settle    time.Time // distances are taken from then on
	notify    func()    // after each distance taken; may be nil

	mu        sync.Mutex
	distances []time.Duration
	decodeErr []string // the first few decode errors

	video, audio, parts, decodeErrs atomic.Int64

	done     chan struct{} // closed when the client has stopped
	err      error         // why it stopped; valid after done
	stopped  atomic.Bool   // stop was asked: the error that follows is ours
	stopOnce sync.Once
	stopErr  error
}

// maxDecodeErrMessages is how many decode error messages are kept.
const maxDecodeErrMessages = 5

// startPlayer starts gohlslib on uri.
func startPlayer(uri string, settle time.Time, notify func()) (*player, error) {
	p := &player{
		// Its own connections: the player is not one of the viewers.
		transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second},
		settle:    settle,
		notify:    notify,
		done:      make(chan struct{}),
	}
	c := &gohlslib.Client{
		URI:                       uri,
		HTTPClient:                &http.Client{Transport: p.transport, Timeout: requestTimeout},
		OnDownloadPrimaryPlaylist: func(string) {},
		OnDownloadStreamPlaylist:  func(string) {},
		OnDownloadSegment:         func(string) {},
		OnDownloadPart:            func(string) { p.parts.Add(1) },
		OnDecodeError:             p.onDecodeError,
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error { return p.onTracks(c, tracks) }
	p.client = c
	if err := c.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = c.Wait2()
		close(p.done)
	}()
	return p, nil
}

func (p *player) onTracks(c *gohlslib.Client, tracks []*gohlslib.Track) error {
	video := false
	for _, tr := range tracks {
		switch tr.Codec.(type) {
		case *codecs.H264, *codecs.H265:
			video = true
			c.OnDataH26x(tr, func(_, _ int64, au [][]byte) {
				if len(au) == 0 {
					p.onDecodeError(errors.New("empty video access unit"))
					return
				}
				p.video.Add(1)
				// The callback runs on the goroutine that set the
				// sample's absolute time: no race.
				at, ok := c.AbsoluteTime(tr)
				if now := time.Now(); ok && !now.Before(p.settle) {
					p.mu.Lock()
					p.distances = append(p.distances, now.Sub(at))
					p.mu.Unlock()
					if p.notify != nil {
						p.notify()
					}
				}
			})
		case *codecs.MPEG4Audio:
			c.OnDataMPEG4Audio(tr, func(_ int64, aus [][]byte) {
				if len(aus) == 0 {
					p.onDecodeError(errors.New("empty audio access unit"))
					return
				}
				p.audio.Add(1)
			})
		}
	}
	if !video {
		return errors.New("no H.264/H.265 video track")
	}
	return nil
}

func (p *player) onDecodeError(err error) {
	p.decodeErrs.Add(1)
	p.mu.Lock()
	if len(p.decodeErr) < maxDecodeErrMessages {
		p.decodeErr = append(p.decodeErr, err.Error())
	}
	p.mu.Unlock()
}

// failed returns the error that stopped the client on its own, if it did.
func (p *player) failed() error {
	select {
	case <-p.done:
		if !p.stopped.Load() {
			return p.err
		}
	default:
	}
	return nil
}

// stop closes the client and its connections, and returns the error that
// had stopped it before, if any.
func (p *player) stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.failed()
		p.stopped.Store(true)
		p.client.Close()
		p.transport.CloseIdleConnections()
	})
	return p.stopErr
}

// result returns the distances taken and the decode error messages.
func (p *player) result() ([]time.Duration, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.distances...), append([]string(nil), p.decodeErr...)
}
