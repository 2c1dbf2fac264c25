package origin

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// statusOf turns the packager's typed lookup errors into HTTP status codes,
// in one place (DESIGN decision 7).
func statusOf(err error) int {
	switch {
	case errors.Is(err, packager.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, packager.ErrGone):
		return http.StatusGone
	case errors.Is(err, packager.ErrNotYet):
		return http.StatusServiceUnavailable
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

var errBadRequest = errors.New("bad request")

// urlStream is the stream name of a playback URL (/live/NAME/...) when it
// is one a publisher could have used (ingest.ValidateName), else "". The
// name comes from the viewer: it must not reach the surrogate key headers
// (a NUL or a comma would make a response a CDN rejects, or tags it never
// purges), the logs or the viewer estimates as it was sent.
func urlStream(r *http.Request) string {
	name := chi.URLParam(r, "name")
	if ingest.ValidateName(name) != nil {
		return ""
	}
	return name
}

// writeError answers with the status for err and a one-line plain text body.
// A 404 is never an empty 200 that a CDN would cache.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, kind Kind, err error) {
	status := statusOf(err)
	h := w.Header()
	cachePolicy(h, cacheInput{kind: kind, status: status, stream: urlStream(r), segmentTarget: s.opts.SegmentTarget})
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "path", logPath(r.URL.Path), "err", err)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
	}
}
