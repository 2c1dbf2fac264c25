package manifest

import (
	"errors"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// render names one document of a snapshot.
type render string

const (
	renderIndex render = "index.m3u8"
	renderV0    render = "v0.m3u8"
	renderA0    render = "a0.m3u8"
	renderX9    render = "x9.m3u8"
	renderMPD   render = "manifest.mpd"
)

func (r render) do(tl *packager.Timeline) ([]byte, error) {
	switch r {
	case renderIndex:
		return Multivariant(tl)
	case renderMPD:
		return MPD(tl, MPDOptions{})
	}
	return MediaPlaylist(tl, string(r[:len(r)-len(".m3u8")]), MediaOptions{})
}

func TestErrors(t *testing.T) {
	all := []render{renderIndex, renderV0, renderA0, renderMPD}
	tests := []struct {
		name   string
		mutate func(tl *packager.Timeline)
		// want maps each document to its expected error; documents not
		// listed must render.
		want map[render]error
	}{
		{"valid", func(*packager.Timeline) {}, nil},
		{"unknown rendition", func(*packager.Timeline) {}, map[render]error{renderX9: packager.ErrNotFound}},
		{"no tracks yet", func(tl *packager.Timeline) { tl.Tracks = nil },
			map[render]error{renderIndex: packager.ErrNotYet, renderV0: packager.ErrNotFound, renderA0: packager.ErrNotFound, renderMPD: packager.ErrNotYet}},
		{"audio has no segment yet", func(tl *packager.Timeline) { tl.Tracks[1].Segments = nil },
			map[render]error{renderIndex: packager.ErrNotYet, renderA0: packager.ErrNotYet, renderMPD: packager.ErrNotYet}},
		{"video has no segment yet", func(tl *packager.Timeline) { tl.Tracks[0].Segments = nil },
			map[render]error{renderIndex: packager.ErrNotYet, renderV0: packager.ErrNotYet, renderMPD: packager.ErrNotYet}},
		{"zero timescale", func(tl *packager.Timeline) { tl.Tracks[0].Segments[2].Timescale = 0 },
			map[render]error{renderIndex: errInvalid, renderV0: errInvalid, renderMPD: errInvalid}},
		{"no init", func(tl *packager.Timeline) { tl.Tracks[1].Segments[0].Init = nil },
			map[render]error{renderIndex: errInvalid, renderA0: errInvalid, renderMPD: errInvalid}},
		{"init name with a quote", func(tl *packager.Timeline) {
			tl.Tracks[1].Segments[0].Init = newInit(`init-"x.mp4`, aacDesc())
		}, map[render]error{renderIndex: errInvalid, renderA0: errInvalid, renderMPD: errInvalid}},
		{"track name not a path element", func(tl *packager.Timeline) { tl.Tracks[0].Name = "../v0" },
			map[render]error{renderIndex: errInvalid, renderV0: packager.ErrNotFound, renderMPD: errInvalid}},
		{"codec string breaking CODECS", func(tl *packager.Timeline) { tl.Tracks[0].Track.CodecString = `avc1",x` },
			map[render]error{renderIndex: errInvalid}},
		{"nil segment", func(tl *packager.Timeline) { tl.Tracks[0].Segments[1] = nil },
			map[render]error{renderIndex: errInvalid, renderV0: errInvalid, renderMPD: errInvalid}},
		{"nil track", func(tl *packager.Timeline) { tl.Tracks[1] = nil },
			map[render]error{renderIndex: errInvalid, renderA0: packager.ErrNotFound, renderMPD: errInvalid}},
		{"segments out of order", func(tl *packager.Timeline) {
			s := tl.Tracks[0].Segments
			s[1], s[2] = s[2], s[1]
		}, map[render]error{renderIndex: errInvalid, renderV0: errInvalid, renderMPD: errInvalid}},
		{"beyond year 9999", func(tl *packager.Timeline) { tl.Tracks[0].Segments[4].Start = 1 << 62 },
			map[render]error{renderIndex: errInvalid, renderV0: errInvalid, renderMPD: errInvalid}},
		{"end overflows", func(tl *packager.Timeline) { tl.Tracks[0].Segments[4].Duration = ^uint64(0) },
			map[render]error{renderIndex: errInvalid, renderV0: errInvalid, renderMPD: errInvalid}},
		{"no target duration", func(tl *packager.Timeline) { tl.TargetDuration = 0 },
			map[render]error{renderV0: errInvalid, renderA0: errInvalid}},
		{"segment of an unknown period", func(tl *packager.Timeline) { tl.Tracks[1].Segments[3].Period = "p0" },
			map[render]error{renderMPD: errInvalid}},
		{"no periods", func(tl *packager.Timeline) { tl.Periods = nil },
			map[render]error{renderMPD: errInvalid}},
		{"nil period", func(tl *packager.Timeline) { tl.Periods = []*packager.Period{nil} },
			map[render]error{renderMPD: errInvalid}},
		{"negative period start", func(tl *packager.Timeline) { tl.Periods[0].Start = -1 },
			map[render]error{renderMPD: errInvalid}},
		{"segment before its period", func(tl *packager.Timeline) { tl.Periods[0].Start += 300 * time.Second },
			map[render]error{renderMPD: errInvalid}},
		{"periods out of order", func(tl *packager.Timeline) {
			p2 := newPeriod(tl.Periods[0].Start - time.Second)
			tl.Periods = append(tl.Periods, p2)
			for _, tt := range tl.Tracks {
				tt.Segments[4].Period = p2.ID
			}
		}, map[render]error{renderMPD: errInvalid}},
		{"timescale changes within a period", func(tl *packager.Timeline) {
			s := tl.Tracks[1].Segments[4]
			s.Start, s.Duration, s.Timescale = s.Start*2, s.Duration*2, 96000
		}, map[render]error{renderMPD: errInvalid}},
		{"unknown kind", func(tl *packager.Timeline) {
			tl.Tracks[1].Track.Kind, tl.Tracks[1].Track.Codec = 0, ""
		}, map[render]error{renderIndex: errInvalid, renderMPD: errInvalid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := fixtures()[0].tl // "av": v0, a0 in one period
			tc.mutate(tl)
			docs := all
			if _, ok := tc.want[renderX9]; ok {
				docs = append(docs, renderX9)
			}
			for _, r := range docs {
				b, err := r.do(tl)
				want := tc.want[r]
				switch {
				case want == nil && err != nil:
					t.Errorf("%s: %v", r, err)
				case want != nil && !errors.Is(err, want):
					t.Errorf("%s: error %v, want %v", r, err, want)
				case err != nil && b != nil:
					t.Errorf("%s: bytes with an error", r)
				case err == nil && len(b) == 0:
					t.Errorf("%s: empty document", r)
				}
			}
		})
	}

	t.Run("nil snapshot", func(t *testing.T) {
		for _, r := range all {
			if _, err := r.do(nil); !errors.Is(err, errInvalid) {
				t.Errorf("%s: error %v, want %v", r, err, errInvalid)
			}
		}
	})
}
