// Package origin is the HTTP surface of liveorigin: HLS and DASH playback on
// the public listener, and metrics, health and the JSON API on the admin
// listener.
//
// Playback URLs, under /live/NAME/:
//
//	index.m3u8           HLS multivariant playlist
//	v0.m3u8, a0.m3u8     HLS media playlists, one per rendition
//	manifest.mpd         DASH MPD
//	v0/init-HASH.mp4     CMAF init segment (immutable)
//	v0/START.m4s         CMAF media segment, START = tfdt since 1970 (immutable)
//	v0/part-START.m4s    LL-HLS part (CMAF chunk), START = its tfdt (immutable)
//
// and the same under /live/NAME/t/TOKEN/ with a playback token, which a
// stream in the playback policy requires (playauth.go).
//
// Every playlist and MPD is rendered once per change of the stream's window
// and served as bytes; segments are served from the store without copying.
// Low latency (blocking.go, growing.go): media playlists answer Blocking
// Playlist Reloads (_HLS_msn, _HLS_part) and delta updates (_HLS_skip), a
// part is held until it exists, and the segment being produced is sent as
// it grows (LL-DASH).
package origin

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
	"github.com/liveorigin/liveorigin/playauth"
)

// Streams is what the origin needs from the packager.
type Streams interface {
	// Timeline returns the newest snapshot of a stream, or an error
	// wrapping packager.ErrNotFound.
	Timeline(name string) (*packager.Timeline, error)
	// Streams describes every stream, for the JSON API.
	Streams() []packager.StreamInfo
}

// Options configure a Server.
type Options struct {
	// Streams is the source of timelines. Required.
	Streams Streams
	// SegmentTarget sets playlist TTLs of ended streams; default 2s.
	SegmentTarget time.Duration
	// CORSOrigin is sent as Access-Control-Allow-Origin on playback
	// responses; "" sends no CORS headers. The daemon's default is "*".
	CORSOrigin string
	// UTCTimingURL is the DASH UTCTiming source; default "/time", which this
	// server answers.
	UTCTimingURL string
	// Now is the clock of the /time endpoint; default time.Now.
	Now func() time.Time
	// After is the timer of requests that wait for the live edge (blocking
	// playlist reloads, preload-hinted parts, growing LL-DASH segments):
	// they give up after three target durations; default time.After. Tests
	// inject their own to fire it at will.
	After func(time.Duration) <-chan time.Time
	// OriginSecrets, when not empty, restrict playback to requests that
	// carry one of them in the OriginSecretHeader (default
	// "X-Origin-Secret"): the CDN adds it, so viewers cannot bypass the
	// CDN. Several secrets allow a rotation. Others get 403.
	OriginSecrets      []string
	OriginSecretHeader string
	// ManifestLimit, when set, wraps the playlist and MPD routes (the
	// manifest request rate limit, limits.Rate). Default: none.
	ManifestLimit func(http.Handler) http.Handler
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the HTTP metrics; default none.
	Registerer prometheus.Registerer
	// PlaybackAuth, when set, is the playback token policy: which
	// streams need a signed URL, and the keys (playauth.go,
	// docs/security.md). nil: no stream needs one. ClientIPHeader names
	// the request header with the viewer's address for tokens bound to
	// one; "": the connection's address. SetPlaybackAuth replaces both.
	PlaybackAuth   *playauth.Policy
	ClientIPHeader string
	// TracerProvider, when set, makes a server span of every playback
	// request, a child of the caller's when the request carries a W3C
	// traceparent. nil: no tracing, and no cost.
	TracerProvider trace.TracerProvider
}

// Server serves playback and admin requests.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	viewers *viewers
	tracer  trace.Tracer // nil: tracing off
	cache   renderCache
	// secrets and corsOrigin are the origin secrets and the CORS origin in
	// effect: Options' until a reload sets them (SetOriginSecrets,
	// SetCORSOrigin).
	secrets    atomic.Pointer[[][]byte]
	corsOrigin atomic.Pointer[string]
	// playAuth is the playback token policy in effect (SetPlaybackAuth).
	playAuth      atomic.Pointer[playAuthState]
	tokenRefusals tokenRefusals
	// waiting, when set (tests), is called each time a request starts to
	// wait for a snapshot newer than tl.
	waiting func(tl *packager.Timeline)
}

// New validates o and returns a Server.
func New(o Options) (*Server, error) {
	if o.Streams == nil {
		return nil, errors.New("origin: Options.Streams is required")
	}
	if o.SegmentTarget <= 0 {
		o.SegmentTarget = 2 * time.Second
	}
	if o.UTCTimingURL == "" {
		o.UTCTimingURL = "/time"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.OriginSecretHeader == "" {
		o.OriginSecretHeader = "X-Origin-Secret"
	}
	for _, sec := range o.OriginSecrets {
		if sec == "" {
			return nil, errors.New("origin: an empty origin secret")
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	v := newViewers(o.Streams)
	m, err := newMetrics(o.Registerer, v, o.Now)
	if err != nil {
		return nil, err
	}
	refusals, err := newTokenRefusals(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, log: o.Logger, metrics: m, viewers: v, cache: renderCache{utcTimingURL: o.UTCTimingURL}, tokenRefusals: refusals}
	s.SetOriginSecrets(o.OriginSecrets)
	s.SetPlaybackAuth(o.PlaybackAuth, o.ClientIPHeader)
	s.SetCORSOrigin(o.CORSOrigin)
	if o.TracerProvider != nil {
		s.tracer = o.TracerProvider.Tracer(tracerName)
	}
	return s, nil
}

// Handler returns the playback handler (the public listener).
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.observeRequests, middleware.GetHead, s.requireSecret, s.cors)
	// Every playback route twice: plain, and with a playback token in the
	// path (playauth.go), which the relative URIs of the documents keep.
	// The manifest rate limit, when set, applies to the manifests only.
	stream := "/" + ingest.App + "/{name}"
	manifests := r.With()
	if s.opts.ManifestLimit != nil {
		manifests = r.With(s.opts.ManifestLimit)
	}
	for _, prefix := range []string{stream, stream + "/" + playauth.PathSegment + "/{token}"} {
		manifests.Get(prefix+"/index.m3u8", s.instrument(s.protect(KindMultivariant, s.serveMultivariant)))
		manifests.Get(prefix+"/manifest.mpd", s.instrument(s.protect(KindMPD, s.serveMPD)))
		manifests.Get(prefix+"/{rendition}.m3u8", s.instrument(s.protect(KindMediaList, s.serveMediaPlaylist)))
		r.Get(prefix+"/{rendition}/{object}", s.instrument(s.protect("", s.serveObject)))
	}
	r.Get("/time", s.instrument(s.serveTime))
	r.NotFound(s.instrument(func(w http.ResponseWriter, r *http.Request) Kind {
		s.writeError(w, r, KindOther, packager.ErrNotFound)
		return KindOther
	}))
	return r
}

// SetOriginSecrets replaces the origin secrets (a configuration reload):
// requests from now on need one of them; none turns the check off. Empty
// strings are ignored.
func (s *Server) SetOriginSecrets(secrets []string) {
	list := make([][]byte, 0, len(secrets))
	for _, sec := range secrets {
		if sec != "" {
			list = append(list, []byte(sec))
		}
	}
	s.secrets.Store(&list)
}

// SetCORSOrigin replaces Options.CORSOrigin (a configuration reload).
func (s *Server) SetCORSOrigin(origin string) {
	s.corsOrigin.Store(&origin)
}

// requireSecret refuses playback requests without a configured origin
// secret (403, not stored by any cache), before any other work.
func (s *Server) requireSecret(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secrets := *s.secrets.Load()
		if len(secrets) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		got := []byte(r.Header.Get(s.opts.OriginSecretHeader))
		ok := 0
		for _, sec := range secrets {
			ok |= subtle.ConstantTimeCompare(got, sec)
		}
		if ok == 1 {
			next.ServeHTTP(w, r)
			return
		}
		s.metrics.observe(KindOther, http.StatusForbidden, 0, 0)
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Forbidden: this origin answers only its CDN\n"))
	})
}

// cors adds the configured CORS headers and answers preflight requests.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := *s.corsOrigin.Load(); origin != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, ETag, Date, Age")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since")
				h.Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// timeline looks the stream up and forgets rendered documents of streams
// that are gone: this one at once, the others every sweepEvery.
func (s *Server) timeline(r *http.Request) (*packager.Timeline, error) {
	name := chi.URLParam(r, "name")
	tl, err := s.opts.Streams.Timeline(name)
	if errors.Is(err, packager.ErrNotFound) {
		s.forget(name)
	}
	s.cache.sweep(s.opts.Now(), func(name string) bool {
		_, err := s.opts.Streams.Timeline(name)
		return err == nil
	}, s.forget)
	return tl, err
}

// forget drops what the origin keeps of a stream that is gone.
func (s *Server) forget(name string) {
	s.cache.forget(name)
	s.viewers.forget(name)
}

func (s *Server) serveMultivariant(w http.ResponseWriter, r *http.Request) Kind {
	tl, err := s.timeline(r)
	if err != nil {
		s.writeError(w, r, KindMultivariant, err)
		return KindMultivariant
	}
	d, err := s.cache.forTimeline(tl).multivariantDoc()
	s.serveDoc(w, r, KindMultivariant, tl, d, err, "application/vnd.apple.mpegurl")
	return KindMultivariant
}

func (s *Server) serveMPD(w http.ResponseWriter, r *http.Request) Kind {
	tl, err := s.timeline(r)
	if err != nil {
		s.writeError(w, r, KindMPD, err)
		return KindMPD
	}
	d, err := s.cache.forTimeline(tl).mpdDoc(s.opts.UTCTimingURL)
	s.serveDoc(w, r, KindMPD, tl, d, err, "application/dash+xml")
	// DASH clients poll the MPD every minimumUpdatePeriod.
	reload := tl.SegmentTarget
	if tl.PartTarget > 0 {
		reload = tl.PartTarget
	}
	noteReload(w, tl, "", reload)
	return KindMPD
}

func (s *Server) serveDoc(w http.ResponseWriter, r *http.Request, kind Kind, tl *packager.Timeline, d *doc, err error, contentType string) {
	if err != nil {
		s.writeError(w, r, kind, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", d.etag)
	cachePolicy(h, s.cacheFor(kind, tl))
	serveBytes(w, r, d.body, tl.Updated)
}

// serveObject serves an init segment, a media segment or a part.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request) Kind {
	object := chi.URLParam(r, "object")
	kind, partStart, _ := objectKind(object)
	tl, err := s.timeline(r)
	if err != nil {
		s.writeError(w, r, kind, err)
		return kind
	}
	rendition := chi.URLParam(r, "rendition")
	tt, err := tl.Track(rendition)
	if err != nil {
		s.writeError(w, r, kind, err)
		return kind
	}
	switch {
	case kind == KindInit && strings.HasSuffix(object, ".mp4"):
		in, err := tt.Init(object)
		if err != nil {
			s.writeError(w, r, kind, err)
			return kind
		}
		s.serveImmutable(w, r, kind, tl, rendition, in.Data, in.ETag, time.Time{})
	case kind == KindPart:
		s.servePart(w, r, tl, rendition, partStart)
	case strings.HasSuffix(object, ".m4s"):
		start, err := strconv.ParseUint(strings.TrimSuffix(object, ".m4s"), 10, 64)
		if err != nil {
			s.writeError(w, r, kind, packager.ErrNotFound)
			return kind
		}
		seg, err := tt.Segment(start)
		if err != nil {
			if !s.serveGrowingSegment(w, r, tl, tt, start) {
				s.writeError(w, r, kind, err)
			}
			return kind
		}
		s.serveImmutable(w, r, kind, tl, rendition, seg.Data, seg.ETag, seg.StartTime().Add(seg.Length()))
	default:
		s.writeError(w, r, kind, packager.ErrNotFound)
	}
	return kind
}

// objectKind is the kind of a rendition's object by its name; partStart
// is a part's start (isPart).
func objectKind(object string) (kind Kind, partStart uint64, isPart bool) {
	partStart, isPart = packager.ParsePartName(object)
	switch {
	case strings.HasPrefix(object, "init-"):
		return KindInit, partStart, isPart
	case isPart:
		return KindPart, partStart, isPart
	}
	return KindSegment, partStart, isPart
}

// serveImmutable serves the bytes of an init segment, a segment or a part
// of a rendition.
func (s *Server) serveImmutable(w http.ResponseWriter, r *http.Request, kind Kind, tl *packager.Timeline, rendition string, body []byte, etag string, modtime time.Time) {
	h := w.Header()
	if tt, err := tl.Track(rendition); err == nil {
		setMediaType(h, tt)
	}
	h.Set("ETag", etag)
	cachePolicy(h, s.cacheFor(kind, tl))
	serveBytes(w, r, body, modtime)
}

// cacheFor is the cache policy input of a 200 answer from snapshot tl.
func (s *Server) cacheFor(kind Kind, tl *packager.Timeline) cacheInput {
	return cacheInput{kind: kind, status: http.StatusOK, stream: tl.Stream, segmentTarget: s.opts.SegmentTarget,
		targetDuration: tl.TargetDuration, lowLatency: tl.PartTarget > 0, ended: tl.Ended, keys: s.cache.keysFor(tl.Stream)}
}

// serveTime answers the DASH UTCTiming source (urn:mpeg:dash:utc:http-xsdate:2014).
func (s *Server) serveTime(w http.ResponseWriter, r *http.Request) Kind {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(s.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z")))
	}
	return KindTime
}

// serveBytes serves an immutable byte slice. A plain GET (the common case)
// hands the whole slice to the connection in one Write: no per-request copy
// of segment bytes. Range requests go through http.ServeContent.
func serveBytes(w http.ResponseWriter, r *http.Request, body []byte, modtime time.Time) {
	h := w.Header()
	if !modtime.IsZero() {
		h.Set("Last-Modified", modtime.UTC().Format(http.TimeFormat))
	}
	if r.Header.Get("Range") != "" {
		http.ServeContent(w, r, "", modtime, bytes.NewReader(body))
		return
	}
	if notModified(r, h.Get("ETag"), modtime) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// notModified evaluates If-None-Match (weak comparison, RFC 9110 13.1.2) and,
// when it is absent, If-Modified-Since.
func notModified(r *http.Request, etag string, modtime time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etag == "" {
			return false
		}
		for _, cand := range strings.Split(inm, ",") {
			cand = strings.TrimPrefix(strings.TrimSpace(cand), "W/")
			if cand == "*" || cand == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !modtime.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !modtime.Truncate(time.Second).After(t)
	}
	return false
}

// instrument adapts a handler that reports the kind of object it served:
// observeRequests, around it, counts, logs and traces the request by that
// kind.
func (s *Server) instrument(h func(w http.ResponseWriter, r *http.Request) Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			// Not behind observeRequests: give the handler its writer all the same.
			sw = &statusWriter{ResponseWriter: w, status: http.StatusOK}
		}
		sw.kind = h(sw, r)
		sw.stream = urlStream(r)
		sw.instrumented = true
		if !ok && sw.aborted {
			panic(http.ErrAbortHandler)
		}
	}
}

// statusWriter records the status and the body size of a response, and
// carries what observeRequests needs to know about the request: its id,
// the kind of object (set by instrument), the stream, and the reload
// interval it stands for (the viewers' request_rate). One allocation per
// request holds all of it.
type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	aborted     bool

	kind         Kind
	stream       string
	instrumented bool          // a route's handler ran (instrument)
	reload       time.Duration // viewer-seconds of this request (noteReload)
	// requestID[0] is the request id; the slice of it is the X-Request-Id
	// header value (no allocation), idBuf the bytes of a generated one.
	requestID [1]string
	idBuf     [16]byte
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
