package rtmp

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/liveorigin/liveorigin/origin"
	"github.com/liveorigin/liveorigin/packager"
)

// This file checks enhanced RTMP (the FourCC ex-header OBS 30+ sends for
// HEVC and AV1) end to end through the real components: the RTMP Server,
// the packager's Registry and the origin, read back over HTTP the way a
// player does, with ffprobe decoding what the origin serves. Debian's
// ffmpeg 5.1 cannot send HEVC or AV1 in FLV, so the publisher is go-rtmp's
// client with tags built from the samples in testdata.

const ffprobePath = "/usr/bin/ffprobe"

// The published timeline: 30 fps video whose sample files are looped, each
// loop starting with the file's first (key) frame, and the AAC frames of
// h264_aac.flv looped alongside. With a 1 s segment target and the loops
// of 10 (HEVC) and 5 (AV1) frames, every segment starts at a loop start and
// holds exactly e2eFramesPerSegment frames. For HEVC that start is the IDR
// picture, not the open-GOP CRA that follows it in hevc.mp4: decoded on
// its own, a segment starting at that CRA would lose the four RASL pictures
// after it, and the frame count would not add up.
const (
	e2eFPS              = 30
	e2eSegmentTarget    = time.Second
	e2eFramesPerSegment = 30
	e2eSegments         = 2 // closed video segments: one more key frame closes the last
)

// TestEnhancedRTMPEndToEnd publishes HEVC or AV1 over enhanced RTMP with
// AAC (legacy FLV audio, as OBS sends it) and checks the HLS multivariant
// and media playlists, the DASH MPD, and that ffprobe decodes every video
// segment (behind its init segment) as the codec, picture size and number
// of frames that were sent.
func TestEnhancedRTMPEndToEnd(t *testing.T) {
	if _, err := exec.LookPath(ffprobePath); err != nil {
		t.Skipf("%s not installed (the Makefile installs ffmpeg): %v", ffprobePath, err)
	}
	for _, tc := range []struct {
		file, fourCC string
		codecString  string // CODECS entry, Representation@codecs
		probeCodec   string // ffprobe's codec_name
	}{
		{"hevc.mp4", "hvc1", "hvc1.1.6.L60.90", "hevc"},
		{"av1.mp4", "av01", "av01.0.00M.08.0.110.02.02.02.0", "av1"},
	} {
		t.Run(tc.fourCC, func(t *testing.T) {
			p := startPipeline(t)
			name := "ertmp-" + tc.fourCC
			c := publish(t, p.rtmp.addr, "live", name)
			c.sendFLV(t, enhancedTimeline(t, tc.file, tc.fourCC))

			// Every track has its closed segments: the playlists are complete.
			p.waitTimeline(t, name, "all segments", func(tl *packager.Timeline) bool {
				for _, tt := range tl.Tracks {
					if len(tt.Segments) < e2eSegments {
						return false
					}
				}
				return len(tl.Tracks) == 2
			})

			h := &httpGetter{t: t, c: p.http.Client(), base: p.http.URL + "/live/" + name + "/"}
			video, audio := h.multivariant(tc.codecString+",mp4a.40.2", "320x240")
			vpl := h.mediaPlaylist(video)
			apl := h.mediaPlaylist(audio)
			if len(vpl.segments) != e2eSegments {
				t.Fatalf("%s lists %d segments, want %d", video, len(vpl.segments), e2eSegments)
			}
			for _, d := range vpl.durations {
				if d != "1.000" {
					t.Errorf("%s EXTINF %v, want 1.000 (%d frames at %d fps)", video, vpl.durations, e2eFramesPerSegment, e2eFPS)
					break
				}
			}
			h.mpd(tc.codecString, vpl.init, apl.init)

			vinit := h.get(vpl.init)
			for _, uri := range vpl.segments {
				seg := h.get(uri)
				if n := trunSamples(t, seg); n != e2eFramesPerSegment {
					t.Errorf("%s holds %d samples, want the %d frames sent", uri, n, e2eFramesPerSegment)
				}
				got := ffprobe(t, vinit, seg)
				want := probeStream{CodecName: tc.probeCodec, CodecTag: tc.fourCC, Width: 320, Height: 240,
					ReadFrames: strconv.Itoa(e2eFramesPerSegment)}
				if got != want {
					t.Errorf("ffprobe %s: %+v, want %+v", uri, got, want)
				}
			}
			ainit := h.get(apl.init)
			for _, uri := range apl.segments {
				seg := h.get(uri)
				got := ffprobe(t, ainit, seg)
				want := probeStream{CodecName: "aac", CodecTag: "mp4a", ReadFrames: strconv.Itoa(trunSamples(t, seg))}
				if got != want {
					t.Errorf("ffprobe %s: %+v, want %+v", uri, got, want)
				}
			}

			if err := c.unpublish(); err != nil {
				t.Fatal(err)
			}
			_ = c.cc.Close()
			if e := p.rtmp.nextEnd(t); e.reason != "" || e.cause != nil {
				t.Errorf("connection ended with %q: %v", e.reason, e.cause)
			}
		})
	}
}

// pipeline is an RTMP Server publishing into a real Registry, and an origin
// serving that Registry over HTTP.
type pipeline struct {
	reg  *packager.Registry
	rtmp *testServer
	http *httptest.Server
}

// startPipeline starts the three; the test's cleanup closes them in order:
// the origin, the RTMP server (ending the sessions), the Registry.
func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	reg, err := packager.NewRegistry(packager.Options{SegmentTarget: e2eSegmentTarget, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	p := &pipeline{reg: reg, rtmp: startServer(t, Options{Publisher: reg})}
	o, err := origin.New(origin.Options{Streams: reg, SegmentTarget: e2eSegmentTarget, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p.http = httptest.NewServer(o.Handler())
	t.Cleanup(p.http.Close)
	return p
}

// waitTimeline waits until the stream exists (polled: the Registry has no
// event for a new name) and then, on its snapshots' Changed, until cond
// holds.
func (p *pipeline) waitTimeline(t *testing.T, name, what string, cond func(*packager.Timeline) bool) *packager.Timeline {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		tl, err := p.reg.Timeline(name)
		switch {
		case errors.Is(err, packager.ErrNotFound):
			select {
			case <-tick.C:
				continue
			case <-deadline.C:
				t.Fatalf("stream %s never appeared", name)
			}
		case err != nil:
			t.Fatal(err)
		case cond(tl):
			return tl
		}
		select {
		case <-tl.Changed():
		case <-deadline.C:
			held := ""
			for _, tt := range tl.Tracks {
				held += fmt.Sprintf(" %s: %d segments", tt.Name, len(tt.Segments))
			}
			t.Fatalf("timed out waiting for %s of stream %s; held%s", what, name, held)
		}
	}
}

// enhancedTimeline is what an enhanced-RTMP encoder sends: onMetaData with
// the FourCC as videocodecid, the HEVC or AV1 sequence start, the AAC
// sequence header, then video and audio frames interleaved by timestamp,
// e2eSegments segments' worth and the key frame that closes the last.
func enhancedTimeline(t *testing.T, file, fourCC string) []flvTag {
	t.Helper()
	rec, samples := readMP4Video(t, file)
	if !samples[0].key || e2eFramesPerSegment%len(samples) != 0 {
		t.Fatalf("%s: %d samples; the loops must start with a key frame and fill a segment", file, len(samples))
	}
	_, aacConfig := flvConfigs(t)
	var aacFrames [][]byte
	for _, tag := range readFLV(t, "h264_aac.flv") {
		if tag.typ == 8 && tag.body[1] == 1 {
			aacFrames = append(aacFrames, tag.body)
		}
	}
	meta := join(amfStr("onMetaData"), amfObj(amfObject,
		prop("videocodecid", amfNum(fourCCNum(fourCC))), prop("audiocodecid", amfNum(soundFormatAAC)),
		prop("width", amfNum(320)), prop("height", amfNum(240)), prop("framerate", amfNum(e2eFPS))))
	tags := []flvTag{
		{typ: 18, body: meta},
		{typ: 9, body: exSequenceStartTag(fourCC, rec)},
		{typ: 8, body: aacConfig},
	}

	var media []flvTag
	frames := e2eSegments*e2eFramesPerSegment + 1
	for g := range frames {
		s := samples[g%len(samples)]
		dts := int64(g) * 1000 / e2eFPS
		smp := mp4Sample{dts: dts, pts: dts + s.pts - s.dts, key: s.key, data: s.data}
		media = append(media, flvTag{typ: 9, ts: uint32(dts), body: exFrameTag(fourCC, smp)})
	}
	// Audio runs a little past the last video frame, so that an audio frame
	// at or after the video's last cut closes the audio's last segment.
	end := int64(frames)*1000/e2eFPS + 50
	for k := 0; ; k++ {
		ts := int64(k) * 1024 * 1000 / 44100 // AAC: 1024 samples per frame at 44.1 kHz
		if ts > end {
			break
		}
		media = append(media, flvTag{typ: 8, ts: uint32(ts), body: aacFrames[k%len(aacFrames)]})
	}
	sort.SliceStable(media, func(i, j int) bool { return media[i].ts < media[j].ts })
	return append(tags, media...)
}

// httpGetter fetches playback objects relative to a stream's base URL.
type httpGetter struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (h *httpGetter) get(rel string) []byte {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+rel, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET %s: %v", rel, err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %s\n%s", rel, resp.Status, body)
	}
	return body
}

var (
	hlsCodecs     = regexp.MustCompile(`[:,]CODECS="([^"]*)"`)
	hlsResolution = regexp.MustCompile(`[:,]RESOLUTION=([0-9]+x[0-9]+)`)
	hlsURI        = regexp.MustCompile(`[:,]URI="([^"]*)"`)
)

// multivariant checks index.m3u8's one variant stream and returns the URIs
// of the video and the audio media playlists.
func (h *httpGetter) multivariant(codecs, resolution string) (video, audio string) {
	h.t.Helper()
	lines := strings.Split(string(h.get("index.m3u8")), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "#EXT-X-STREAM-INF:") && i+1 < len(lines):
			if video != "" {
				h.t.Fatalf("index.m3u8 has more than one variant stream:\n%s", strings.Join(lines, "\n"))
			}
			video = lines[i+1]
			if m := hlsCodecs.FindStringSubmatch(l); m == nil || m[1] != codecs {
				h.t.Errorf("index.m3u8: %s\nwant CODECS=%q", l, codecs)
			}
			if m := hlsResolution.FindStringSubmatch(l); m == nil || m[1] != resolution {
				h.t.Errorf("index.m3u8: %s\nwant RESOLUTION=%s", l, resolution)
			}
		case strings.HasPrefix(l, "#EXT-X-MEDIA:TYPE=AUDIO"):
			if m := hlsURI.FindStringSubmatch(l); m != nil {
				audio = m[1]
			}
		}
	}
	if video == "" || audio == "" {
		h.t.Fatalf("index.m3u8 lacks a variant stream or its audio rendition:\n%s", strings.Join(lines, "\n"))
	}
	return video, audio
}

// mediaPlaylist is what a test needs of a media playlist, with URIs
// relative to the stream's base URL.
type mediaPlaylist struct {
	init      string
	segments  []string
	durations []string // EXTINF
}

func (h *httpGetter) mediaPlaylist(uri string) mediaPlaylist {
	h.t.Helper()
	var pl mediaPlaylist
	for _, l := range strings.Split(string(h.get(uri)), "\n") {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MAP:"):
			if pl.init != "" {
				h.t.Errorf("%s: a second EXT-X-MAP within one period: %s", uri, l)
			}
			if m := hlsURI.FindStringSubmatch(l); m != nil {
				pl.init = m[1]
			}
		case strings.HasPrefix(l, "#EXTINF:"):
			d, _, _ := strings.Cut(strings.TrimPrefix(l, "#EXTINF:"), ",")
			pl.durations = append(pl.durations, d)
		case l != "" && !strings.HasPrefix(l, "#"):
			pl.segments = append(pl.segments, l)
		}
	}
	if pl.init == "" || len(pl.segments) == 0 {
		h.t.Fatalf("%s has no EXT-X-MAP or no segment", uri)
	}
	return pl
}

// mpd checks manifest.mpd's Representations: codecs, picture size and the
// init segments, which must be the ones HLS maps.
func (h *httpGetter) mpd(videoCodec, videoInit, audioInit string) {
	h.t.Helper()
	var doc struct {
		Periods []struct {
			AdaptationSets []struct {
				ContentType     string `xml:"contentType,attr"`
				SegmentTemplate struct {
					Initialization string `xml:"initialization,attr"`
				} `xml:"SegmentTemplate"`
				Representations []struct {
					ID     string `xml:"id,attr"`
					Codecs string `xml:"codecs,attr"`
					Width  int    `xml:"width,attr"`
					Height int    `xml:"height,attr"`
				} `xml:"Representation"`
			} `xml:"AdaptationSet"`
		} `xml:"Period"`
	}
	body := h.get("manifest.mpd")
	if err := xml.Unmarshal(body, &doc); err != nil {
		h.t.Fatalf("manifest.mpd: %v\n%s", err, body)
	}
	if len(doc.Periods) != 1 || len(doc.Periods[0].AdaptationSets) != 2 {
		h.t.Fatalf("manifest.mpd: want one Period with two AdaptationSets:\n%s", body)
	}
	type rep struct {
		contentType, id, codecs, init string
		width, height                 int
	}
	var got []rep
	for _, as := range doc.Periods[0].AdaptationSets {
		for _, r := range as.Representations {
			got = append(got, rep{as.ContentType, r.ID, r.Codecs, as.SegmentTemplate.Initialization, r.Width, r.Height})
		}
	}
	want := []rep{
		{"video", "v0", videoCodec, videoInit, 320, 240},
		{"audio", "a0", "mp4a.40.2", audioInit, 0, 0},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		h.t.Errorf("manifest.mpd Representations %+v, want %+v\n%s", got, want, body)
	}
}

// trunSamples counts the samples of a media segment.
func trunSamples(t *testing.T, seg []byte) int {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(seg))
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	n := 0
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			for _, traf := range frag.Moof.Trafs {
				for _, trun := range traf.Truns {
					n += int(trun.SampleCount())
				}
			}
		}
	}
	return n
}

// probeStream is what ffprobe reports of the one stream of a file.
type probeStream struct {
	CodecName     string `json:"codec_name"`
	CodecTag      string `json:"codec_tag_string"`
	Width, Height int
	ReadFrames    string `json:"nb_read_frames"`
}

// ffprobe decodes an init segment followed by a media segment, as a player
// does, and reports the stream. Any decoder complaint fails the test.
func ffprobe(t *testing.T, init, seg []byte) probeStream {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe.mp4")
	if err := os.WriteFile(path, append(append([]byte(nil), init...), seg...), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ffprobePath, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_name,codec_tag_string,width,height,nb_read_frames", "-of", "json", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe complained:\n%s", stderr.Bytes())
	}
	var out struct{ Streams []probeStream }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("ffprobe output %s: %v", stdout.Bytes(), err)
	}
	if len(out.Streams) != 1 {
		t.Fatalf("ffprobe found %d streams, want 1: %s", len(out.Streams), stdout.Bytes())
	}
	return out.Streams[0]
}
