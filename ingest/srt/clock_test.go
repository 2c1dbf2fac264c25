package srt

import "testing"

func TestTSClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []int64
		want []int64
	}{
		{"steady", []int64{1000, 4000, 7000}, []int64{1000, 4000, 7000}},
		{"audio and video interleaved", []int64{90000, 89000, 93000, 92000}, []int64{90000, 89000, 93000, 92000}},
		{"33-bit wrap", []int64{tsWrap - 3000, tsWrap - 1, 2999}, []int64{tsWrap - 3000, tsWrap - 1, tsWrap + 2999}},
		{"a step back across the wrap", []int64{10, tsWrap - 10}, []int64{10, -10}},
		{"jump forward 1 h", []int64{0, 3600 * 90000}, []int64{0, 3600 * 90000}},
		{"jump back 1 h", []int64{3600 * 90000, 0}, []int64{3600 * 90000, 0}},
		{"bits above 33 ignored", []int64{tsWrap + 5, 10}, []int64{5, 10}},
		{"wraps twice", []int64{tsWrap - 1, tsWrap / 3, 2 * tsWrap / 3, 5, tsWrap / 3},
			[]int64{tsWrap - 1, tsWrap + tsWrap/3, tsWrap + 2*tsWrap/3, 2*tsWrap + 5, 2*tsWrap + tsWrap/3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c tsClock
			for i, ts := range tc.in {
				if got := c.extend(ts); got != tc.want[i] {
					t.Errorf("extend(%d) #%d = %d, want %d", ts, i, got, tc.want[i])
				}
			}
		})
	}
}

func TestWrapDelta(t *testing.T) {
	for _, tc := range []struct{ d, want int64 }{
		{3003, 3003}, {-3003, -3003}, {tsWrap - 1, -1}, {-(tsWrap - 1), 1}, {tsWrap/2 - 1, tsWrap/2 - 1}, {tsWrap / 2, -tsWrap / 2},
	} {
		if got := wrapDelta(tc.d); got != tc.want {
			t.Errorf("wrapDelta(%d) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
