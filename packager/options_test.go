package packager

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // each error's message, in order
	}{
		{name: "defaults", opts: Options{}},
		{name: "all set", opts: Options{SegmentTarget: 4 * time.Second, Window: time.Minute, ReconnectGrace: time.Second,
			MaxTargetDuration: 4 * time.Second, MaxStreams: 3}},
		{name: "segment target too short", opts: Options{SegmentTarget: 100 * time.Millisecond},
			want: []string{"segment-target: 100ms is below the 500ms minimum"}},
		{name: "segment target too long", opts: Options{SegmentTarget: 25 * time.Second, MaxTargetDuration: 30 * time.Second},
			want: []string{"segment-target: 25s is above the 20s maximum"}},
		{name: "max target duration below the target", opts: Options{SegmentTarget: 2500 * time.Millisecond, MaxTargetDuration: 2 * time.Second},
			want: []string{"max-target-duration: 2s is below the segment target rounded up to whole seconds (3s)"}},
		{name: "negatives", opts: Options{Window: -time.Second, ReconnectGrace: -time.Second, MaxTargetDuration: -time.Second, MaxStreams: -1, MaxSegmentBytes: -1},
			want: []string{"window: -1s is negative", "reconnect-grace: -1s is negative", "max-target-duration: -1s is negative",
				"max-streams: -1 is negative", "max-segment-size: -1 is negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.opts.Validate()
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
