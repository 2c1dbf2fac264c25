package manifest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "update golden files")

// checkGolden compares got with testdata/name, or rewrites the file with
// -update (review the diff before committing).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s differs from the golden file at line %d:\n got: %q\nwant: %q\n(run go test -update and review the diff if the change is intended)", path, i+1, g, w)
			return
		}
	}
}

// TestGolden renders every document of every fixture, compares it with its
// golden file and checks it against the snapshot with the test-only
// parsers in hls_test.go and mpd_test.go.
func TestGolden(t *testing.T) {
	for _, fx := range fixtures() {
		t.Run(fx.name, func(t *testing.T) {
			mv, err := Multivariant(fx.tl)
			if err != nil {
				t.Fatalf("Multivariant: %v", err)
			}
			checkGolden(t, fx.name+".index.m3u8", mv)
			checkMultivariant(t, mv, fx.tl)

			for _, tt := range fx.tl.Tracks {
				mp, err := MediaPlaylist(fx.tl, tt.Name, MediaOptions{})
				if err != nil {
					t.Fatalf("MediaPlaylist(%s): %v", tt.Name, err)
				}
				checkGolden(t, fx.name+"."+tt.Name+".m3u8", mp)
				checkMediaPlaylist(t, mp, fx.tl, tt)
			}

			mpd, err := MPD(fx.tl, MPDOptions{Now: fx.tl.Updated})
			if err != nil {
				t.Fatalf("MPD: %v", err)
			}
			checkGolden(t, fx.name+".mpd", mpd)
			checkMPD(t, mpd, fx.tl)
		})
	}
}

// TestDeterministic renders each document twice from equal snapshots:
// the origin's cache and ETags rely on identical bytes.
func TestDeterministic(t *testing.T) {
	a, b := fixtures(), fixtures()
	for i := range a {
		for _, tt := range a[i].tl.Tracks {
			x, _ := MediaPlaylist(a[i].tl, tt.Name, MediaOptions{})
			y, _ := MediaPlaylist(b[i].tl, tt.Name, MediaOptions{})
			if !bytes.Equal(x, y) {
				t.Errorf("%s %s: media playlist differs between renders", a[i].name, tt.Name)
			}
		}
		x, _ := MPD(a[i].tl, MPDOptions{})
		y, _ := MPD(b[i].tl, MPDOptions{})
		if !bytes.Equal(x, y) {
			t.Errorf("%s: MPD differs between renders", a[i].name)
		}
	}
}
