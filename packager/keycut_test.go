package packager

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// A source whose first key frame has DTS = PTS while later frames lag by the
// reorder delay (DTS derived from PTS over RTP or MPEG-TS) still cuts at the
// key frame that is due: segments are cut on presentation time.
func TestKeyCutOnPresentationTime(t *testing.T) {
	sps, _ := hex.DecodeString("6764000dacd94141fb0110000003001000000303c0f1429960")
	pps, _ := hex.DecodeString("68ebe3cb22c0")
	clock := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	r, err := NewRegistry(Options{SegmentTarget: 2 * time.Second, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sess, err := r.Publish(context.Background(), ingest.PublishInfo{Name: "pts", Protocol: "rtsp"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ingest.H264Track([][]byte{sps}, [][]byte{pps}, 90000)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{tr}); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i <= 130; i++ {
		dts, pts := i*3000-2000, i*3000 // 30 fps; DTS lags PTS by 2000 ticks...
		if i == 0 {
			dts = 0 // ...except for the first frame
		}
		key := i%60 == 0
		nal := []byte{0, 0, 0, 2, 0x41, 0}
		if key {
			nal[4] = 0x65
		}
		if err := sess.WriteAU(ingest.AccessUnit{DTS: dts, PTS: pts, Key: key, Data: nal}); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := r.Timeline("pts")
	if err != nil {
		t.Fatal(err)
	}
	segs := tl.Tracks[0].Segments
	if len(segs) < 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	for i, s := range segs[:2] {
		if d := s.Length(); d > 2100*time.Millisecond || d < 1900*time.Millisecond {
			t.Errorf("segment %d lasts %s, want about 2s", i, d)
		}
	}
	if tl.TargetDuration != 2*time.Second {
		t.Errorf("TargetDuration %s, want 2s", tl.TargetDuration)
	}
}
