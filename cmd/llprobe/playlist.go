package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// liveEdge is what an LL-HLS client needs from a media playlist to go on:
// the part to ask for next (EXT-X-PRELOAD-HINT) and the delivery directives
// of the blocking reload that will list it (rfc8216bis 6.2.5.2).
type liveEdge struct {
	// Hint is the URI of the EXT-X-PRELOAD-HINT part, as written in the
	// playlist (relative to it).
	Hint string
	// MSN and Part name the part after the newest one in the playlist (the
	// hinted one): _HLS_msn=MSN&_HLS_part=Part.
	MSN, Part uint64
	// Ended is set for a playlist with EXT-X-ENDLIST: there is no edge.
	Ended bool
}

var errNoHint = errors.New("no EXT-X-PRELOAD-HINT:TYPE=PART (is low latency off?)")

// scanEdge reads the live edge of an LL-HLS media playlist. It scans lines
// rather than building a playlist model: the probe runs hundreds of clients
// on the machine it measures, so a client must cost little. The newest part
// belongs to segment MEDIA-SEQUENCE + skipped + complete segments (those with
// an EXTINF) when parts follow the last EXTINF, otherwise it is the last part
// of the segment before; either way the next part is (that MSN, the number of
// parts after the last EXTINF).
func scanEdge(b []byte) (liveEdge, error) {
	var e liveEdge
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return e, errors.New("not a playlist: no #EXTM3U")
	}
	var seq, segments, parts uint64
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		tag, value, _ := strings.Cut(string(line), ":")
		switch tag {
		case "#EXT-X-MEDIA-SEQUENCE":
			v, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return liveEdge{}, fmt.Errorf("EXT-X-MEDIA-SEQUENCE %q: %w", value, err)
			}
			seq = v
		case "#EXT-X-SKIP":
			v, err := strconv.ParseUint(attribute(value, "SKIPPED-SEGMENTS"), 10, 64)
			if err != nil {
				return liveEdge{}, fmt.Errorf("EXT-X-SKIP %q: %w", value, err)
			}
			segments += v
		case "#EXTINF":
			segments++
			parts = 0
		case "#EXT-X-PART":
			parts++
		case "#EXT-X-PRELOAD-HINT":
			if attribute(value, "TYPE") == "PART" {
				e.Hint = attribute(value, "URI")
			}
		case "#EXT-X-ENDLIST":
			e.Ended = true
		}
	}
	if e.Ended {
		return e, nil
	}
	if e.Hint == "" {
		return liveEdge{}, errNoHint
	}
	if seq > ^uint64(0)-segments {
		return liveEdge{}, errors.New("media sequence number overflows")
	}
	e.MSN, e.Part = seq+segments, parts
	return e, nil
}

// attribute returns the value of name in an attribute-list (rfc8216bis
// 4.2), unquoted; "" when it is not there or the list is malformed.
func attribute(list, name string) string {
	for list != "" {
		var key string
		key, list, _ = strings.Cut(list, "=")
		var val string
		if strings.HasPrefix(list, `"`) {
			end := strings.IndexByte(list[1:], '"')
			if end < 0 {
				return ""
			}
			val, list = list[1:1+end], list[2+end:]
			list = strings.TrimPrefix(list, ",")
		} else {
			val, list, _ = strings.Cut(list, ",")
		}
		if key == name {
			return val
		}
	}
	return ""
}
