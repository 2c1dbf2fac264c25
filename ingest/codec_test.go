package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "update golden files")

// readTestdata reads a configuration generated with ffmpeg (see
// testdata/README.md).
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configCases are real codec configurations. They also seed
// FuzzTrackFromConfig.
var configCases = []struct {
	name  string
	file  string
	build func([]byte, uint32) (Track, error)
}{
	{"h264 high 720p", "h264_high_720p.avcC", H264TrackFromConfig},
	{"h264 baseline 240p", "h264_baseline_240p.avcC", H264TrackFromConfig},
	{"h265 main 360p", "h265_main_360p.hvcC", H265TrackFromConfig},
	{"av1 main 240p", "av1_main_240p.av1C", AV1TrackFromConfig},
	{"aac-lc 44.1k stereo", "aac_lc_44100_stereo.asc", AACTrack},
	{"aac-lc 48k stereo", "aac_lc_48000_stereo.asc", AACTrack},
	{"aac-lc 48k mono", "aac_lc_48000_mono.asc", AACTrack},
	{"he-aac 48k mono", "he_aac_v1_48000_mono.asc", AACTrack},
	{"he-aacv2 48k stereo", "he_aac_v2_48000_stereo.asc", AACTrack},
}

// TestTrackFromConfig checks the Track built from each real configuration
// against testdata/golden/tracks.json (go test -update rewrites it), and a
// few fields by hand so that a wrong golden file cannot pass unnoticed.
func TestTrackFromConfig(t *testing.T) {
	got := map[string]Track{}
	for _, tc := range configCases {
		tr, err := tc.build(readTestdata(t, tc.file), 1000)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got[tc.name] = tr
	}
	spot := []struct {
		name, codecString     string
		w, h, rate, ch, frame int
	}{
		{"h264 high 720p", "avc1.64001F", 1280, 720, 0, 0, 0},
		{"h265 main 360p", "hvc1.1.6.L63.90", 640, 360, 0, 0, 0},
		{"av1 main 240p", "av01.0.00M.08.0.110.02.02.02.0", 320, 240, 0, 0, 0},
		{"aac-lc 44.1k stereo", "mp4a.40.2", 0, 0, 44100, 2, 1024},
		{"he-aac 48k mono", "mp4a.40.5", 0, 0, 48000, 1, 2048},
		{"he-aacv2 48k stereo", "mp4a.40.29", 0, 0, 48000, 2, 2048},
	}
	for _, s := range spot {
		tr := got[s.name]
		if tr.CodecString != s.codecString || tr.Width != s.w || tr.Height != s.h || tr.SampleRate != s.rate || tr.Channels != s.ch ||
			tr.FrameSamples != s.frame {
			t.Errorf("%s: got %s %dx%d %d Hz %d ch %d samples/frame, want %s %dx%d %d Hz %d ch %d samples/frame", s.name,
				tr.CodecString, tr.Width, tr.Height, tr.SampleRate, tr.Channels, tr.FrameSamples,
				s.codecString, s.w, s.h, s.rate, s.ch, s.frame)
		}
	}
	checkGolden(t, "tracks.json", got)
}

func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the golden file; run go test -update and review the diff.\ngot:\n%s", path, b)
	}
}

// TestH264ConfigLengthSize: FLV encoders may declare 1- or 2-byte NALU
// lengths, which mp4ff's DecodeAVCDecConfRec rejects; we must not.
func TestH264ConfigLengthSize(t *testing.T) {
	base := readTestdata(t, "h264_high_720p.avcC")
	want, err := H264TrackFromConfig(base, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 2, 3, 4} {
		b := bytes.Clone(base)
		b[4] = 0xfc | byte(size-1)
		n, err := H264ConfigLengthSize(b)
		if err != nil || n != size {
			t.Errorf("length size %d: got %d, %v", size, n, err)
		}
		tr, err := H264TrackFromConfig(b, 1000)
		if err != nil {
			t.Errorf("length size %d: %v", size, err)
			continue
		}
		if tr.CodecString != want.CodecString || !bytes.Equal(tr.SPS[0], want.SPS[0]) || !bytes.Equal(tr.PPS[0], want.PPS[0]) {
			t.Errorf("length size %d: track differs: %+v", size, tr)
		}
	}
	hb := bytes.Clone(readTestdata(t, "h265_main_360p.hvcC"))
	hb[21] = hb[21]&^3 | 1
	if n, err := H265ConfigLengthSize(hb); err != nil || n != 2 {
		t.Errorf("h265 length size: got %d, %v, want 2", n, err)
	}
	if _, err := H265TrackFromConfig(hb, 1000); err != nil {
		t.Errorf("h265 with 2-byte lengths: %v", err)
	}
}

// TestTrackCopiesConfig: adapters read into reused buffers, so a Track must
// not alias its input.
func TestTrackCopiesConfig(t *testing.T) {
	b := bytes.Clone(readTestdata(t, "h264_high_720p.avcC"))
	tr, err := H264TrackFromConfig(b, 1000)
	if err != nil {
		t.Fatal(err)
	}
	sps := bytes.Clone(tr.SPS[0])
	for i := range b {
		b[i] = 0
	}
	if !bytes.Equal(tr.SPS[0], sps) {
		t.Error("Track.SPS aliases the configuration record")
	}
	asc := []byte{0x12, 0x10}
	at, err := AACTrack(asc, 1000)
	if err != nil {
		t.Fatal(err)
	}
	asc[0] = 0
	if at.AudioSpecificConfig[0] != 0x12 {
		t.Error("Track.AudioSpecificConfig aliases its input")
	}
}

// badConfigs are malformed or unsupported configurations with the error
// they must give. They also seed FuzzTrackFromConfig.
var badConfigs = []struct {
	name        string
	build       func([]byte, uint32) (Track, error)
	in          []byte
	wantErr     string
	unsupported bool
}{
	{"avcC empty", H264TrackFromConfig, nil, "h264: avcC: 0 bytes", false},
	{"avcC version 0", H264TrackFromConfig, []byte{0, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}, "configurationVersion 0", false},
	{"avcC SPS length lies", H264TrackFromConfig, []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0x10, 0, 0x67}, "h264: avcC: truncated", false},
	{"avcC no SPS", H264TrackFromConfig, []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 1, 0, 2, 0x68, 0xee}, "h264: no SPS", false},
	{"avcC no PPS", H264TrackFromConfig, []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 0}, "h264: no PPS", false},
	{"avcC SPS is a PPS", H264TrackFromConfig, []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x68, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee}, "h264: SPS 0 is not an SPS", false},
	{"avcC garbage SPS", H264TrackFromConfig, []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0xff, 0xff, 0xff, 1, 0, 2, 0x68, 0xee}, "h264: ", false},
	{"hvcC short", H265TrackFromConfig, []byte{1, 1, 0x60}, "h265: hvcC: 3 bytes", false},
	{"hvcC array lies", H265TrackFromConfig, append(make([]byte, 0, 30), 1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x3f, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 1, 0x20, 0, 1, 0xff, 0xff), "h265: hvcC: truncated", false},
	{"hvcC no VPS", H265TrackFromConfig, append(make([]byte, 0, 30), 1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x3f, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0), "h265: no VPS", false},
	{"av1C bad marker", AV1TrackFromConfig, []byte{0x01, 0, 0x0c, 0}, "av1: av1C: ", false},
	{"av1C without sequence header", AV1TrackFromConfig, []byte{0x81, 0, 0x0c, 0}, "av1: av1C sequence header", false},
	{"av1C lying OBU size", AV1TrackFromConfig, []byte{0x81, 0, 0x0c, 0, 0x0a, 0x7f, 0}, "av1: av1C sequence header", false},
	{"asc short", AACTrack, []byte{0x12}, "aac: AudioSpecificConfig: 1 bytes", false},
	{"asc with trailing garbage", AACTrack, append([]byte{0x11, 0x90}, make([]byte, 100)...), "aac: AudioSpecificConfig: 102 bytes", false},
	{"asc AAC Main", AACTrack, []byte{0x0a, 0x10}, "audio object type 1", true},
	{"asc channel config 0", AACTrack, []byte{0x12, 0x00}, "channel configuration 0", true},
	{"asc bad frequency index", AACTrack, []byte{0x16, 0x90}, "aac: AudioSpecificConfig: ", false},
	{"asc SBR at 4x the core rate", AACTrack, []byte{0x2b, 0x08, 0x08, 0x00}, "SBR rate 96000 Hz is neither", true},
	{"opus head short", OpusTrackFromHead, []byte("OpusHead"), "opus: OpusHead: 8 bytes", false},
	{"opus head bad magic", OpusTrackFromHead, []byte("OpusTags\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), "magic", false},
	{"opus 6 channels", OpusTrackFromHead, []byte("OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01"), "channel mapping family 1", true},
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build(tc.in, 1000)
			if err == nil {
				t.Fatalf("no error, want %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrUnsupportedCodec); got != tc.unsupported {
				t.Errorf("errors.Is(%q, ErrUnsupportedCodec) = %v, want %v", err, got, tc.unsupported)
			}
		})
	}
}

func TestClockRateZero(t *testing.T) {
	for _, tc := range configCases {
		if _, err := tc.build(readTestdata(t, tc.file), 0); err == nil || !strings.Contains(err.Error(), "clock rate is 0") {
			t.Errorf("%s: got %v, want a clock rate error", tc.name, err)
		}
	}
}

// TestAACDownsampledSBR: HE-AAC whose SBR rate equals the core rate
// (downsampled SBR) outputs at the core rate, 1024 samples per frame.
func TestAACDownsampledSBR(t *testing.T) {
	tr, err := AACTrack([]byte{0x29, 0x89, 0x88, 0x00}, 1000) // AOT 5, 48 kHz core, mono, 48 kHz SBR
	if err != nil {
		t.Fatal(err)
	}
	if tr.SampleRate != 48000 || tr.FrameSamples != 1024 || tr.CodecString != "mp4a.40.5" {
		t.Errorf("got %s %d Hz %d samples/frame, want mp4a.40.5 48000 Hz 1024", tr.CodecString, tr.SampleRate, tr.FrameSamples)
	}
}

func TestOpusTrack(t *testing.T) {
	head := []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	tr, err := OpusTrackFromHead(head, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// FrameSamples 0: each Opus packet gives its own duration (OpusPacketSamples).
	want := Track{Kind: Audio, Codec: Opus, ClockRate: 1000, CodecString: "opus", SampleRate: 48000, Channels: 2, OpusPreSkip: 312}
	if tr.Kind != want.Kind || tr.Codec != want.Codec || tr.CodecString != want.CodecString ||
		tr.SampleRate != want.SampleRate || tr.Channels != want.Channels || tr.OpusPreSkip != want.OpusPreSkip ||
		tr.FrameSamples != 0 {
		t.Errorf("got %+v, want %+v", tr, want)
	}
	if _, err := OpusTrack(3, 0, 1000); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("3 channels: got %v, want ErrUnsupportedCodec", err)
	}
	if _, err := OpusTrack(0, 0, 1000); err == nil {
		t.Error("0 channels: no error")
	}
}

func TestH264Track(t *testing.T) {
	ref, err := H264TrackFromConfig(readTestdata(t, "h264_high_720p.avcC"), 90000)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := H264Track(ref.SPS, ref.PPS, 90000)
	if err != nil {
		t.Fatal(err)
	}
	if tr.CodecString != "avc1.64001F" || tr.Width != 1280 || tr.Height != 720 || tr.ClockRate != 90000 {
		t.Errorf("got %+v", tr)
	}
	if _, err := H264Track(ref.PPS, ref.PPS, 90000); err == nil {
		t.Error("PPS as SPS: no error")
	}
	h, err := H265TrackFromConfig(readTestdata(t, "h265_main_360p.hvcC"), 90000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := H265Track(h.VPS, h.SPS, h.PPS, 90000); err != nil {
		t.Error(err)
	}
	if _, err := H265Track(h.SPS, h.SPS, h.PPS, 90000); err == nil || !strings.Contains(err.Error(), "VPS 0 is not a VPS") {
		t.Errorf("SPS as VPS: got %v", err)
	}
}

// FuzzTrackFromConfig feeds bytes to every configuration parser: none may
// panic, and a Track they accept must be usable.
func FuzzTrackFromConfig(f *testing.F) {
	for _, tc := range configCases {
		f.Add(readTestdata(f, tc.file))
	}
	for _, tc := range badConfigs {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, build := range []func([]byte, uint32) (Track, error){
			H264TrackFromConfig, H265TrackFromConfig, AV1TrackFromConfig, AACTrack, OpusTrackFromHead,
		} {
			tr, err := build(b, 1000)
			if err != nil {
				continue
			}
			if tr.CodecString == "" || tr.Kind != tr.Codec.Kind() {
				t.Errorf("accepted track without codec string or with a wrong kind: %+v", tr)
			}
			if tr.Kind == Video && (tr.Width <= 0 || tr.Height <= 0) {
				t.Errorf("accepted video track of %dx%d", tr.Width, tr.Height)
			}
			if tr.Kind == Audio && (tr.SampleRate <= 0 || tr.Channels <= 0) {
				t.Errorf("accepted audio track of %d Hz, %d channels", tr.SampleRate, tr.Channels)
			}
			if tr.Codec == AAC && tr.FrameSamples <= 0 || tr.Codec == Opus && tr.FrameSamples != 0 {
				t.Errorf("accepted %s track with %d samples per frame", tr.Codec, tr.FrameSamples)
			}
		}
	})
}
