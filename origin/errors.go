package origin

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

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

// writeError answers with the status for err and a one-line plain text body.
// A 404 is never an empty 200 that a CDN would cache.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, kind Kind, err error) {
	status := statusOf(err)
	h := w.Header()
	cachePolicy(h, cacheInput{kind: kind, status: status, stream: chi.URLParam(r, "name"), segmentTarget: s.opts.SegmentTarget})
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
