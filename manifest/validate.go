package manifest

import (
	"errors"
	"fmt"

	"github.com/liveorigin/liveorigin/packager"
)

// errInvalid marks a snapshot that cannot be rendered into a valid
// document. It is a packager bug, never the viewer's fault (a 500 at the
// origin), so it is not one of packager's lookup errors.
var errInvalid = errors.New("manifest: invalid timeline")

// maxMillis is 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can
// write. Bounding every time by it also keeps the tick arithmetic in
// format.go far from overflow.
const maxMillis = 253402300799999

// checkTimeline checks what every renderer relies on: the snapshot exists
// and every track has at least one segment (otherwise packager.ErrNotYet).
func checkTimeline(tl *packager.Timeline) error {
	if tl == nil {
		return fmt.Errorf("%w: no snapshot", errInvalid)
	}
	if len(tl.Tracks) == 0 {
		return fmt.Errorf("manifest %s: no tracks: %w", tl.Stream, packager.ErrNotYet)
	}
	for i, tt := range tl.Tracks {
		if tt == nil {
			return fmt.Errorf("%w: stream %s: track %d is nil", errInvalid, tl.Stream, i)
		}
		if len(tt.Segments) == 0 {
			return fmt.Errorf("manifest %s: track %s has no segment: %w", tl.Stream, tt.Name, packager.ErrNotYet)
		}
		if err := checkTrack(tt); err != nil {
			return fmt.Errorf("stream %s: %w", tl.Stream, err)
		}
	}
	return nil
}

// checkTrack checks one rendition's window: names usable as URL path
// elements, and segments whose times can be converted and written.
func checkTrack(tt *packager.TrackTimeline) error {
	if !pathElement(tt.Name) {
		return fmt.Errorf("%w: track name %q is not a URL path element", errInvalid, tt.Name)
	}
	for i, s := range tt.Segments {
		if s == nil {
			return fmt.Errorf("%w: track %s: segment %d is nil", errInvalid, tt.Name, i)
		}
		if s.Timescale == 0 {
			return fmt.Errorf("%w: track %s: segment %d has timescale 0", errInvalid, tt.Name, s.Seq)
		}
		if s.Init == nil || !pathElement(s.Init.Name) {
			return fmt.Errorf("%w: track %s: segment %d has no usable init segment name", errInvalid, tt.Name, s.Seq)
		}
		end := s.Start + s.Duration
		if end < s.Start || end/uint64(s.Timescale) >= maxMillis/1000 {
			return fmt.Errorf("%w: track %s: segment %d ends beyond the year 9999", errInvalid, tt.Name, s.Seq)
		}
		if i > 0 && s.Start < tt.Segments[i-1].Start {
			return fmt.Errorf("%w: track %s: segment %d starts before its predecessor", errInvalid, tt.Name, s.Seq)
		}
	}
	return nil
}

// pathElement reports whether s is a non-empty run of RFC 3986 unreserved
// characters that is not a dot segment, so it can stand in a relative URL,
// an HLS quoted-string and an XML attribute without any escaping.
func pathElement(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	return true
}

// codecToken reports whether s can be one entry of a CODECS list (RFC 6381
// values such as "avc1.64001f", "mp4a.40.2"): no quote, comma, space or
// control character that would break the quoted-string or the list.
func codecToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == ',' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}
