package main

import (
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := quantile(v, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v", got)
	}
}

func TestReportFailed(t *testing.T) {
	ok := Report{Delivery: Delivery{Measured: 1}, Gohlslib: Player{OK: true}}
	if err := ok.Failed(); err != nil {
		t.Errorf("a measured run failed: %v", err)
	}
	for _, tc := range []struct {
		r    Report
		want string
	}{
		{Report{Gohlslib: Player{OK: true}}, "no part delivery"},
		{Report{Delivery: Delivery{Measured: 1}, Gohlslib: Player{Error: "bad status code: 404"}}, "404"},
		{Report{Delivery: Delivery{Measured: 1}, Gohlslib: Player{DecodeErrors: 2}}, "2 decode errors"},
		{Report{Delivery: Delivery{Measured: 1}}, "no video"},
	} {
		if err := tc.r.Failed(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Failed() = %v, want %q", err, tc.want)
		}
	}
	// A missed target is a measurement, not a failure.
	missed := Report{Delivery: Delivery{Measured: 1, P99MS: 80}, Gohlslib: Player{OK: true}, Target: Target{P99MS: 20}}
	if err := missed.Failed(); err != nil {
		t.Errorf("missed target failed the run: %v", err)
	}
	var b strings.Builder
	if err := missed.WriteText(&b); err != nil || !strings.Contains(b.String(), "target p99 < 20ms: missed") {
		t.Errorf("summary %q, %v", b.String(), err)
	}
}
