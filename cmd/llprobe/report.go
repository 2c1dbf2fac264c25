package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// targetP99 is the target: a part is delivered within 20 ms (p99)
// of the arrival of its last frame.
const targetP99 = 20 * time.Millisecond

// Report is what the probe measured. Durations are in milliseconds.
type Report struct {
	CPUs         int     `json:"cpus"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Clients      int     `json:"clients"`
	DurationS    float64 `json:"duration_s"`
	PartTargetMS float64 `json:"part_target_ms"`
	// PartsPublished counts, by rendition, the parts whose arrival was
	// recorded.
	PartsPublished map[string]int `json:"parts_published"`
	Delivery       Delivery       `json:"part_delivery"`
	IngestOffset   IngestOffset   `json:"ingest_offset"`
	ClientErrors   ClientErrors   `json:"client_errors"`
	Gohlslib       Player         `json:"gohlslib"`
	Target         Target         `json:"target"`
}

// Delivery is the time from a part's last frame arriving at ingest to a
// viewer having the whole part, over every (part, viewer).
type Delivery struct {
	Measured int     `json:"measured"`
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	// FirstByte is the time from the arrival to the first byte of the
	// answer at the client: the origin's wake-up, lookup and response
	// headers, and the scheduling of both ends. The rest of the delivery
	// time is the transfer of the part's bytes.
	FirstByteP50MS float64 `json:"first_byte_p50_ms"`
	FirstByteP99MS float64 `json:"first_byte_p99_ms"`
	// Written is the time from the arrival to the origin's handler having
	// written the whole part to the connection (every 200 part response,
	// viewers' and gohlslib's): the server's side of a delivery.
	WrittenP50MS float64 `json:"written_p50_ms"`
	WrittenP99MS float64 `json:"written_p99_ms"`
	// Packaging is, per part, the time from the arrival of its last frame
	// to the packager having published it (the WriteAU call returned): the
	// part of the delivery time spent before the origin can answer.
	PackagingP50MS float64 `json:"packaging_p50_ms"`
	PackagingP99MS float64 `json:"packaging_p99_ms"`
	// Warmup: the deliveries of parts that arrived in the settle period,
	// while the clients were connecting all at once; not in the figures
	// above.
	WarmupMeasured int     `json:"warmup_measured"`
	WarmupP99MS    float64 `json:"warmup_p99_ms"`
	// AskedAfterArrival counts measured deliveries whose request was sent
	// after the part had arrived: the viewer was late (too busy to be
	// waiting at the edge), so the origin could not hold it.
	AskedAfterArrival int `json:"asked_after_arrival"`
	// Unmatched counts deliveries of parts whose arrival was not recorded
	// (not measured).
	Unmatched int `json:"unmatched"`
	// PartBytesAvg is the mean size of the parts the viewers read.
	PartBytesAvg int `json:"part_bytes_avg"`
}

// IngestOffset is, over the video frames, arrival at ingest minus the
// frame's PROGRAM-DATE-TIME (see ingestClock): about 0 when the timeline is
// anchored right; negative when the encoder's first frame came late and it
// then caught up, which makes every PDT-based latency read low by as much.
type IngestOffset struct {
	Frames int     `json:"frames"`
	P50MS  float64 `json:"p50_ms"`
	MinMS  float64 `json:"min_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// ClientErrors are the viewers' failed requests (non-200, timeouts,
// transport errors, unreadable playlists).
type ClientErrors struct {
	Total        int               `json:"total"`
	Clients      int               `json:"clients"` // viewers with at least one error
	MaxPerClient int               `json:"max_per_client"`
	ByKind       map[string]int    `json:"by_kind"`
	Examples     map[string]string `json:"examples,omitempty"`
}

// Player is what the gohlslib client saw.
type Player struct {
	OK           bool  `json:"ok"`
	VideoSamples int64 `json:"video_samples"`
	AudioSamples int64 `json:"audio_samples"`
	Parts        int64 `json:"parts"`
	// Distance from the live edge: now − PROGRAM-DATE-TIME of each video
	// sample as it is handed over, after the settle period.
	DistanceSamples int     `json:"distance_samples"`
	DistanceP50MS   float64 `json:"distance_p50_ms"`
	DistanceP99MS   float64 `json:"distance_p99_ms"`
	DistanceMaxMS   float64 `json:"distance_max_ms"`
	// BehindIngestP50MS is the distance p50 less the ingest offset p50: how
	// far behind the arrival of the frames gohlslib plays, whatever the
	// anchor.
	BehindIngestP50MS   float64  `json:"behind_ingest_p50_ms"`
	DecodeErrors        int64    `json:"decode_errors"`
	DecodeErrorMessages []string `json:"decode_error_messages,omitempty"`
	Error               string   `json:"error,omitempty"`
}

// Target is the latency target and whether it was met.
type Target struct {
	P99MS float64 `json:"p99_ms"`
	Met   bool    `json:"met"`
}

// quantile is the nearest-rank q-quantile of sorted values; 0 when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Failed says why the run does not count: no part measured, or the
// gohlslib client failed. A missed latency target is not a failure: the
// probe measures.
func (r *Report) Failed() error {
	var why []string
	if r.Delivery.Measured == 0 {
		why = append(why, "no part delivery was measured")
	}
	if !r.Gohlslib.OK {
		switch {
		case r.Gohlslib.Error != "":
			why = append(why, "gohlslib failed: "+r.Gohlslib.Error)
		case r.Gohlslib.DecodeErrors > 0:
			why = append(why, fmt.Sprintf("gohlslib reported %d decode errors", r.Gohlslib.DecodeErrors))
		default:
			why = append(why, "gohlslib decoded no video")
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(why, "; "))
}

// WriteText writes the human summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "llprobe: %d clients for %.0fs, part target %.0fms, %d CPUs (GOMAXPROCS %d)\n",
		r.Clients, r.DurationS, r.PartTargetMS, r.CPUs, r.GOMAXPROCS)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.PartsPublished)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.PartsPublished[k]))
	}
	fmt.Fprintf(&b, "parts published      %s\n", strings.Join(parts, ", "))
	d := r.Delivery
	fmt.Fprintf(&b, "part delivery        %d measured (mean part %d bytes): p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms\n",
		d.Measured, d.PartBytesAvg, d.P50MS, d.P90MS, d.P99MS, d.MaxMS)
	fmt.Fprintf(&b, "  warm-up            %d deliveries while the clients connected (the settle period, not above): p99 %.1fms\n",
		d.WarmupMeasured, d.WarmupP99MS)
	fmt.Fprintf(&b, "  on the way         packaged p50 %.2fms p99 %.2fms; first byte at the client p50 %.1fms p99 %.1fms;\n",
		d.PackagingP50MS, d.PackagingP99MS, d.FirstByteP50MS, d.FirstByteP99MS)
	fmt.Fprintf(&b, "                     written by the origin p50 %.1fms p99 %.1fms\n", d.WrittenP50MS, d.WrittenP99MS)
	fmt.Fprintf(&b, "                     asked after the part existed: %d; not matched to an arrival: %d\n",
		d.AskedAfterArrival, d.Unmatched)
	e := r.ClientErrors
	if e.Total == 0 {
		fmt.Fprintf(&b, "client errors        none\n")
	} else {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(e.ByKind)) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, e.ByKind[k]))
		}
		fmt.Fprintf(&b, "client errors        %d on %d clients (at most %d on one): %s\n", e.Total, e.Clients, e.MaxPerClient, strings.Join(kinds, ", "))
		for _, k := range slices.Sorted(maps.Keys(e.Examples)) {
			fmt.Fprintf(&b, "                     e.g. %s\n", e.Examples[k])
		}
	}
	g := r.Gohlslib
	fmt.Fprintf(&b, "gohlslib             %d video and %d audio samples from %d parts; decode errors %d\n",
		g.VideoSamples, g.AudioSamples, g.Parts, g.DecodeErrors)
	for _, m := range g.DecodeErrorMessages {
		fmt.Fprintf(&b, "                     decode error: %s\n", m)
	}
	if g.Error != "" {
		fmt.Fprintf(&b, "                     failed: %s\n", g.Error)
	}
	fmt.Fprintf(&b, "distance from edge   p50 %.0fms  p99 %.0fms  max %.0fms (%d video samples after the settle period)\n",
		g.DistanceP50MS, g.DistanceP99MS, g.DistanceMaxMS, g.DistanceSamples)
	o := r.IngestOffset
	fmt.Fprintf(&b, "ingest offset        p50 %.1fms  min %.1fms  max %.1fms (arrival − PDT of %d video frames); gohlslib plays %.0fms behind ingest\n",
		o.P50MS, o.MinMS, o.MaxMS, o.Frames, g.BehindIngestP50MS)
	verdict := "missed"
	if r.Target.Met {
		verdict = "met"
	}
	fmt.Fprintf(&b, "target p99 < %.0fms: %s\n", r.Target.P99MS, verdict)
	_, err := io.WriteString(w, b.String())
	return err
}
