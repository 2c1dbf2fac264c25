package packager

import (
	"errors"
	"strings"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestTrackConfigAudio: the audio timescale and frame length follow the
// SampleRate and FrameSamples that the ingest constructors derived, and the
// Track reaches the init segment unchanged.
func TestTrackConfigAudio(t *testing.T) {
	aac := func(asc ...byte) func() (ingest.Track, error) {
		return func() (ingest.Track, error) { return ingest.AACTrack(asc, 1000) }
	}
	tests := []struct {
		name        string
		build       func() (ingest.Track, error)
		timescale   uint32
		frame       uint32
		rate, chans int
		codecString string
	}{
		{name: "AAC-LC 44.1 kHz mono", build: aac(0x12, 0x08),
			timescale: 44100, frame: 1024, rate: 44100, chans: 1, codecString: "mp4a.40.2"},
		{name: "AAC-LC 48 kHz 5.1", build: aac(0x11, 0xb0),
			timescale: 48000, frame: 1024, rate: 48000, chans: 6, codecString: "mp4a.40.2"},
		{name: "HE-AAC 24/48 kHz stereo", build: aac(0x2b, 0x11, 0x88, 0x00),
			timescale: 48000, frame: 2048, rate: 48000, chans: 2, codecString: "mp4a.40.5"},
		{name: "Opus stereo", build: func() (ingest.Track, error) { return ingest.OpusTrack(2, 312, 1000) },
			timescale: 48000, frame: 0, rate: 48000, chans: 2, codecString: "opus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := newTrackConfig(tr)
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.track
			if cfg.timescale != tc.timescale || cfg.frameSamples != tc.frame || got.SampleRate != tc.rate ||
				got.Channels != tc.chans || got.CodecString != tc.codecString {
				t.Errorf("timescale %d frame %d rate %d channels %d codec %q; want %d %d %d %d %q",
					cfg.timescale, cfg.frameSamples, got.SampleRate, got.Channels, got.CodecString,
					tc.timescale, tc.frame, tc.rate, tc.chans, tc.codecString)
			}
			if cfg.init.Track.CodecString != tc.codecString || cfg.init.Track.FrameSamples != tr.FrameSamples {
				t.Errorf("Init.Track differs from the Track: %+v", cfg.init.Track)
			}
		})
	}
}

// TestTrackConfigNeedsDerivedFields: the packager does not parse codec
// configurations for the fields the ingest constructors derive. A Track put
// together by hand without them is refused with a hint, not packaged with
// an empty codec string or a zero timescale.
func TestTrackConfigNeedsDerivedFields(t *testing.T) {
	tests := []struct {
		name   string
		track  func(t testing.TB) ingest.Track
		reason string
	}{
		{"h264 by hand", func(t testing.TB) ingest.Track {
			v := videoTrack(t, 90000)
			return ingest.Track{Kind: ingest.Video, Codec: ingest.H264, ClockRate: 90000, SPS: v.SPS, PPS: v.PPS}
		}, "without a codec string"},
		{"video without size", func(t testing.TB) ingest.Track {
			v := videoTrack(t, 90000)
			v.Width = 0
			return v
		}, "picture size 0x240"},
		{"aac without sample rate", func(t testing.TB) ingest.Track { a := aacTrack(t, 1000); a.SampleRate = 0; return a }, "0 Hz"},
		{"aac without channels", func(t testing.TB) ingest.Track { a := aacTrack(t, 1000); a.Channels = 0; return a }, "0 channels"},
		{"aac without frame length", func(t testing.TB) ingest.Track { a := aacTrack(t, 1000); a.FrameSamples = 0; return a }, "0 samples per frame"},
		{"aac without AudioSpecificConfig", func(t testing.TB) ingest.Track {
			a := aacTrack(t, 1000)
			a.AudioSpecificConfig = nil
			return a
		}, "without AudioSpecificConfig"},
		{"opus by hand", func(t testing.TB) ingest.Track {
			return ingest.Track{Kind: ingest.Audio, Codec: ingest.Opus, ClockRate: 48000, Channels: 2}
		}, "without a codec string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTrackConfig(tc.track(t))
			if !errors.Is(err, ingest.ErrBadTracks) {
				t.Fatalf("got %v, want ErrBadTracks", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.reason) || !strings.Contains(msg, "build tracks with the ingest constructors") {
				t.Errorf("error %q, want it to say %q and point to the ingest constructors", msg, tc.reason)
			}
		})
	}
}
