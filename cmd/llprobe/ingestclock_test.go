package main

import (
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

func TestIngestClock(t *testing.T) {
	var c ingestClock
	c.start([]ingest.Track{{Kind: ingest.Audio, ClockRate: 48000}, {Kind: ingest.Video, ClockRate: 1000}})
	epoch := time.Unix(0, 0)
	// The key frame (DTS 5000 ms) starts a part at 1000 s since the epoch.
	first := &packager.Part{Start: 1000 * 90000, Timescale: 90000}
	steps := []struct {
		au    ingest.AccessUnit
		at    time.Duration // arrival since the epoch
		part  *packager.Part
		want  time.Duration
		valid bool
	}{
		{au: ingest.AccessUnit{Track: 1, DTS: 4967}, at: 999 * time.Second},             // before the key frame
		{au: ingest.AccessUnit{Track: 1, DTS: 5000, Key: true}, at: 1000 * time.Second}, // mapping not known yet
		{au: ingest.AccessUnit{Track: 0, DTS: 240000}, at: 1000 * time.Second},          // audio
		{au: ingest.AccessUnit{Track: 1, DTS: 5033}, at: 1000*time.Second + 40*time.Millisecond, part: first, want: 7 * time.Millisecond, valid: true},
		{au: ingest.AccessUnit{Track: 1, DTS: 6000}, at: 1000*time.Second + 900*time.Millisecond, want: -100 * time.Millisecond, valid: true},
	}
	for i, s := range steps {
		got, ok := c.offset(s.au, epoch.Add(s.at), s.part)
		if ok != s.valid || got != s.want {
			t.Errorf("step %d: offset %v, %v; want %v, %v", i, got, ok, s.want, s.valid)
		}
	}
	// A new period within the session keeps the mapping.
	c.start([]ingest.Track{{Kind: ingest.Audio, ClockRate: 48000}, {Kind: ingest.Video, ClockRate: 1000}})
	if got, ok := c.offset(ingest.AccessUnit{Track: 1, DTS: 7000}, epoch.Add(1002*time.Second), nil); !ok || got != 0 {
		t.Errorf("after a new period: %v, %v", got, ok)
	}
}
