package ingest

import (
	"bytes"
	"testing"
)

func TestSplitParameterSets(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		codec                Codec
		in                   []string
		vps, sps, pps, other []string
	}{
		{"h264 idr with sets", H264, []string{"09f0", "6764001f", "68ee3c80", "06050102", "65888400"},
			nil, []string{"6764001f"}, []string{"68ee3c80"}, []string{"09f0", "06050102", "65888400"}},
		{"h264 non-idr", H264, []string{"419a"}, nil, nil, nil, []string{"419a"}},
		{"h264 two pps", H264, []string{"6742", "68ce", "68cf", "6588"},
			nil, []string{"6742"}, []string{"68ce", "68cf"}, []string{"6588"}},
		{"h265 irap with sets", H265, []string{"4601", "40010c01", "42010101", "4401c172", "2601af"},
			[]string{"40010c01"}, []string{"42010101"}, []string{"4401c172"}, []string{"4601", "2601af"}},
		{"h265 trail", H265, []string{"0201d0"}, nil, nil, nil, []string{"0201d0"}},
		{"empty units dropped", H264, []string{"", "6742", ""}, nil, []string{"6742"}, nil, nil},
		{"other codec untouched", AAC, []string{"6742", "68ce"}, nil, nil, nil, []string{"6742", "68ce"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in [][]byte
			for _, s := range tc.in {
				in = append(in, unhex(t, s))
			}
			vps, sps, pps, rest := SplitParameterSets(tc.codec, in)
			for _, c := range []struct {
				what string
				got  [][]byte
				want []string
			}{{"vps", vps, tc.vps}, {"sps", sps, tc.sps}, {"pps", pps, tc.pps}, {"rest", rest, tc.other}} {
				if len(c.got) != len(c.want) {
					t.Fatalf("%s: %d NAL units % x, want %d", c.what, len(c.got), c.got, len(c.want))
				}
				for i := range c.got {
					if !bytes.Equal(c.got[i], unhex(t, c.want[i])) {
						t.Errorf("%s[%d] = % x, want %s", c.what, i, c.got[i], c.want[i])
					}
				}
			}
		})
	}
}
