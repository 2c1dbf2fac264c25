package rtmp

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/liveorigin/liveorigin/ingest"
)

// AMF0 builders for the tables.
func amfStr(s string) []byte {
	b := []byte{amfString, byte(len(s) >> 8), byte(len(s))}
	return append(b, s...)
}

func amfNum(f float64) []byte {
	b := []byte{amfNumber}
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

func prop(name string, v []byte) []byte {
	b := []byte{byte(len(name) >> 8), byte(len(name))}
	return append(append(b, name...), v...)
}

func amfObj(marker byte, props ...[]byte) []byte {
	b := []byte{marker}
	if marker == amfECMAArray {
		b = binary.BigEndian.AppendUint32(b, uint32(len(props)))
	}
	for _, p := range props {
		b = append(b, p...)
	}
	return append(b, 0, 0, amfObjectEnd)
}

func join(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// fourCCNum is an enhanced-RTMP codec id: the FourCC as a number.
func fourCCNum(s string) float64 { return float64(binary.BigEndian.Uint32([]byte(s))) }

func ffmpegScriptTag(t testing.TB) []byte {
	for _, tag := range readFLV(t, "h264_aac.flv") {
		if tag.typ == 18 {
			return tag.body
		}
	}
	t.Fatal("no script tag")
	return nil
}

var metaDataCases = []struct {
	name         string
	in           []byte
	video, audio string // codec ids as parsed, "" when absent
	vCodec       ingest.Codec
	aCodec       ingest.Codec
	wantErr      bool
}{
	{"ecma array", join(amfStr("onMetaData"), amfObj(amfECMAArray, prop("width", amfNum(320)), prop("videocodecid", amfNum(7)), prop("audiocodecid", amfNum(10)))), "7", "10", ingest.H264, ingest.AAC, false},
	{"enhanced fourcc numbers", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(fourCCNum("hvc1"))), prop("audiocodecid", amfNum(fourCCNum("Opus"))))), "hvc1", "Opus", ingest.H265, ingest.Opus, false},
	{"fourcc strings", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfStr("av01")), prop("audiocodecid", amfStr("mp4a")))), "av01", "mp4a", ingest.AV1, ingest.AAC, false},
	{"object without the name", amfObj(amfObject, prop("videocodecid", amfNum(7))), "7", "", ingest.H264, "", false},
	{"video only", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(7)))), "7", "", ingest.H264, "", false},
	{"unsupported ids", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(4)), prop("audiocodecid", amfNum(2)))), "4", "2", "", "", false},
	{"fractional id", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(7.5)))), "7.5", "", "", "", false},
	{"negative id", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(-7)))), "-7", "", "", "", false},
	{"NaN id", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(math.NaN())))), "NaN", "", "", "", false},
	{"null id is absent", join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", []byte{amfNull}))), "", "", "", "", false},
	{"other values skipped", join(amfStr("onMetaData"), amfObj(amfECMAArray,
		prop("stereo", []byte{amfBoolean, 1}),
		prop("encoder", []byte{amfLongString, 0, 0, 0, 3, 'x', 'y', 'z'}),
		prop("nested", amfObj(amfObject, prop("videocodecid", amfNum(12)))),
		prop("list", []byte{amfStrictArray, 0, 0, 0, 2, amfNull, amfUndefined}),
		prop("when", []byte{amfDate, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		prop("ref", []byte{amfReference, 0, 1}),
		prop("audiocodecid", amfNum(10)))), "", "10", "", ingest.AAC, false},
	{"end marker missing", join(amfStr("onMetaData"), []byte{amfObject}, prop("videocodecid", amfNum(7))), "7", "", ingest.H264, "", false},
	{"other data frame", join(amfStr("onCuePoint"), amfObj(amfObject, prop("videocodecid", amfNum(7)))), "", "", "", "", false},
	{"name only", amfStr("onMetaData"), "", "", "", "", false},
	{"empty", nil, "", "", "", "", false},
	{"not an object", join(amfStr("onMetaData"), amfNum(1)), "", "", "", "", true},
	{"truncated number", join(amfStr("onMetaData"), []byte{amfObject}, prop("videocodecid", []byte{amfNumber, 0x40})), "", "", "", "", true},
	{"truncated name", []byte{amfString, 0, 10, 'o'}, "", "", "", "", true},
	{"unsupported type", join(amfStr("onMetaData"), []byte{amfObject}, prop("x", []byte{0x0d})), "", "", "", "", true},
	{"nested too deep", join(amfStr("onMetaData"), []byte{amfObject}, []byte(strings.Repeat("\x00\x01a\x03", 40))), "", "", "", "", true},
	{"strict array count lies", join(amfStr("onMetaData"), []byte{amfObject}, prop("l", []byte{amfStrictArray, 0xff, 0xff, 0xff, 0xff, amfNull})), "", "", "", "", true},
}

func TestParseMetaData(t *testing.T) {
	for _, tc := range metaDataCases {
		t.Run(tc.name, func(t *testing.T) {
			md, err := parseMetaData(tc.in)
			if tc.wantErr {
				if !errors.Is(err, errAMF) {
					t.Fatalf("error %v, want errAMF", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.video.id != tc.video || md.audio.id != tc.audio || md.video.codec != tc.vCodec || md.audio.codec != tc.aCodec {
				t.Errorf("got video %+v audio %+v", md.video, md.audio)
			}
			if md.video.present != (tc.video != "") || md.audio.present != (tc.audio != "") {
				t.Errorf("presence: video %v audio %v", md.video.present, md.audio.present)
			}
		})
	}
}

func TestParseMetaDataFFmpeg(t *testing.T) {
	md, err := parseMetaData(ffmpegScriptTag(t))
	if err != nil {
		t.Fatal(err)
	}
	if md.video.codec != ingest.H264 || md.audio.codec != ingest.AAC || !md.video.expected() || !md.audio.expected() {
		t.Errorf("ffmpeg metadata parsed as %+v", md)
	}
}

// FuzzParseMetaData: no input may panic or fail otherwise than with errAMF.
func FuzzParseMetaData(f *testing.F) {
	f.Add(ffmpegScriptTag(f))
	for _, tc := range metaDataCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := parseMetaData(b)
		if err != nil {
			if !errors.Is(err, errAMF) {
				t.Fatalf("error %v is not errAMF", err)
			}
			return
		}
		if md.video.codec != "" && md.video.codec.Kind() != ingest.Video || md.audio.codec != "" && md.audio.codec.Kind() != ingest.Audio {
			t.Fatalf("codec of the wrong kind: %+v", md)
		}
	})
}
