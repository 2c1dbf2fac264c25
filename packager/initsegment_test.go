package packager

import (
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestTrackConfigAudio(t *testing.T) {
	tests := []struct {
		name        string
		track       ingest.Track
		timescale   uint32
		frame       uint32
		rate, chans int
		codecString string
	}{
		{name: "AAC-LC 44.1 kHz mono", track: ingest.Track{Codec: ingest.AAC, AudioSpecificConfig: []byte{0x12, 0x08}},
			timescale: 44100, frame: 1024, rate: 44100, chans: 1, codecString: "mp4a.40.2"},
		{name: "AAC-LC 48 kHz 5.1", track: ingest.Track{Codec: ingest.AAC, AudioSpecificConfig: []byte{0x11, 0xb0}},
			timescale: 48000, frame: 1024, rate: 48000, chans: 6, codecString: "mp4a.40.2"},
		{name: "HE-AAC 24/48 kHz stereo", track: ingest.Track{Codec: ingest.AAC, AudioSpecificConfig: []byte{0x2b, 0x11, 0x88, 0x00}},
			timescale: 48000, frame: 2048, rate: 48000, chans: 2, codecString: "mp4a.40.5"},
		{name: "Opus stereo", track: ingest.Track{Codec: ingest.Opus, Channels: 2, OpusPreSkip: 312},
			timescale: 48000, frame: 0, rate: 48000, chans: 2, codecString: "opus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.track.Kind, tc.track.ClockRate = ingest.Audio, 1000
			cfg, err := newTrackConfig(tc.track)
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
			if cfg.init.Track.CodecString != tc.codecString {
				t.Errorf("Init.Track not normalised: %+v", cfg.init.Track)
			}
		})
	}
}
