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
		for _, parts := range []bool{false, true} {
			name := tc.name
			if parts {
				name += "/parts"
			}
			t.Run(name, func(t *testing.T) {
				testFragmenterCodec(t, tc.name, tc.file, tc.entry, tc.codecString, tc.timescale, tc.width, tc.height, tc.frame, tc.wantReorder, parts)
			})
		}
	}
}

// testFragmenterCodec is one case of TestFragmenterCodecs, with parts off
// (one fragment per segment, the historic goldens) or on (the segment is
// its parts' chunks; goldens NAME.parts.segment).
func testFragmenterCodec(t *testing.T, name, file, entry, codecString string, timescale uint32, width, height int, frame uint64, wantReorder, parts bool) {
	c := loadClip(t, file)
	e := newEnv(t, Options{SegmentTarget: time.Second, PartsOff: !parts})
	sess := e.publish("clip", c.track)
	write(t, sess, c.aus)
	sess.Close(nil) // flush the last segment
	tl := e.timeline("clip")
	checkInvariants(t, tl, false)
	tt := tl.Tracks[0]
	if tt.Timescale != timescale {
		t.Errorf("timescale %d, want %d", tt.Timescale, timescale)
	}
	if tt.Track.CodecString != codecString {
		t.Errorf("codec string %q, want %q", tt.Track.CodecString, codecString)
	}
	if len(tt.Segments) < 1 {
		t.Fatalf("no segments")
	}

	init := tt.Segments[0].Init
	checkInit(t, init, entry, width, height)

	// Expected sample times: the first DTS maps to the fake clock's now.
	base := ticksAt(epoch.UnixNano(), timescale)
	dts0 := c.aus[0].DTS
	var got []mp4.FullSample
	var prevMfhd uint32
	for i, seg := range tt.Segments {
		d := decodeSegment(t, init, seg)
		if d.tfdt != seg.Start {
			t.Errorf("segment %d: tfdt %d, Segment.Start %d", i, d.tfdt, seg.Start)
		}
		for _, f := range d.frags {
			if v := f.Moof.Traf.Tfdt.Version; v != 1 {
				t.Errorf("segment %d: tfdt version %d, want 1", i, v)
			}
		}
		if !parts {
			if len(d.frags) != 1 || len(seg.Parts) != 0 {
				t.Fatalf("segment %d: %d fragments, %d parts; want 1 fragment, no parts", i, len(d.frags), len(seg.Parts))
			}
			if d.frags[0].Moof.Mfhd.SequenceNumber != uint32(seg.Seq) {
				t.Errorf("segment %d: mfhd sequence %d, Seq %d", i, d.frags[0].Moof.Mfhd.SequenceNumber, seg.Seq)
			}
		} else {
			checkParts(t, tl, seg, d, &prevMfhd)
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
		if frame > 0 {
			wantDTS = base + uint64(i)*frame
			wantDur = uint32(frame)
		} else {
			wantDTS = base + uint64(rescale(au.DTS-dts0, c.track.ClockRate, timescale))
			if i+1 < len(c.aus) {
				wantDur = uint32(rescale(c.aus[i+1].DTS-au.DTS, c.track.ClockRate, timescale))
			} else {
				wantDur = got[i-1].Dur // the last frame repeats the one before
			}
			wantCTO := int32(rescale(au.PTS-au.DTS, c.track.ClockRate, timescale))
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
	if reordered != wantReorder {
		t.Errorf("reordered samples %v, want %v", reordered, wantReorder)
	}

	golden(t, name+".init", infoDump(t, init.Data))
	if parts {
		golden(t, name+".parts.segment", infoDump(t, tt.Segments[0].Data))
	} else {
		golden(t, name+".segment", infoDump(t, tt.Segments[0].Data))
	}
	ffprobeCheck(t, tt, len(c.aus))
}

// checkParts checks a segment against its parts: its bytes are theirs
// concatenated, each part is one chunk whose tfdt is its start, no part
// exceeds the part target, the first part has the styp and a prft that
// states the tfdt as UTC, and mfhd sequence numbers rise per chunk.
func checkParts(t *testing.T, tl *Timeline, seg *Segment, d decoded, prevMfhd *uint32) {
	t.Helper()
	if len(seg.Parts) == 0 || len(seg.Parts) != len(d.frags) {
		t.Fatalf("segment %d: %d parts, %d fragments", seg.Seq, len(seg.Parts), len(d.frags))
	}
	var cat []byte
	next := seg.Start
	for k, p := range seg.Parts {
		cat = append(cat, p.Data...)
		f := d.frags[k]
		if p.Index != k || p.Start != next || f.Moof.Traf.Tfdt.BaseMediaDecodeTime() != p.Start || p.Timescale != seg.Timescale {
			t.Errorf("segment %d part %d: index %d start %d tfdt %d, want start %d", seg.Seq, k, p.Index, p.Start, f.Moof.Traf.Tfdt.BaseMediaDecodeTime(), next)
		}
		if p.Length() > tl.PartTarget {
			t.Errorf("segment %d part %d: %v longer than the part target %v", seg.Seq, k, p.Length(), tl.PartTarget)
		}
		if mf := f.Moof.Mfhd.SequenceNumber; mf <= *prevMfhd {
			t.Errorf("segment %d part %d: mfhd %d after %d", seg.Seq, k, mf, *prevMfhd)
		} else {
			*prevMfhd = mf
		}
		if p.Name() != "part-"+strconv.FormatUint(p.Start, 10)+".m4s" || p.ETag == "" {
			t.Errorf("part name %s etag %s", p.Name(), p.ETag)
		}
		next += p.Duration
	}
	if !bytes.Equal(cat, seg.Data) {
		t.Errorf("segment %d: bytes are not its parts' bytes", seg.Seq)
	}
	if next != seg.Start+seg.Duration {
		t.Errorf("segment %d: parts end at %d, segment at %d", seg.Seq, next, seg.Start+seg.Duration)
	}
	if d.prft == nil {
		t.Fatalf("segment %d: no prft", seg.Seq)
	}
	if d.prft.MediaTime != seg.Start || !d.prft.NTPTimestamp.Time().Equal(seg.StartTime().Truncate(time.Microsecond)) &&
		absDur(d.prft.NTPTimestamp.Time().Sub(seg.StartTime())) > time.Microsecond {
		t.Errorf("segment %d: prft media time %d ntp %v, want %d %v", seg.Seq, d.prft.MediaTime, d.prft.NTPTimestamp.Time(), seg.Start, seg.StartTime())
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
