package ingest

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var annexBCases = []struct {
	name string
	in   string
	h264 string // AnnexBToAVCC
	h265 string // AnnexBToHVCC
}{
	{"4-byte start codes", "00000001 6764 00000001 68ee 00000001 6588",
		"00000002 6764 00000002 68ee 00000002 6588", "00000002 6764 00000002 68ee 00000002 6588"},
	{"3-byte start codes", "000001 6764 000001 6588", "00000002 6764 00000002 6588", "00000002 6764 00000002 6588"},
	{"h264 AUD dropped", "00000001 09f0 00000001 6588", "00000002 6588", "00000002 09f0 00000002 6588"},
	{"h265 AUD dropped", "00000001 4601 50 00000001 2601 af", "00000003 460150 00000003 2601af", "00000003 2601af"},
	{"trailing zeros trimmed", "000001 658800 00 000001 41 00", "00000002 6588 00000001 41", "00000002 6588 00000001 41"},
	{"leading garbage ignored", "ffff 000001 6588", "00000002 6588", "00000002 6588"},
	{"no start code", "6588", "", ""},
	{"empty NALUs skipped", "000001 000001 000001 6588", "00000002 6588", "00000002 6588"},
	{"start code at end", "000001 6588 000001", "00000002 6588", "00000002 6588"},
}

func TestAnnexB(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.in)
			if got, want := AnnexBToAVCC(in), unhex(t, tc.h264); !bytes.Equal(got, want) {
				t.Errorf("AnnexBToAVCC = % x, want % x", got, want)
			}
			if got, want := AnnexBToHVCC(in), unhex(t, tc.h265); !bytes.Equal(got, want) {
				t.Errorf("AnnexBToHVCC = % x, want % x", got, want)
			}
		})
	}
}

var lengthPrefixedCases = []struct {
	name       string
	in         string
	lengthSize int
	want       string // NormalizeAVCC; "" with wantErr
	nalus      int
	wantErr    string
}{
	{"4-byte", "00000002 6588 00000001 41", 4, "00000002 6588 00000001 41", 2, ""},
	{"2-byte", "0002 6588 0001 41", 2, "00000002 6588 00000001 41", 2, ""},
	{"1-byte", "02 6588 01 41", 1, "00000002 6588 00000001 41", 2, ""},
	{"3-byte", "000002 6588", 3, "00000002 6588", 1, ""},
	{"empty NALU dropped", "00000000 00000001 41", 4, "00000001 41", 1, ""},
	{"empty input", "", 4, "", 0, ""},
	{"length lies", "00000010 6588", 4, "", 0, "NALU length 16 at byte 0 exceeds the 2 bytes left"},
	{"truncated length", "00000001 41 0000", 4, "", 0, "truncated NALU length at byte 5"},
	{"huge length", "ffffffff 41", 4, "", 0, "exceeds"},
	{"bad length size", "41", 5, "", 0, "NALU length size 5"},
	{"zero length size", "41", 0, "", 0, "NALU length size 0"},
}

func TestLengthPrefixed(t *testing.T) {
	for _, tc := range lengthPrefixedCases {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.in)
			got, err := NormalizeAVCC(in, tc.lengthSize)
			nalus, err2 := AVCCToNALUs(in, tc.lengthSize)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("NormalizeAVCC error %v, want %q", err, tc.wantErr)
				}
				if err2 == nil {
					t.Error("AVCCToNALUs: no error")
				}
				return
			}
			if err != nil || err2 != nil {
				t.Fatal(err, err2)
			}
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("NormalizeAVCC = % x, want % x", got, want)
			}
			if len(nalus) != tc.nalus {
				t.Errorf("AVCCToNALUs: %d NALUs, want %d", len(nalus), tc.nalus)
			}
			if len(in) > 0 && len(got) > 0 && &got[0] == &in[0] {
				t.Error("NormalizeAVCC aliases its input")
			}
		})
	}
}

func TestIsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		h264, h265 bool
	}{
		{"h264 IDR after SEI", "00000002 0605 00000002 6588", true, false},
		{"h264 non-IDR", "00000002 4188", false, false},
		{"h265 IDR_W_RADL", "00000003 2601af", false, true},
		{"h265 IDR_N_LP", "00000003 2801af", false, true},
		{"h265 CRA", "00000003 2a01af", false, true},
		{"h265 TRAIL_R", "00000003 0201af", false, false},
		{"h265 BLA not counted", "00000003 2001af", false, false},
		{"malformed", "000000ff 65", false, false},
		{"empty", "", false, false},
	} {
		in := unhex(t, tc.in)
		if got := IsH264Keyframe(in); got != tc.h264 {
			t.Errorf("%s: IsH264Keyframe = %v, want %v", tc.name, got, tc.h264)
		}
		if got := IsH265Keyframe(in); got != tc.h265 {
			t.Errorf("%s: IsH265Keyframe = %v, want %v", tc.name, got, tc.h265)
		}
	}
}

var av1SampleCases = []struct {
	name    string
	in      string
	want    string
	wantErr string
}{
	{"temporal delimiter dropped", "1200 0a05 0000000442 32 02 aabb", "0a05 0000000442 32 02 aabb", ""},
	{"only a temporal delimiter", "1200", "", ""},
	{"last OBU without size field", "1200 30 aabbcc", "30 aabbcc", ""},
	{"extension header kept", "1600 00 36 00 02 aabb", "36 00 02 aabb", ""},
	{"size lies", "1200 3205 aabb", "", "size 5 exceeds the 2 bytes left"},
	{"forbidden bit", "9200", "", "obu_forbidden_bit"},
	{"truncated size", "32", "", "size"},
	{"truncated extension", "16", "", "truncated"},
}

func TestAV1Sample(t *testing.T) {
	for _, tc := range av1SampleCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AV1Sample(unhex(t, tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("got % x, want % x", got, want)
			}
		})
	}
}

// FuzzSampleFraming feeds bytes to the sample framing converters: none may
// panic, and what they produce must parse as 4-byte length-prefixed NAL
// units (or OBUs) again.
func FuzzSampleFraming(f *testing.F) {
	for _, tc := range annexBCases {
		f.Add(unhex(f, tc.in), uint8(4))
	}
	for _, tc := range lengthPrefixedCases {
		f.Add(unhex(f, tc.in), uint8(tc.lengthSize))
	}
	for _, tc := range av1SampleCases {
		f.Add(unhex(f, tc.in), uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, lengthSize uint8) {
		for _, out := range [][]byte{AnnexBToAVCC(b), AnnexBToHVCC(b)} {
			if _, err := AVCCToNALUs(out, 4); err != nil {
				t.Errorf("Annex-B conversion produced malformed output % x: %v", out, err)
			}
		}
		norm, err := NormalizeAVCC(b, int(lengthSize))
		if err == nil {
			a, _ := AVCCToNALUs(b, int(lengthSize))
			c, err := AVCCToNALUs(norm, 4)
			if err != nil || len(a) != len(c) {
				t.Errorf("NormalizeAVCC(% x, %d) = % x does not round-trip: %v", b, lengthSize, norm, err)
			}
			for i := range c {
				if !bytes.Equal(a[i], c[i]) {
					t.Errorf("NALU %d changed", i)
				}
			}
		}
		_ = IsH264Keyframe(b)
		_ = IsH265Keyframe(b)
		if s, err := AV1Sample(b); err == nil && len(s) > 0 {
			if again, err := AV1Sample(s); err != nil || !bytes.Equal(again, s) {
				t.Errorf("AV1Sample is not idempotent on % x: % x, %v", b, again, err)
			}
		}
	})
}

func BenchmarkNormalizeAVCC(b *testing.B) {
	frame := make([]byte, 0, 30000)
	for _, n := range []int{20, 8, 29000} { // SEI, AUD-sized, slice
		frame = append(frame, 0, byte(n>>8), byte(n))
		frame = append(frame, make([]byte, n)...)
	}
	frame4 := make([]byte, 0, len(frame)+3)
	_ = forEachLengthPrefixedNALU(frame, 3, func(n []byte) {
		frame4 = append(frame4, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		frame4 = append(frame4, n...)
	})
	for _, bc := range []struct {
		name string
		in   []byte
		size int
	}{{"length4", frame4, 4}, {"length3", frame, 3}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				if _, err := NormalizeAVCC(bc.in, bc.size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestNALUsToSample(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec
		in    [][]byte
		want  []byte
	}{
		{"h264 drops AUD", H264, [][]byte{{0x09, 0xf0}, {0x65, 0xaa}}, []byte{0, 0, 0, 2, 0x65, 0xaa}},
		{"h264 keeps SPS and slices", H264, [][]byte{{0x67, 1}, {0x41, 2, 3}}, []byte{0, 0, 0, 2, 0x67, 1, 0, 0, 0, 3, 0x41, 2, 3}},
		{"h265 drops AUD", H265, [][]byte{{35 << 1, 1, 0x50}, {19 << 1, 1, 7}}, []byte{0, 0, 0, 3, 19 << 1, 1, 7}},
		{"empty units skipped", H264, [][]byte{{}, {0x65}}, []byte{0, 0, 0, 1, 0x65}},
		{"only AUD", H264, [][]byte{{0x09, 0xf0}}, nil},
		{"not a NAL codec", AAC, [][]byte{{1, 2}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NALUsToSample(tc.codec, tc.in)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got % x, want % x", got, tc.want)
			}
			if len(got) > 0 && len(tc.in) > 0 && len(tc.in[len(tc.in)-1]) > 0 && &got[len(got)-1] == &tc.in[len(tc.in)-1][len(tc.in[len(tc.in)-1])-1] {
				t.Fatal("result aliases the input")
			}
		})
	}
}
