package battery

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liveorigin/liveorigin/internal/ffpublish"
)

// viewer plays the clean stream as a player does without decoding: it
// polls every HLS media playlist and fetches every init segment and every
// segment once. From its first good multivariant playlist on, a non-2xx
// answer, a failed request, or a media playlist without a new segment for
// three target durations is an error.
type viewer struct {
	base       *url.URL
	stallAfter time.Duration // 0: three target durations
	hc         *http.Client
	log        *slog.Logger

	mu       sync.Mutex
	st       ViewerStats
	problems []string
	reported int // problems already returned by err
	playing  chan struct{}
	once     sync.Once
}

func newViewer(base string, stallAfter time.Duration, log *slog.Logger) *viewer {
	u, _ := url.Parse(base)
	return &viewer{
		base:       u,
		stallAfter: stallAfter,
		log:        log,
		playing:    make(chan struct{}),
		hc: &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DisableCompression: true},
			Timeout:   10 * time.Second,
		},
	}
}

// pollEvery is how often the viewer reloads the media playlists.
const pollEvery = 300 * time.Millisecond

type rendition struct {
	url      *url.URL
	seen     map[string]bool
	lastNew  time.Time
	target   time.Duration
	segments int
}

func (v *viewer) run(ctx context.Context) {
	defer v.hc.CloseIdleConnections()
	var renditions []*rendition
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if renditions == nil {
			r, err := v.multivariant(ctx)
			if err == nil {
				renditions = r
			}
		} else {
			for _, r := range renditions {
				v.poll(ctx, r)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// multivariant reads index.m3u8 and returns its media playlists.
func (v *viewer) multivariant(ctx context.Context) ([]*rendition, error) {
	body, err := v.fetch(ctx, v.base.ResolveReference(&url.URL{Path: "index.m3u8"}), false)
	if err != nil {
		return nil, err
	}
	var out []*rendition
	for _, uri := range playlistURIs(string(body)) {
		u, err := v.base.Parse(uri)
		if err != nil {
			continue
		}
		out = append(out, &rendition{url: u, seen: map[string]bool{}, lastNew: time.Now(), target: 10 * time.Second})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("index.m3u8 lists no media playlist")
	}
	return out, nil
}

func (v *viewer) poll(ctx context.Context, r *rendition) {
	body, err := v.fetch(ctx, r.url, true)
	if err != nil {
		return
	}
	v.mu.Lock()
	v.st.Playlists++
	v.mu.Unlock()
	target, inits, segs := mediaPlaylist(string(body))
	if target > 0 {
		r.target = target
	}
	for _, uri := range append(inits, segs...) {
		if r.seen[uri] {
			continue
		}
		u, err := r.url.Parse(uri)
		if err != nil {
			v.problem("%s: bad URI %q", r.url.Path, uri)
			continue
		}
		if _, err := v.fetch(ctx, u, true); err != nil {
			continue
		}
		r.seen[uri] = true
		r.lastNew = time.Now()
		r.segments++
		if r.segments >= 2 {
			v.once.Do(func() { close(v.playing) })
		}
	}
	limit := v.stallAfter
	if limit <= 0 {
		limit = 3 * r.target
	}
	if stall := time.Since(r.lastNew); stall > limit && ctx.Err() == nil {
		v.problem("%s: no new segment for %v (target duration %v, a stall after %v)", r.url.Path, stall.Round(time.Millisecond), r.target, limit)
		r.lastNew = time.Now() // one report per stall
	}
}

// fetch GETs u; with counted, a failure is an error of the clean viewer.
func (v *viewer) fetch(ctx context.Context, u *url.URL, counted bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		if counted && ctx.Err() == nil {
			v.problem("GET %s: %v", u.Path, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s", resp.Status)
	}
	if err != nil {
		if counted && ctx.Err() == nil {
			v.problem("GET %s: %v", u.Path, err)
		}
		return nil, err
	}
	if strings.HasSuffix(u.Path, ".m4s") || strings.HasSuffix(u.Path, ".mp4") {
		v.mu.Lock()
		v.st.Segments++
		v.st.Bytes += int64(len(body))
		v.mu.Unlock()
	}
	return body, nil
}

func (v *viewer) problem(format string, args ...any) {
	msg := time.Now().UTC().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
	v.log.Warn("clean viewer", "problem", msg)
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.problems) < 100 {
		v.problems = append(v.problems, msg)
	}
}

// waitPlaying waits until a media playlist has had two segments
// fetched; ffmpeg ending or the timeout is an error.
func (v *viewer) waitPlaying(ctx context.Context, pub *ffpublish.Publisher, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-v.playing:
		// Problems before the stream played are its start, not errors.
		v.mu.Lock()
		v.problems, v.reported = nil, 0
		v.mu.Unlock()
		return nil
	case <-pub.Done():
		return pub.Exited()
	case <-t.C:
		return fmt.Errorf("the clean stream did not play within %v (no segments at %s)", timeout, v.base)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// err returns the problems since the last call, joined; nil if none.
func (v *viewer) err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.reported == len(v.problems) {
		return nil
	}
	msg := strings.Join(v.problems[v.reported:], "; ")
	v.reported = len(v.problems)
	return fmt.Errorf("%s", msg)
}

func (v *viewer) errs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.problems...)
}

func (v *viewer) stats() ViewerStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.st
}

// playlistURIs returns the media playlist URIs of a multivariant
// playlist: the URI lines and the URI attributes of EXT-X-MEDIA.
func playlistURIs(text string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-MEDIA:"):
			if uri := attr(line, "URI"); uri != "" {
				out = append(out, uri)
			}
		case !strings.HasPrefix(line, "#"):
			out = append(out, line)
		}
	}
	return out
}

// mediaPlaylist returns a media playlist's target duration, its init
// segment URIs (EXT-X-MAP) and segment URIs (not the LL-HLS parts).
func mediaPlaylist(text string) (time.Duration, []string, []string) {
	var target time.Duration
	var inits, segs []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			if n, err := strconv.Atoi(strings.TrimPrefix(line, "#EXT-X-TARGETDURATION:")); err == nil {
				target = time.Duration(n) * time.Second
			}
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			if uri := attr(line, "URI"); uri != "" {
				inits = append(inits, uri)
			}
		case !strings.HasPrefix(line, "#"):
			segs = append(segs, line)
		}
	}
	return target, inits, segs
}

// attr returns the quoted attribute name of a tag line.
func attr(line, name string) string {
	_, rest, ok := strings.Cut(line, name+"=\"")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "\"")
	return v
}
