package packager

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestFragmenterCodecs packages real ffmpeg output of every codec and decodes
// the result with mp4ff: tfdt, per-sample durations, composition offsets,
// sync flags and data must all come back as they went in.
func TestFragmenterCodecs(t *testing.T) {
	tests := []struct {
		name, file    string
		entry         string
		codecString   string
		timescale     uint32
		width, height int
		frame         uint64 // audio frame duration in ticks
		wantReorder   bool   // B-frames: some PTS != DTS
	}{
		{name: "h264", file: "h264.mp4", entry: "avc1", codecString: "avc1.64000D", timescale: 90000, width: 320, height: 240, wantReorder: true},
		{name: "h265", file: "hevc.mp4", entry: "hvc1", codecString: "hvc1.1.6.L60.90", timescale: 90000, width: 320, height: 240, wantReorder: true},
		{name: "av1", file: "av1.mp4", entry: "av01", codecString: "av01.0.00M.08.0.110.02.02.02.0", timescale: 90000, width: 320, height: 240},
		{name: "aac", file: "aac.mp4", entry: "mp4a", codecString: "mp4a.40.2", timescale: 48000, frame: 1024},
		{name: "opus", file: "opus.mp4", entry: "Opus", codecString: "opus", timescale: 48000, frame: 960},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := loadClip(t, tc.file)
			e := newEnv(t, Options{SegmentTarget: time.Second})
			sess := e.publish("clip", c.track)
			write(t, sess, c.aus)
			sess.Close(nil) // flush the last segment
			tl := e.timeline("clip")
			checkInvariants(t, tl, false)
			tt := tl.Tracks[0]
			if tt.Timescale != tc.timescale {
				t.Errorf("timescale %d, want %d", tt.Timescale, tc.timescale)
			}
			if tt.Track.CodecString != tc.codecString {
				t.Errorf("codec string %q, want %q", tt.Track.CodecString, tc.codecString)
			}
			if len(tt.Segments) < 1 {
				t.Fatalf("no segments")
			}

			init := tt.Segments[0].Init
			checkInit(t, init, tc.entry, tc.width, tc.height)

			// Expected sample times: the first DTS maps to the fake clock's now.
			base := ticksAt(epoch.UnixNano(), tc.timescale)
			dts0 := c.aus[0].DTS
			var got []mp4.FullSample
			for i, seg := range tt.Segments {
				d := decodeSegment(t, init, seg)
				if d.tfdt != seg.Start {
					t.Errorf("segment %d: tfdt %d, Segment.Start %d", i, d.tfdt, seg.Start)
				}
				if v := d.file.Segments[0].Fragments[0].Moof.Traf.Tfdt.Version; v != 1 {
					t.Errorf("segment %d: tfdt version %d, want 1", i, v)
				}
				if d.seq != uint32(seg.Seq) {
					t.Errorf("segment %d: mfhd sequence %d, Seq %d", i, d.seq, seg.Seq)
				}
				if !seg.Independent || !d.samples[0].IsSync() {
					t.Errorf("segment %d does not start with a sync sample", i)
				}
				if !strings.HasPrefix(seg.ETag, `"`) || !strings.HasSuffix(seg.ETag, `"`) {
					t.Errorf("segment %d: ETag %s not quoted", i, seg.ETag)
				}
				got = append(got, d.samples...)
			}
			if len(got) != len(c.aus) {
				t.Fatalf("%d samples packaged, %d written", len(got), len(c.aus))
			}
			reordered := false
			for i, s := range got {
				au := c.aus[i]
				var wantDTS uint64
				var wantDur uint32
				if tc.frame > 0 {
					wantDTS = base + uint64(i)*tc.frame
					wantDur = uint32(tc.frame)
				} else {
					wantDTS = base + uint64(rescale(au.DTS-dts0, c.track.ClockRate, tc.timescale))
					if i+1 < len(c.aus) {
						wantDur = uint32(rescale(c.aus[i+1].DTS-au.DTS, c.track.ClockRate, tc.timescale))
					} else {
						wantDur = got[i-1].Dur // the last frame repeats the one before
					}
					wantCTO := int32(rescale(au.PTS-au.DTS, c.track.ClockRate, tc.timescale))
					if s.CompositionTimeOffset != wantCTO {
						t.Errorf("sample %d: composition offset %d, want %d", i, s.CompositionTimeOffset, wantCTO)
					}
					reordered = reordered || wantCTO != 0
				}
				if s.DecodeTime != wantDTS || s.Dur != wantDur {
					t.Errorf("sample %d: dts %d dur %d, want %d %d", i, s.DecodeTime, s.Dur, wantDTS, wantDur)
				}
				if s.IsSync() != au.Key {
					t.Errorf("sample %d: sync %v, key %v", i, s.IsSync(), au.Key)
				}
				if !bytes.Equal(s.Data, au.Data) {
					t.Errorf("sample %d: data differs", i)
				}
			}
			if reordered != tc.wantReorder {
				t.Errorf("reordered samples %v, want %v", reordered, tc.wantReorder)
			}

			golden(t, tc.name+".init", infoDump(t, init.Data))
			golden(t, tc.name+".segment", infoDump(t, tt.Segments[0].Data))
			ffprobeCheck(t, tt, len(c.aus))
		})
	}
}

func checkInit(t *testing.T, init *Init, entry string, width, height int) {
	t.Helper()
	mf, err := mp4.DecodeFile(bytes.NewReader(init.Data))
	if err != nil {
		t.Fatalf("decode init: %v", err)
	}
	if got := mf.Init.Ftyp.MajorBrand(); got != "cmfc" {
		t.Errorf("ftyp major brand %q", got)
	}
	trak := mf.Init.Moov.Trak
	if mf.Init.Moov.Mvex == nil || mf.Init.Moov.Mvex.Trex == nil {
		t.Errorf("no mvex/trex")
	}
	children := trak.Mdia.Minf.Stbl.Stsd.Children
	if len(children) != 1 || children[0].Type() != entry {
		t.Fatalf("sample entries %v, want one %s", children, entry)
	}
	if width > 0 {
		if w, h := int(trak.Tkhd.Width>>16), int(trak.Tkhd.Height>>16); w != width || h != height {
			t.Errorf("tkhd size %dx%d, want %dx%d", w, h, width, height)
		}
	}
	if !strings.HasPrefix(init.Name, "init-") || !strings.HasSuffix(init.Name, ".mp4") || len(init.Name) != len("init-0123456789abcdef.mp4") {
		t.Errorf("init name %q", init.Name)
	}
	if init.ETag != `"`+strings.TrimSuffix(strings.TrimPrefix(init.Name, "init-"), ".mp4")+`"` {
		t.Errorf("init ETag %s for %s", init.ETag, init.Name)
	}
}

func infoDump(t *testing.T, data []byte) []byte {
	t.Helper()
	mf, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, box := range mf.Children {
		if err := box.Info(&b, "all:1", "", "  "); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// ffprobeCheck decodes every frame with ffprobe when it is installed: the
// real proof that players can read what we write.
func ffprobeCheck(t *testing.T, tt *TrackTimeline, frames int) {
	t.Helper()
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Log("ffprobe not installed; skipping the decode check")
		return
	}
	data := append([]byte{}, tt.Segments[0].Init.Data...)
	for _, s := range tt.Segments {
		data = append(data, s.Data...)
	}
	path := filepath.Join(t.TempDir(), "track.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ffprobe, "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe reported: %s", stderr.Bytes())
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(out)), ",")))
	if err != nil {
		t.Fatalf("ffprobe output %q: %v", out, err)
	}
	// Audio decoders may hold back or add a frame of priming; video must match.
	if tt.Track.Kind == ingest.Video && n != frames || n < frames-1 {
		t.Errorf("ffprobe decoded %d frames, want %d", n, frames)
	}
}
