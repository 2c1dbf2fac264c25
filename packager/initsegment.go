package packager

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/liveorigin/liveorigin/ingest"
)

// videoTimescale is the timescale of every video track (MPEG's 90 kHz: every
// common frame rate, including the NTSC ones, is a whole number of ticks).
const videoTimescale = 90000

// trackConfig is one track's codec configuration in packaging terms: the
// normalised ingest.Track, its CMAF timescale and init segment.
type trackConfig struct {
	track     ingest.Track
	timescale uint32
	// frameSamples is the audio frame length in timescale ticks (AAC); 0 when
	// it is read from each access unit (Opus) or not audio.
	frameSamples uint32
	init         *Init
}

// newTrackConfig validates a track and builds its init segment. The codec
// configuration comes from the network, so parsing problems (and, in case a
// parser misbehaves, panics) become errors wrapping ErrUnsupportedCodec.
func newTrackConfig(t ingest.Track) (cfg trackConfig, err error) {
	if t.Kind != ingest.Video && t.Kind != ingest.Audio {
		return cfg, fmt.Errorf("%w: track kind %v", ingest.ErrBadTracks, t.Kind)
	}
	if k := t.Codec.Kind(); k == 0 {
		return cfg, fmt.Errorf("%w: %q (supported: h264, h265, av1, aac, opus)", ingest.ErrUnsupportedCodec, t.Codec)
	} else if k != t.Kind {
		return cfg, fmt.Errorf("%w: %s track with %s codec %s", ingest.ErrBadTracks, t.Kind, k, t.Codec)
	}
	if t.ClockRate == 0 {
		return cfg, fmt.Errorf("%w: %s track has clock rate 0", ingest.ErrBadTracks, t.Codec)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: malformed %s configuration: %v", ingest.ErrUnsupportedCodec, t.Codec, p)
		}
	}()
	init := mp4.NewMP4Init()
	init.AddChild(mp4.NewFtyp("cmfc", 0, []string{"cmfc", "iso6"}))
	moov := mp4.NewMoovBox()
	init.AddChild(moov)
	moov.AddChild(mp4.CreateMvhd())
	moov.AddChild(mp4.NewMvexBox())

	switch t.Codec {
	case ingest.H264:
		cfg.timescale = videoTimescale
		err = setAVC(init.AddEmptyTrack(cfg.timescale, "video", "und"), &t)
	case ingest.H265:
		cfg.timescale = videoTimescale
		err = setHEVC(init.AddEmptyTrack(cfg.timescale, "video", "und"), &t)
	case ingest.AV1:
		cfg.timescale = videoTimescale
		err = setAV1(init.AddEmptyTrack(cfg.timescale, "video", "und"), &t)
	case ingest.AAC:
		var asc *aac.AudioSpecificConfig
		asc, err = parseASC(&t)
		if err == nil {
			cfg.timescale = uint32(t.SampleRate)
			cfg.frameSamples = aacFrameSamples
			if asc.SBRPresentFlag {
				// HE-AAC: SBR doubles the output rate; a frame is 2048 output samples.
				cfg.frameSamples = 2 * aacFrameSamples
			}
			setAudio(init.AddEmptyTrack(cfg.timescale, "audio", "und"), "mp4a", &t, mp4.CreateEsdsBox(t.AudioSpecificConfig))
		}
	case ingest.Opus:
		if t.Channels < 1 || t.Channels > 2 {
			// Channel mapping family 1 needs a mapping table the Track does not carry.
			return cfg, fmt.Errorf("%w: opus with %d channels (1 or 2 supported)", ingest.ErrUnsupportedCodec, t.Channels)
		}
		cfg.timescale = opusTimescale
		if t.SampleRate == 0 {
			t.SampleRate = opusTimescale
		}
		t.CodecString = "opus"
		dops := &mp4.DopsBox{OutputChannelCount: byte(t.Channels), PreSkip: t.OpusPreSkip, InputSampleRate: uint32(t.SampleRate)}
		setAudio(init.AddEmptyTrack(cfg.timescale, "audio", "und"), "Opus", &t, dops)
	}
	if err != nil {
		return cfg, err
	}
	data := make([]byte, init.Size())
	sw := bits.NewFixedSliceWriterFromSlice(data)
	if err := init.EncodeSW(sw); err != nil {
		return cfg, fmt.Errorf("%w: encode %s init segment: %v", ingest.ErrUnsupportedCodec, t.Codec, err)
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:8])
	cfg.track = t
	cfg.init = &Init{Name: "init-" + h + ".mp4", Data: data, ETag: `"` + h + `"`, Track: t}
	return cfg, nil
}

func setAVC(trak *mp4.TrakBox, t *ingest.Track) error {
	if len(t.SPS) == 0 || len(t.PPS) == 0 {
		return fmt.Errorf("%w: h264 track without SPS or PPS", ingest.ErrBadTracks)
	}
	sps, err := avc.ParseSPSNALUnit(t.SPS[0], false)
	if err != nil {
		return fmt.Errorf("%w: h264 SPS: %v", ingest.ErrUnsupportedCodec, err)
	}
	rec, err := avc.CreateAVCDecConfRec(t.SPS, t.PPS, true)
	if err != nil {
		return fmt.Errorf("%w: h264 decoder configuration: %v", ingest.ErrUnsupportedCodec, err)
	}
	t.Width, t.Height = int(sps.Width), int(sps.Height)
	t.CodecString = avc.CodecString("avc1", sps)
	return setVisual(trak, "avc1", t, &mp4.AvcCBox{DecConfRec: *rec})
}

func setHEVC(trak *mp4.TrakBox, t *ingest.Track) error {
	if len(t.VPS) == 0 || len(t.SPS) == 0 || len(t.PPS) == 0 {
		return fmt.Errorf("%w: h265 track without VPS, SPS or PPS", ingest.ErrBadTracks)
	}
	sps, err := hevc.ParseSPSNALUnit(t.SPS[0])
	if err != nil {
		return fmt.Errorf("%w: h265 SPS: %v", ingest.ErrUnsupportedCodec, err)
	}
	// hvc1: the parameter sets live in the hvcC only (array_completeness 1).
	rec, err := hevc.CreateHEVCDecConfRec(t.VPS, t.SPS, t.PPS, true, true, true, true)
	if err != nil {
		return fmt.Errorf("%w: h265 decoder configuration: %v", ingest.ErrUnsupportedCodec, err)
	}
	w, h := sps.ImageSize()
	t.Width, t.Height = int(w), int(h)
	t.CodecString = hevc.CodecString("hvc1", sps)
	return setVisual(trak, "hvc1", t, &mp4.HvcCBox{DecConfRec: rec})
}

func setAV1(trak *mp4.TrakBox, t *ingest.Track) error {
	rec, err := av1.DecodeAV1CodecConfRec(t.AV1Config)
	if err != nil {
		return fmt.Errorf("%w: av1 configuration record: %v", ingest.ErrUnsupportedCodec, err)
	}
	// The coded size is in the sequence header; fall back to what the
	// adapter found if the record carries none.
	if sh, err := rec.SequenceHeader(); err == nil {
		t.Width, t.Height = int(sh.Width()), int(sh.Height())
	}
	if t.Width <= 0 || t.Height <= 0 {
		return fmt.Errorf("%w: av1 configuration without a sequence header and no size given", ingest.ErrBadTracks)
	}
	t.CodecString = rec.CodecString("av01")
	return setVisual(trak, "av01", t, &mp4.Av1CBox{CodecConfRec: rec})
}

func setVisual(trak *mp4.TrakBox, entry string, t *ingest.Track, config mp4.Box) error {
	if t.Width <= 0 || t.Height <= 0 || t.Width > 0xffff || t.Height > 0xffff {
		return fmt.Errorf("%w: %s picture size %dx%d", ingest.ErrUnsupportedCodec, t.Codec, t.Width, t.Height)
	}
	trak.Tkhd.Width = mp4.Fixed32(uint32(t.Width) << 16)
	trak.Tkhd.Height = mp4.Fixed32(uint32(t.Height) << 16)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateVisualSampleEntryBox(entry, uint16(t.Width), uint16(t.Height), config))
	return nil
}

// parseASC reads the AAC AudioSpecificConfig and fills in the derived Track
// fields from it: the ASC, not the adapter's guess, decides the timing.
func parseASC(t *ingest.Track) (*aac.AudioSpecificConfig, error) {
	if len(t.AudioSpecificConfig) == 0 {
		return nil, fmt.Errorf("%w: aac track without AudioSpecificConfig", ingest.ErrBadTracks)
	}
	asc, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(t.AudioSpecificConfig))
	if err != nil {
		return nil, fmt.Errorf("%w: aac AudioSpecificConfig: %v (AAC-LC and HE-AAC v1/v2 are supported)", ingest.ErrUnsupportedCodec, err)
	}
	rate := asc.SamplingFrequency
	if asc.SBRPresentFlag && asc.ExtensionFrequency > 0 {
		rate = asc.ExtensionFrequency
	}
	if rate <= 0 {
		return nil, fmt.Errorf("%w: aac sample rate %d", ingest.ErrUnsupportedCodec, rate)
	}
	channels := int(asc.ChannelConfiguration)
	switch {
	case asc.PSPresentFlag:
		channels = 2 // parametric stereo: mono core, stereo output
	case channels == 7:
		channels = 8 // channel configuration 7 is 7.1
	}
	if channels == 0 {
		channels = t.Channels // configuration 0: a program config element defines it
	}
	if channels <= 0 {
		return nil, fmt.Errorf("%w: aac without a channel configuration", ingest.ErrUnsupportedCodec)
	}
	t.SampleRate, t.Channels = rate, channels
	t.CodecString = fmt.Sprintf("mp4a.40.%d", asc.ObjectType)
	return asc, nil
}

func setAudio(trak *mp4.TrakBox, entry string, t *ingest.Track, config mp4.Box) {
	// The sample entry's rate field is 16.16 fixed point; rates above 65535
	// are signalled by the mdhd timescale alone.
	rate := t.SampleRate
	if rate > 0xffff {
		rate = 0
	}
	trak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateAudioSampleEntryBox(entry, uint16(t.Channels), 16, uint16(rate), config))
}
