package main

// End-to-end tests of liveorigin behind a real caching shield: Debian's
// Varnish (with vmod_xkey from varnish-modules) running
// deploy/cdn/varnish/liveorigin.vcl, and nginx running
// deploy/cdn/nginx/liveorigin.conf, both started by the test on 127.0.0.1.
// Between the shield and the origin sits a small counting reverse proxy, so
// the tests see every request that reaches the origin.
// `make deps` installs varnish, varnish-modules and nginx-light.

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/origin/purge"
	"github.com/liveorigin/liveorigin/packager"
)

// Varnish in front of liveorigin, purging by surrogate key (vmod_xkey):
// playback through the shield, one origin request per object under 100
// viewers and under bursts of LL-HLS clients, the purges of a stream's end,
// of a new publish of its name, and of a takedown.
func TestVarnishShieldXkey(t *testing.T) {
	requireShieldTools(t, "ffmpeg", "varnishd")
	const name = "cdn"
	vaddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	a := startCDNApp(t, purge.Config{Name: "varnish", Type: purge.TypeVarnish, URL: "http://" + vaddr, Mode: purge.VarnishXkey})
	counter := newOriginCounter(t, a.base)
	v := startVarnish(t, vaddr, counter.addr())
	c := newViewerClient(t)
	base := v.base + "/live/" + name + "/"

	pub := publish(t, a.rtmpURL+name, 120)
	waitFor(t, a, name, 20*time.Second, "three segments", threeSegments)
	if code, _, _ := get(t, a.base+"/live/"+name+"/v0.m3u8"); code != http.StatusForbidden {
		t.Errorf("the origin answers %d without its secret, want 403", code)
	}

	// ffmpeg plays HLS through Varnish. (Not DASH: through the shield, in
	// about one run in six on a loaded machine, ffmpeg 5.1's DASH reader
	// lost its place in the audio timeline, "non monotonically increasing
	// dts"; the MPD it reloads may be up to two seconds old there.)
	if n := play(t, base+"index.m3u8", 5); n < 5*30*8/10 {
		t.Errorf("ffmpeg decoded %d frames through Varnish in 5 s", n)
	}

	t.Run("100 viewers", func(t *testing.T) {
		const viewers, seconds = 100, 15
		before := counter.snapshot()
		load := runViewers(t, c, base, viewers, seconds*time.Second)
		after := counter.snapshot()
		origin := 0
		for uri, n := range after {
			origin += n - before[uri]
		}
		req, hits := load.requests.Load(), load.hits.Load()
		t.Logf("%d viewers for %d s: %d requests to Varnish, %.1f%% hits; %d reached the origin: %.0f viewer requests per origin request",
			viewers, seconds, req, 100*float64(hits)/float64(max(req, 1)), origin, float64(req)/float64(max(origin, 1)))
		segs := 0
		for uri, n := range after {
			if reSegURI.MatchString(uri) {
				segs++
				if n != 1 {
					t.Errorf("%s reached the origin %d times, want once", uri, n)
				}
			}
		}
		for _, pl := range []string{"v0.m3u8", "a0.m3u8"} {
			uri := "/live/" + name + "/" + pl
			n := after[uri] - before[uri]
			t.Logf("%s: %d origin requests in %d s (%.2f/s)", uri, n, seconds, float64(n)/seconds)
			if float64(n) > 1.5*seconds {
				t.Errorf("%s reached the origin %d times in %d s, want at most 1.5 per second", uri, n, seconds)
			}
		}
		if segs < 2*seconds*8/10 {
			t.Errorf("only %d segments reached the origin in %d s", segs, seconds)
		}
	})

	t.Run("LL-HLS bursts", func(t *testing.T) {
		// 50 clients at once on each: the next part by blocking reload,
		// the preload-hinted part, and the segment being produced (LL-DASH,
		// streamed as it grows): the origin holds each request until the
		// object exists, Varnish sends one.
		tl := waitFor(t, a, name, 5*time.Second, "a part in production", func(tl *packager.Timeline) bool {
			return threeSegments(tl) && video(t, tl).PendingSeq > 0
		})
		vt := video(t, tl)
		block := fmt.Sprintf("/live/%s/v0.m3u8?_HLS_msn=%d&_HLS_part=%d", name, vt.PendingSeq, len(vt.Pending))
		hint := "/live/" + name + "/v0/" + vt.NextPart
		grow := fmt.Sprintf("/live/%s/v0/%d.m4s", name, vt.PendingStart)
		answers := burst(c, []string{v.base + block, v.base + hint, v.base + grow}, 50)
		for _, uri := range []string{block, hint, grow} {
			checkBurst(t, counter, uri, answers[v.base+uri])
		}
		if b := answers[v.base+block][0].body; !bytes.Contains(b, []byte(vt.NextPart)) {
			t.Errorf("%s answered without the part it asked for (%s):\n%s", block, vt.NextPart, b)
		}
	})

	// Hits, and what viewers see.
	media := checkCached(t, c, base+"v0.m3u8")
	segs := reSeg.FindAllString(media, -1)
	if len(segs) == 0 {
		t.Fatalf("no segment in the media playlist:\n%s", media)
	}
	seg := segs[len(segs)-1]
	checkCached(t, c, base+seg)

	endStream(t, a, c, base, pub, "varnish")

	// A new publisher under the name: Varnish forgets the ended playlist
	// (cached for five segment targets) at once.
	settle(t, c, base+"v0.m3u8")
	ok := metricValue(t, a, purgeOK("varnish"))
	publish(t, a.rtmpURL+name, 120)
	waitPurges(t, a, "varnish", ok+1, "republish")
	if code, h, body := shieldGet(t, c, base+"v0.m3u8"); code == http.StatusOK && strings.Contains(body, "#EXT-X-ENDLIST") {
		t.Errorf("after the purge of a new publish Varnish still serves the ended playlist (X-Cache %s)", h.Get("X-Cache"))
	}
	waitFor(t, a, name, 20*time.Second, "a segment of the new publish", func(tl *packager.Timeline) bool {
		return !tl.Ended && len(tl.Tracks) == 2 && len(tl.Tracks[0].Segments) > 0 && len(tl.Tracks[1].Segments) > 0
	})
	// The GET above, made before the new publisher declared its tracks,
	// got a 404 that Varnish keeps for its TTL (2 s): no purge follows when
	// the tracks appear.
	waited := waitShield(t, c, base+"v0.m3u8", 5*time.Second, func(code int, _ http.Header, _ string) bool { return code == http.StatusOK })
	t.Logf("the new publish's media playlist came through Varnish %v after its first segment", waited.Round(time.Millisecond))

	// The segment of the first publish is still in Varnish (the origin has
	// dropped it with the new stream); a takedown purges it and the
	// playlists.
	if code, h, _ := shieldGet(t, c, base+seg); code != http.StatusOK || !strings.HasPrefix(h.Get("X-Cache"), "HIT") {
		t.Errorf("%s before the takedown: %d, X-Cache %s, want a cached 200", seg, code, h.Get("X-Cache"))
	}
	checkCached(t, c, base+"v0.m3u8")
	settle(t, c, base+"v0.m3u8")
	takeDown(t, a, c, base, name, "varnish", seg, "v0.m3u8", "index.m3u8")

	checkOriginSecret(t, a, counter)
	if n := metricValue(t, a, `liveorigin_purge_requests_total{backend="varnish",result="failed"}`); n != 0 {
		t.Errorf("%v purges failed", n)
	}
}

// Varnish purged by bans: a manual purge of one path, the stream's end
// (its manifests only: segments stay cached) and a takedown (everything
// under /live/NAME/). The name has a dot, which the VCL's ban escapes.
func TestVarnishShieldBan(t *testing.T) {
	requireShieldTools(t, "ffmpeg", "varnishd")
	const name = "cdn.ban"
	vaddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	a := startCDNApp(t, purge.Config{Name: "varnish-ban", Type: purge.TypeVarnish, URL: "http://" + vaddr, Mode: purge.VarnishBan})
	counter := newOriginCounter(t, a.base)
	v := startVarnish(t, vaddr, counter.addr())
	c := newViewerClient(t)
	base := v.base + "/live/" + name + "/"

	pub := publish(t, a.rtmpURL+name, 120)
	waitFor(t, a, name, 20*time.Second, "three segments", threeSegments)
	if code, _, _ := get(t, a.base+"/live/"+name+"/v0.m3u8"); code != http.StatusForbidden {
		t.Errorf("the origin answers %d without its secret, want 403", code)
	}
	media := checkCached(t, c, base+"v0.m3u8")
	segs := reSeg.FindAllString(media, -1)
	if len(segs) == 0 {
		t.Fatalf("no segment in the media playlist:\n%s", media)
	}
	seg := segs[len(segs)-1]
	checkCached(t, c, base+seg)

	// A manual purge of one path (PURGE of the URL): the next GET is a
	// miss.
	ok := metricValue(t, a, purgeOK("varnish-ban"))
	if code, body := adminDo(t, a, http.MethodPost, "/api/v1/purge", `{"stream": "`+name+`", "paths": ["/live/`+name+`/`+seg+`"]}`); code != http.StatusAccepted {
		t.Fatalf("manual purge: %d %s", code, body)
	}
	waitPurges(t, a, "varnish-ban", ok+1, "manual purge")
	if _, h, _ := shieldGet(t, c, base+seg); h.Get("X-Cache") != "MISS" {
		t.Errorf("%s after its purge: X-Cache %s, want MISS", seg, h.Get("X-Cache"))
	}
	if n := counter.count("/live/" + name + "/" + seg); n != 2 {
		t.Errorf("%s reached the origin %d times, want twice (before and after its purge)", seg, n)
	}

	endStream(t, a, c, base, pub, "varnish-ban")
	// The ban of the manifests left the segments.
	if _, h, _ := shieldGet(t, c, base+seg); !strings.HasPrefix(h.Get("X-Cache"), "HIT") {
		t.Errorf("%s after the ban of the manifests: X-Cache %s, want a hit", seg, h.Get("X-Cache"))
	}

	checkCached(t, c, base+"v0.m3u8")
	settle(t, c, base+"v0.m3u8")
	takeDown(t, a, c, base, name, "varnish-ban", seg, "v0.m3u8")
	checkOriginSecret(t, a, counter)
}

// nginx in front of liveorigin (deploy/cdn/nginx): playback, and one origin
// request for 50 clients at once on a new segment, on the preload-hinted
// part and on the segment being produced.
func TestNginxShield(t *testing.T) {
	requireShieldTools(t, "ffmpeg", "nginx")
	const name = "edge"
	a := startCDNApp(t)
	counter := newOriginCounter(t, a.base)
	n := startNginx(t, counter.addr())
	c := newViewerClient(t)
	base := n.base + "/live/" + name + "/"

	publish(t, a.rtmpURL+name, 60)
	waitFor(t, a, name, 20*time.Second, "three segments", threeSegments)
	if code, _, _ := get(t, a.base+"/live/"+name+"/v0.m3u8"); code != http.StatusForbidden {
		t.Errorf("the origin answers %d without its secret, want 403", code)
	}
	if frames := play(t, base+"index.m3u8", 5); frames < 5*30*8/10 {
		t.Errorf("ffmpeg decoded %d frames through nginx in 5 s", frames)
	}
	checkCached(t, c, base+"v0.m3u8")

	// A segment nobody has asked for yet: the next one to complete.
	newest := func(tl *packager.Timeline) uint64 {
		s := video(t, tl).Segments
		return s[len(s)-1].Start
	}
	last := newest(waitFor(t, a, name, time.Second, "segments", threeSegments))
	tl := waitFor(t, a, name, 5*time.Second, "a new segment", func(tl *packager.Timeline) bool {
		return newest(tl) > last && video(t, tl).NextPart != ""
	})
	vt := video(t, tl)
	seg := fmt.Sprintf("/live/%s/v0/%d.m4s", name, vt.Segments[len(vt.Segments)-1].Start)
	hint := "/live/" + name + "/v0/" + vt.NextPart
	grow := fmt.Sprintf("/live/%s/v0/%d.m4s", name, vt.PendingStart)
	answers := burst(c, []string{n.base + seg, n.base + hint, n.base + grow}, 50)
	for _, uri := range []string{seg, hint, grow} {
		checkBurst(t, counter, uri, answers[n.base+uri])
	}
	checkOriginSecret(t, a, counter)
}
