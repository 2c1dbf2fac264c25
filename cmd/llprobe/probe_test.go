package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestProbe runs the whole probe briefly: ffmpeg publishes, a handful of
// viewers and gohlslib play, and the run ends as soon as enough was
// measured (not after a fixed time). Every goroutine and process it started
// must be gone afterwards.
func TestProbe(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not found: the probe publishes with it; install it with `make deps` (apt-get install ffmpeg)")
	}
	defer goleak.VerifyNone(t)
	const clients, partsEach = 4, 6
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var status bytes.Buffer
	r, err := Run(ctx, Config{
		Clients:  clients,
		Duration: time.Minute, // an upper bound: stopWhen ends it
		Size:     "320x240",
		Status:   &status,
		stopWhen: func(p progress) bool { return p.measured >= clients*partsEach && p.distances >= 30 },
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, status.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("the probe did not measure enough within 2 minutes: %+v", r)
	}
	var summary strings.Builder
	_ = r.WriteText(&summary)
	t.Logf("\n%s", summary.String())
	if err := r.Failed(); err != nil {
		t.Fatal(err)
	}
	if r.Delivery.Measured < clients*partsEach || r.PartsPublished["v0"] == 0 || r.PartsPublished["a0"] == 0 {
		t.Errorf("measured %d deliveries of %v parts, want at least %d", r.Delivery.Measured, r.PartsPublished, clients*partsEach)
	}
	if r.Delivery.P50MS <= 0 || r.Delivery.MaxMS < r.Delivery.P99MS || r.Delivery.P99MS < r.Delivery.P50MS {
		t.Errorf("implausible delivery figures %+v", r.Delivery)
	}
	if r.ClientErrors.Total != 0 {
		t.Errorf("client errors: %+v", r.ClientErrors)
	}
	g := r.Gohlslib
	if !g.OK || g.VideoSamples == 0 || g.AudioSamples == 0 || g.DecodeErrors != 0 || g.DistanceSamples < 30 {
		t.Errorf("gohlslib: %+v", g)
	}
	// It plays behind the edge, but not by more than a few parts.
	if g.DistanceP50MS <= 0 || g.DistanceP50MS > 3000 {
		t.Errorf("gohlslib distance from the live edge p50 %.0fms", g.DistanceP50MS)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-h"}, 0, "usage: llprobe"},
		{[]string{"-clients", "0"}, 2, "clients: 0"},
		{[]string{"-duration", "-1s"}, 2, "duration"},
		{[]string{"-size", "720p"}, 2, "size"},
		{[]string{"-part-target", "5s"}, 2, "part-target"},
		{[]string{"-settle", "-1s"}, 2, "settle"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected arguments"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("llprobe %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}
