package packager

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"

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

// opusTimescale: Opus always runs at 48 kHz in ISOBMFF (Opus in ISOBMFF 4.3),
// the rate in which ingest.OpusPacketSamples counts.
const opusTimescale = 48000

// trackConfig is one track's codec configuration in packaging terms: the
// ingest.Track, its CMAF timescale and init segment.
type trackConfig struct {
	track     ingest.Track
	timescale uint32
	// frameSamples is the audio frame length in timescale ticks (AAC); 0 when
	// it is read from each access unit (Opus) or not audio.
	frameSamples uint32
	init         *Init
}

// newTrackConfig validates a track and builds its init segment. The derived
// fields (size, codec string, sample rate, channels, frame length) come from
// the ingest constructors, which own codec knowledge: they are checked for
// presence here, not parsed again. Building the decoder configuration boxes
// still reads the parameter sets, so problems there (and, in case mp4ff
// misbehaves, panics) become errors wrapping ErrUnsupportedCodec.
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
	if err := checkDerived(t); err != nil {
		return cfg, err
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
		if len(t.AudioSpecificConfig) == 0 {
			return cfg, badTrack(t, "without AudioSpecificConfig")
		}
		esds := mp4.CreateEsdsBox(t.AudioSpecificConfig)
		if n := esds.ESDescriptor.Size(); n > 0x7f {
			// mp4ff writes one-byte descriptor sizes (ISO/IEC 14496-1 8.3.3).
			return cfg, fmt.Errorf("%w: aac AudioSpecificConfig of %d bytes does not fit an esds box", ingest.ErrUnsupportedCodec, len(t.AudioSpecificConfig))
		}
		cfg.timescale = uint32(t.SampleRate)
		cfg.frameSamples = uint32(t.FrameSamples)
		setAudio(init.AddEmptyTrack(cfg.timescale, "audio", "und"), "mp4a", &t, esds)
	case ingest.Opus:
		if t.Channels > 2 {
			// Channel mapping family 1 needs a mapping table the Track does not carry.
			return cfg, fmt.Errorf("%w: opus with %d channels (1 or 2 supported)", ingest.ErrUnsupportedCodec, t.Channels)
		}
		cfg.timescale = opusTimescale
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

// checkDerived checks that the fields the ingest constructors derive from
// the codec configuration are there. A Track put together by hand lacks
// them; packaging would otherwise write a broken sample entry.
func checkDerived(t ingest.Track) error {
	if t.CodecString == "" {
		return badTrack(t, "without a codec string")
	}
	switch t.Kind {
	case ingest.Video:
		if t.Width <= 0 || t.Height <= 0 {
			return badTrack(t, fmt.Sprintf("with picture size %dx%d", t.Width, t.Height))
		}
	case ingest.Audio:
		// The rate becomes a uint32 timescale and the frame length a uint32 duration.
		if t.SampleRate <= 0 || uint64(t.SampleRate) > math.MaxUint32 || t.Channels <= 0 {
			return badTrack(t, fmt.Sprintf("with %d Hz, %d channels", t.SampleRate, t.Channels))
		}
		if t.Codec == ingest.AAC && (t.FrameSamples <= 0 || uint64(t.FrameSamples) > math.MaxUint32) {
			return badTrack(t, fmt.Sprintf("with %d samples per frame", t.FrameSamples))
		}
	}
	return nil
}

func badTrack(t ingest.Track, what string) error {
	return fmt.Errorf("%w: %s track %s; build tracks with the ingest constructors (ingest.H264Track, ...)", ingest.ErrBadTracks, t.Codec, what)
}

func setAVC(trak *mp4.TrakBox, t *ingest.Track) error {
	if len(t.SPS) == 0 || len(t.PPS) == 0 {
		return badTrack(*t, "without SPS or PPS")
	}
	rec, err := avc.CreateAVCDecConfRec(t.SPS, t.PPS, true)
	if err != nil {
		return fmt.Errorf("%w: h264 decoder configuration: %v", ingest.ErrUnsupportedCodec, err)
	}
	return setVisual(trak, "avc1", t, &mp4.AvcCBox{DecConfRec: *rec})
}

func setHEVC(trak *mp4.TrakBox, t *ingest.Track) error {
	if len(t.VPS) == 0 || len(t.SPS) == 0 || len(t.PPS) == 0 {
		return badTrack(*t, "without VPS, SPS or PPS")
	}
	// hvc1: the parameter sets live in the hvcC only (array_completeness 1).
	rec, err := hevc.CreateHEVCDecConfRec(t.VPS, t.SPS, t.PPS, true, true, true, true)
	if err != nil {
		return fmt.Errorf("%w: h265 decoder configuration: %v", ingest.ErrUnsupportedCodec, err)
	}
	return setVisual(trak, "hvc1", t, &mp4.HvcCBox{DecConfRec: rec})
}

func setAV1(trak *mp4.TrakBox, t *ingest.Track) error {
	if len(t.AV1Config) == 0 {
		return badTrack(*t, "without AV1Config")
	}
	rec, err := av1.DecodeAV1CodecConfRec(t.AV1Config)
	if err != nil {
		return fmt.Errorf("%w: av1 configuration record: %v", ingest.ErrUnsupportedCodec, err)
	}
	return setVisual(trak, "av01", t, &mp4.Av1CBox{CodecConfRec: rec})
}

func setVisual(trak *mp4.TrakBox, entry string, t *ingest.Track, config mp4.Box) error {
	if t.Width > 0xffff || t.Height > 0xffff {
		return fmt.Errorf("%w: %s picture size %dx%d", ingest.ErrUnsupportedCodec, t.Codec, t.Width, t.Height)
	}
	trak.Tkhd.Width = mp4.Fixed32(uint32(t.Width) << 16)
	trak.Tkhd.Height = mp4.Fixed32(uint32(t.Height) << 16)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateVisualSampleEntryBox(entry, uint16(t.Width), uint16(t.Height), config))
	return nil
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
