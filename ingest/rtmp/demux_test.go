package rtmp

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// recorder is a session for demuxer unit tests.
type recorder struct {
	starts   [][]ingest.Track
	aus      []ingest.AccessUnit
	startErr error
	writeErr error
}

func (r *recorder) Start(tracks []ingest.Track) error {
	if r.startErr != nil {
		return r.startErr
	}
	r.starts = append(r.starts, tracks)
	return nil
}

func (r *recorder) WriteAU(au ingest.AccessUnit) error {
	if r.writeErr != nil {
		return r.writeErr
	}
	r.aus = append(r.aus, au)
	return nil
}

// flvConfigs returns the AVC and AAC sequence header tags of the test FLV.
func flvConfigs(t testing.TB) (avc, aac []byte) {
	for _, tag := range readFLV(t, "h264_aac.flv") {
		switch {
		case tag.typ == 9 && tag.body[1] == 0 && avc == nil:
			avc = tag.body
		case tag.typ == 8 && tag.body[1] == 0 && aac == nil:
			aac = tag.body
		}
	}
	if avc == nil || aac == nil {
		t.Fatal("test FLV lacks sequence headers")
	}
	return avc, aac
}

// Frames with valid 4-byte length NAL units.
var (
	idrTag   = cat("17 01 000000", "00000002 6588")
	interTag = cat("27 01 000000", "00000002 4188")
	aacFrame = cat("af 01 2110")
)

type demuxStep struct {
	video, audio bool
	meta         *metaData
	ts           uint32
	body         []byte
}

func vtag(ts uint32, b []byte) demuxStep { return demuxStep{video: true, ts: ts, body: b} }
func atag(ts uint32, b []byte) demuxStep { return demuxStep{audio: true, ts: ts, body: b} }
func meta(v, a string) demuxStep {
	md := metaData{}
	if v != "" {
		md.video = codecHint{present: true, codec: videoCodecIDs[v], id: v}
	}
	if a != "" {
		md.audio = codecHint{present: true, codec: audioCodecIDs[a], id: a}
	}
	return demuxStep{meta: &md}
}

func runDemux(t *testing.T, r *recorder, steps []demuxStep) error {
	t.Helper()
	d := newDemuxer(r, time.Second, slog.New(slog.DiscardHandler))
	for _, s := range steps {
		var err error
		switch {
		case s.meta != nil:
			d.onMetaData(*s.meta)
		case s.video:
			err = d.onVideo(s.ts, s.body)
		case s.audio:
			err = d.onAudio(s.ts, s.body)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// trackKinds summarises a Start call: "va" for video then audio.
func trackKinds(tracks []ingest.Track) string {
	s := ""
	for _, t := range tracks {
		s += t.Kind.String()[:1]
	}
	return s
}

func TestDemuxStart(t *testing.T) {
	avc, aac := flvConfigs(t)
	for _, tc := range []struct {
		name   string
		steps  []demuxStep
		starts []string // kinds of each Start call
		aus    int      // access units written
	}{
		{"metadata audio+video", []demuxStep{meta("7", "10"), vtag(0, avc), atag(0, aac), vtag(0, idrTag), atag(10, aacFrame)}, []string{"va"}, 2},
		{"no metadata, both headers", []demuxStep{vtag(0, avc), atag(0, aac), atag(0, aacFrame), vtag(0, idrTag)}, []string{"va"}, 2},
		{"metadata declares video only", []demuxStep{meta("7", ""), vtag(0, avc), vtag(0, idrTag), vtag(33, interTag)}, []string{"v"}, 2},
		{"video only without metadata waits for the probe", []demuxStep{vtag(0, avc), vtag(0, idrTag), vtag(500, interTag), vtag(999, interTag)}, nil, 0},
		{"video only without metadata starts after the probe", []demuxStep{vtag(0, avc), vtag(0, idrTag), vtag(500, interTag), vtag(1000, interTag)}, []string{"v"}, 3},
		{"audio only without metadata", []demuxStep{atag(0, aac), atag(0, aacFrame), atag(1000, aacFrame), atag(1023, aacFrame)}, []string{"a"}, 3},
		{"declared audio never comes", []demuxStep{meta("7", "10"), vtag(0, avc), vtag(0, idrTag), vtag(1000, interTag), atag(1000, aac), atag(1001, aacFrame)}, []string{"v"}, 2},
		{"unsupported declared codec is not waited for", []demuxStep{meta("7", "2"), vtag(0, avc), vtag(0, idrTag)}, []string{"v"}, 1},
		{"metadata video only, audio header before the first frame", []demuxStep{meta("7", ""), vtag(0, avc), atag(0, aac), vtag(0, idrTag), atag(0, aacFrame)}, []string{"va"}, 2},
		{"frames before the sequence header are dropped", []demuxStep{vtag(0, idrTag), atag(0, aacFrame), vtag(0, avc), atag(0, aac), vtag(33, idrTag)}, []string{"va"}, 1},
		{"repeated sequence header", []demuxStep{vtag(0, avc), atag(0, aac), vtag(0, idrTag), vtag(33, avc), vtag(33, idrTag)}, []string{"va"}, 2},
		{"end of sequence and command frames ignored", []demuxStep{vtag(0, avc), atag(0, aac), vtag(0, cat("17 02 000000")), vtag(0, cat("57 00")), vtag(0, idrTag)}, []string{"va"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			if err := runDemux(t, r, tc.steps); err != nil {
				t.Fatal(err)
			}
			var starts []string
			for _, s := range r.starts {
				starts = append(starts, trackKinds(s))
			}
			if len(starts) != len(tc.starts) || (len(starts) > 0 && starts[0] != tc.starts[0]) {
				t.Errorf("Start calls %v, want %v", starts, tc.starts)
			}
			if len(r.aus) != tc.aus {
				t.Errorf("%d access units, want %d", len(r.aus), tc.aus)
			}
		})
	}
}

func TestDemuxAccessUnits(t *testing.T) {
	avc, aac := flvConfigs(t)
	r := &recorder{}
	err := runDemux(t, r, []demuxStep{
		meta("7", "10"), vtag(1000, avc), atag(1000, aac),
		vtag(1000, cat("17 01 000042", "00000002 0605 00000002 6588")), // SEI + IDR, cts 66
		atag(1010, aacFrame),
		vtag(1033, cat("27 01 000021", "00000002 4188")),
		vtag(1066, cat("17 01 000000", "00000002 4188")), // FLV says key, the NAL units say no
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ingest.AccessUnit{
		{Track: 0, DTS: 1000, PTS: 1066, Key: true, Data: cat("00000002 0605 00000002 6588")},
		{Track: 1, DTS: 1010, PTS: 1010, Key: true, Data: cat("2110")},
		{Track: 0, DTS: 1033, PTS: 1066, Key: false, Data: cat("00000002 4188")},
		{Track: 0, DTS: 1066, PTS: 1066, Key: false, Data: cat("00000002 4188")},
	}
	if len(r.aus) != len(want) {
		t.Fatalf("%d access units, want %d", len(r.aus), len(want))
	}
	for i, w := range want {
		g := r.aus[i]
		if g.Track != w.Track || g.DTS != w.DTS || g.PTS != w.PTS || g.Key != w.Key || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("AU %d = %+v, want %+v", i, g, w)
		}
	}
	v, a := r.starts[0][0], r.starts[0][1]
	if v.Codec != ingest.H264 || v.Width != 320 || v.ClockRate != 1000 || a.Codec != ingest.AAC || a.SampleRate != 44100 {
		t.Errorf("tracks %+v", r.starts[0])
	}
}

func TestDemuxNALULengthSize(t *testing.T) {
	avc, aac := flvConfigs(t)
	avc2 := bytes.Clone(avc)
	avc2[5+4] = 0xfd // lengthSizeMinusOne 1: 2-byte NALU lengths
	r := &recorder{}
	if err := runDemux(t, r, []demuxStep{vtag(0, avc2), atag(0, aac), vtag(0, cat("17 01 000000", "0002 0605 0002 6588"))}); err != nil {
		t.Fatal(err)
	}
	if len(r.aus) != 1 || !bytes.Equal(r.aus[0].Data, cat("00000002 0605 00000002 6588")) || !r.aus[0].Key {
		t.Errorf("AUs %+v, want one key frame with 4-byte lengths", r.aus)
	}
}

func TestDemuxConfigChange(t *testing.T) {
	avc, aac := flvConfigs(t)
	asc48 := cat("af 00 1190")
	r := &recorder{}
	if err := runDemux(t, r, []demuxStep{vtag(0, avc), atag(0, aac), vtag(0, idrTag), atag(5000, asc48), atag(5000, aacFrame)}); err != nil {
		t.Fatal(err)
	}
	if len(r.starts) != 2 {
		t.Fatalf("%d Start calls, want 2", len(r.starts))
	}
	if got := r.starts[1]; trackKinds(got) != "va" || got[1].SampleRate != 48000 || got[0].Codec != ingest.H264 {
		t.Errorf("second Start %+v", got)
	}
	if r.aus[len(r.aus)-1].Track != 1 {
		t.Error("audio after the change not on track 1")
	}
}

func TestDemuxTimestamps(t *testing.T) {
	avc, aac := flvConfigs(t)
	r := &recorder{}
	err := runDemux(t, r, []demuxStep{
		vtag(0xfffffff0, avc), atag(0xfffffff0, aac),
		vtag(0xfffffff0, idrTag),
		atag(0xfffffffa, aacFrame),
		vtag(0x00000010, interTag), // wrapped: 32 ms later
		vtag(0x0000000f, interTag), // 1 ms back: held at the previous DTS
	})
	if err != nil {
		t.Fatal(err)
	}
	var dts []int64
	for _, au := range r.aus {
		dts = append(dts, au.DTS)
	}
	want := []int64{0xfffffff0, 0xfffffffa, 0x100000010, 0x100000010}
	for i := range want {
		if i >= len(dts) || dts[i] != want[i] {
			t.Fatalf("DTS %x, want %x", dts, want)
		}
	}
	if r.aus[3].PTS < r.aus[3].DTS {
		t.Errorf("PTS %d before DTS %d", r.aus[3].PTS, r.aus[3].DTS)
	}
}

func TestDemuxPendingBound(t *testing.T) {
	avc, _ := flvConfigs(t)
	steps := []demuxStep{vtag(0, avc)}
	for i := 0; i < maxPendingAUs; i++ {
		steps = append(steps, vtag(0, idrTag)) // no time passes: only the bound starts the stream
	}
	r := &recorder{}
	if err := runDemux(t, r, steps); err != nil {
		t.Fatal(err)
	}
	if len(r.starts) != 1 || len(r.aus) != maxPendingAUs {
		t.Errorf("%d Start calls, %d AUs; want 1 and %d", len(r.starts), len(r.aus), maxPendingAUs)
	}
}

func TestDemuxErrors(t *testing.T) {
	avc, aac := flvConfigs(t)
	for _, tc := range []struct {
		name     string
		steps    []demuxStep
		rec      recorder
		reason   string
		contains string
	}{
		{"truncated tag", []demuxStep{vtag(0, cat("17 01 00"))}, recorder{}, reasonBadTag, "AVC header needs 5"},
		{"broken sequence header", []demuxStep{vtag(0, cat("17 00 000000 01 64 00"))}, recorder{}, reasonBadSequenceHeader, "video sequence header: h264"},
		{"unsupported AAC profile", []demuxStep{atag(0, cat("af 00 0a10"))}, recorder{}, reasonUnsupportedCodec, "audio object type 1"},
		{"unsupported codec", []demuxStep{vtag(0, cat("22 00"))}, recorder{}, reasonUnsupportedCodec, "Sorenson H.263"},
		{"lying NALU length", []demuxStep{vtag(0, avc), atag(0, aac), vtag(0, cat("17 01 000000 000000ff 65"))}, recorder{}, reasonBadTag, "exceeds"},
		{"codec switch without a header", []demuxStep{vtag(0, avc), vtag(0, cat("91", "'hvc1", "000000 00000001 26"))}, recorder{}, reasonBadTag, "h265 frame on a h264 stream"},
		{"Start fails", []demuxStep{vtag(0, avc), atag(0, aac), vtag(0, idrTag)}, recorder{startErr: ingest.ErrBadTracks}, reasonSession, "start"},
		{"WriteAU fails", []demuxStep{vtag(0, avc), atag(0, aac), vtag(0, idrTag)}, recorder{writeErr: ingest.ErrClosed}, reasonSession, "write video access unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rec
			err := runDemux(t, &r, tc.steps)
			var de *demuxError
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want a demuxError", err)
			}
			if de.reason != tc.reason || !bytes.Contains([]byte(err.Error()), []byte(tc.contains)) {
				t.Errorf("reason %q, error %q; want %q containing %q", de.reason, err, tc.reason, tc.contains)
			}
		})
	}
}

// BenchmarkDemuxVideoFrame measures the per-frame cost after the start: tag
// parsing, NAL unit framing, the copy the packager keeps, the key frame
// check.
func BenchmarkDemuxVideoFrame(b *testing.B) {
	avc, aac := flvConfigs(b)
	frame := append(cat("27 01 000021", "00007530"), make([]byte, 30000)...)
	frame[9] = 0x41 // a non-IDR slice NAL unit header
	r := &recorder{}
	d := newDemuxer(r, time.Second, slog.New(slog.DiscardHandler))
	for _, err := range []error{d.onVideo(0, avc), d.onAudio(0, aac), d.onVideo(0, idrTag)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	ts := uint32(0)
	for b.Loop() {
		ts += 33
		if err := d.onVideo(ts, frame); err != nil {
			b.Fatal(err)
		}
		r.aus = r.aus[:0]
	}
}
