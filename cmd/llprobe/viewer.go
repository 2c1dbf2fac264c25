package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A viewer is a lightweight LL-HLS client, doing what an LL-HLS client (and
// gohlslib) does, and nothing more, so that hundreds of them fit on the
// machine being measured:
//
//	GET v0.m3u8
//	loop:
//	    GET the EXT-X-PRELOAD-HINT part     (held by the origin until it exists)
//	    GET v0.m3u8?_HLS_msn=M&_HLS_part=P  (blocking reload for that part)
//
// It records when it asked for each part and when it had all of its bytes.

const (
	// requestTimeout bounds each request: the origin answers a blocked
	// request after three target durations (6 s at the default 2 s).
	requestTimeout = 10 * time.Second
	// retryDelay spaces attempts after an error, so that a failing origin
	// is not hammered in a loop.
	retryDelay = 100 * time.Millisecond
	// maxPlaylist and maxPart bound what a viewer reads.
	maxPlaylist = 1 << 20
	maxPart     = 16 << 20
)

type viewer struct {
	id       int
	http     *rawClient
	playlist *url.URL // the media playlist, without query
	arrivals *arrivals
	errors   *viewerErrors
	buf      bytes.Buffer // playlist bodies, reused
	// onPart, when set, is called after each part is read (counts).
	onPart func(bytes int)
}

func (v *viewer) run(ctx context.Context) {
	var edge liveEdge
	have := false
	for ctx.Err() == nil {
		if !have {
			e, err := v.reload(ctx, v.playlist)
			if err != nil {
				if !v.fail(ctx, err) {
					return
				}
				continue
			}
			edge, have = e, true
		}
		ref, err := url.Parse(edge.Hint)
		if err != nil {
			have = false
			if !v.fail(ctx, fmt.Errorf("%w: preload hint %q: %v", errPlaylist, edge.Hint, err)) {
				return
			}
			continue
		}
		part := v.playlist.ResolveReference(ref)
		d := delivery{asked: time.Now()}
		n, first, err := v.fetchPart(ctx, part)
		d.delivered, d.firstByte = time.Now(), first
		if err != nil {
			have = false
			if !v.fail(ctx, err) {
				return
			}
			continue
		}
		v.arrivals.delivered(partKey(part.Path), d)
		if v.onPart != nil {
			v.onPart(n)
		}
		next := *v.playlist
		next.RawQuery = "_HLS_msn=" + strconv.FormatUint(edge.MSN, 10) + "&_HLS_part=" + strconv.FormatUint(edge.Part, 10)
		if edge, err = v.reload(ctx, &next); err != nil {
			have = false
			if !v.fail(ctx, err) {
				return
			}
		}
	}
}

// partKey is the arrivals key of a part path: what follows /live/.
func partKey(path string) string {
	_, key, found := strings.Cut(path, "/live/")
	if !found {
		return path
	}
	return key
}

// reload fetches a media playlist and reads its live edge.
func (v *viewer) reload(ctx context.Context, u *url.URL) (liveEdge, error) {
	v.buf.Reset()
	if _, err := v.get(ctx, u, &v.buf, maxPlaylist); err != nil {
		return liveEdge{}, err
	}
	e, err := scanEdge(v.buf.Bytes())
	if err != nil {
		return liveEdge{}, fmt.Errorf("%w: %s: %v", errPlaylist, u, err)
	}
	if e.Ended {
		return liveEdge{}, fmt.Errorf("%w: %s has EXT-X-ENDLIST", errEnded, u)
	}
	return e, nil
}

// fetchPart reads a whole part; it returns its size and when the first
// bytes of the answer arrived.
func (v *viewer) fetchPart(ctx context.Context, u *url.URL) (int, time.Time, error) {
	r, err := v.get(ctx, u, nil, maxPart)
	return int(r.n), r.firstByte, err
}

// partReadBuffer is a viewer's read size for parts: most parts of the
// probe's stream (720p30 at a few Mbit/s) fit in one.
const partReadBuffer = 256 << 10

// get reads the body of a 200 answer into buf (nil: dropped), at most
// limit bytes.
func (v *viewer) get(ctx context.Context, u *url.URL, buf *bytes.Buffer, limit int64) (rawResponse, error) {
	r, err := v.http.get(ctx, u.RequestURI(), buf, limit)
	if err != nil {
		return r, fmt.Errorf("GET %s: %w", u, err)
	}
	if r.status != 200 {
		return r, &statusError{code: r.status, url: u.String()}
	}
	return r, nil
}

// fail counts an error, unless the viewer is being stopped, and waits a
// little before the next attempt. It returns false when the viewer must
// stop.
func (v *viewer) fail(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	v.errors.add(v.id, err)
	t := time.NewTimer(retryDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var (
	errPlaylist = errors.New("bad playlist")
	errEnded    = errors.New("stream ended")
)

type statusError struct {
	code int
	url  string
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: status %d", e.url, e.code) }

// errorKind classifies an error for the report.
func errorKind(err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return "status_" + strconv.Itoa(se.code)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errPlaylist):
		return "bad_playlist"
	case errors.Is(err, errEnded):
		return "stream_ended"
	}
	return "transport"
}

// viewerErrors counts the viewers' errors by kind and by viewer.
type viewerErrors struct {
	mu       sync.Mutex
	byKind   map[string]int
	byViewer map[int]int
	example  map[string]string // kind → the first message seen
}

func newViewerErrors() *viewerErrors {
	return &viewerErrors{byKind: map[string]int{}, byViewer: map[int]int{}, example: map[string]string{}}
}

func (e *viewerErrors) add(viewer int, err error) {
	k := errorKind(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKind[k]++
	e.byViewer[viewer]++
	if _, ok := e.example[k]; !ok {
		e.example[k] = err.Error()
	}
}
