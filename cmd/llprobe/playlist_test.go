package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var scanEdgeTests = []struct {
	name string
	in   string
	want liveEdge
	err  string // substring of the error; "" for none
}{
	{
		name: "parts of the pending segment",
		in: `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-PART-INF:PART-TARGET=0.334
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-MAP:URI="v0/init-1.mp4"
#EXT-X-PART:DURATION=0.333,URI="v0/part-0.m4s",INDEPENDENT=YES
#EXTINF:2.000,
v0/0.m4s
#EXT-X-PART:DURATION=0.333,URI="v0/part-180000.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.333,URI="v0/part-210000.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="v0/part-240000.m4s"
#EXT-X-RENDITION-REPORT:URI="a0.m3u8",LAST-MSN=101,LAST-PART=1
`,
		want: liveEdge{Hint: "v0/part-240000.m4s", MSN: 101, Part: 2},
	},
	{
		name: "newest part ends a segment",
		in: "#EXTM3U\r\n#EXT-X-MEDIA-SEQUENCE:7\r\n#EXT-X-PART:DURATION=1,URI=\"p1\"\r\n#EXTINF:1,\r\ns1\r\n" +
			"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p2\"\r\n",
		want: liveEdge{Hint: "p2", MSN: 8, Part: 0},
	},
	{
		name: "delta update",
		in: `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-MEDIA-SEQUENCE:17956719713
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXTINF:2.000,
v0/1.m4s
#EXT-X-PART:DURATION=0.333,URI="v0/part-2.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="v0/part-3.m4s"
`,
		want: liveEdge{Hint: "v0/part-3.m4s", MSN: 17956719717, Part: 1},
	},
	{
		name: "map hint before the part hint",
		in: `#EXTM3U
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-PRELOAD-HINT:TYPE=MAP,URI="v0/init-2.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="v0/part-9.m4s"
`,
		want: liveEdge{Hint: "v0/part-9.m4s", MSN: 1},
	},
	{
		name: "ended",
		in:   "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\nv0/1.m4s\n#EXT-X-ENDLIST\n",
		want: liveEdge{Ended: true},
	},
	{name: "not a playlist", in: "<html>", err: "#EXTM3U"},
	{name: "empty", in: "", err: "#EXTM3U"},
	{name: "no hint", in: "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\nv0/1.m4s\n", err: "PRELOAD-HINT"},
	{name: "bad media sequence", in: "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n", err: "MEDIA-SEQUENCE"},
	{name: "huge media sequence", in: "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:99999999999999999999\n", err: "MEDIA-SEQUENCE"},
	{name: "bad skip", in: "#EXTM3U\n#EXT-X-SKIP:SKIPPED-SEGMENTS=x\n", err: "EXT-X-SKIP"},
	{
		name: "sequence overflows",
		in:   "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n#EXTINF:1,\ns\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p\"\n",
		err:  "overflows",
	},
	{name: "unterminated quote", in: "#EXTM3U\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p\n", err: "PRELOAD-HINT"},
}

func TestScanEdge(t *testing.T) {
	for _, tc := range scanEdgeTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanEdge([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestScanEdgeGolden reads the edge of the renderer's LL-HLS golden
// playlists: what the origin really writes must scan, with a part as hint.
func TestScanEdgeGolden(t *testing.T) {
	files, _ := filepath.Glob("../../manifest/testdata/ll*.m3u8")
	if len(files) == 0 {
		t.Skip("no LL-HLS golden playlists in manifest/testdata")
	}
	for _, f := range files {
		if strings.Contains(f, "index") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e, err := scanEdge(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !e.Ended && !strings.Contains(e.Hint, "/part-") {
			t.Errorf("%s: hint %q is not a part", f, e.Hint)
		}
	}
}

func TestAttribute(t *testing.T) {
	list := `TYPE=PART,URI="a,b=c",BYTERANGE-START=10`
	for name, want := range map[string]string{"TYPE": "PART", "URI": "a,b=c", "BYTERANGE-START": "10", "X": ""} {
		if got := attribute(list, name); got != want {
			t.Errorf("attribute(%q) = %q, want %q", name, got, want)
		}
	}
}

func FuzzScanEdge(f *testing.F) {
	for _, tc := range scanEdgeTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := scanEdge(b)
		if err != nil {
			if e != (liveEdge{}) {
				t.Fatalf("error %v with a result %+v", err, e)
			}
			return
		}
		if !e.Ended && e.Hint == "" {
			t.Fatal("no error and no hint")
		}
	})
}
