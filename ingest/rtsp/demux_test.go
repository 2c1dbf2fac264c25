package rtsp

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// fakeClock is a demuxer clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// replayer feeds a capture to a demuxer the way gortsplib's session does:
// packets of an unknown medium are not delivered, packets of a known
// medium with an unknown payload type are decode errors.
type replayer struct {
	d      *demuxer
	tracks []*mediaTrack
	byMed  map[int]*mediaTrack
	failed int // onFail calls
	clock  fakeClock
}

func newReplayer(c *capture, out ingest.Session, log *slog.Logger) (*replayer, error) {
	desc, err := c.description()
	if err != nil {
		return nil, fmt.Errorf("SDP: %w", err)
	}
	tracks, _, err := planTracks(desc)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, _ := newMetrics(nil)
	r := &replayer{tracks: tracks, byMed: map[int]*mediaTrack{}, clock: fakeClock{t: time.Unix(1e9, 0)}}
	r.d = newDemuxer(out, tracks, log, m, time.Minute, func() { r.failed++ })
	r.d.now = r.clock.now
	for i, md := range desc.Medias {
		for _, t := range tracks {
			if t.media == md {
				r.byMed[i] = t
			}
		}
	}
	return r, nil
}

// feed delivers one captured packet.
func (r *replayer) feed(p capturedPacket) {
	t := r.byMed[p.media]
	if t == nil {
		return
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(p.data); err != nil {
		r.d.decodeError(err)
		return
	}
	if pkt.PayloadType != t.format.PayloadType() {
		r.d.decodeError(liberrors.ErrServerRTPPacketUnknownPayloadType{PayloadType: pkt.PayloadType})
		return
	}
	r.d.packet(t, &pkt)
}

func (r *replayer) feedAll(c *capture) {
	for _, p := range c.packets {
		r.feed(p)
	}
}

// TestReplayCaptures: real ffmpeg captures become the expected tracks and
// access units, with DTS derived for B-frames.
func TestReplayCaptures(t *testing.T) {
	for _, tc := range []struct {
		file   string
		tracks []string // codec strings
		video  auStats  // count, keys; reordered > 0 when set
		audio  int      // at least this many audio AUs
		bframe bool
	}{
		{"h264_aac.rtpcap", []string{"avc1.64000B", "mp4a.40.2"}, auStats{count: 60, keys: 2}, 90, true},
		{"h265_aac.rtpcap", []string{"hvc1.1.6.L60.90", "mp4a.40.2"}, auStats{count: 30, keys: 1}, 44, true},
		{"h264_opus.rtpcap", []string{"avc1.42C00B", "opus"}, auStats{count: 30, keys: 2}, 49, false},
		{"aac_latm.rtpcap", []string{"mp4a.40.2"}, auStats{}, 46, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c := readCapture(t, tc.file)
			s := newFakeSession(ingest.PublishInfo{Name: "replay"})
			r, err := newReplayer(c, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.feedAll(c)
			if f, _ := r.d.result(); f != nil {
				t.Fatalf("demuxer failed: %v (%s)", f, f.reason)
			}
			starts, aus, errs := s.snapshot()
			for _, e := range errs {
				t.Error(e)
			}
			if len(starts) != 1 {
				t.Fatalf("%d Start calls, want 1", len(starts))
			}
			var got []string
			for _, tr := range starts[0] {
				got = append(got, tr.CodecString)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.tracks) {
				t.Errorf("tracks %v, want %v", got, tc.tracks)
			}
			audioTrack := len(starts[0]) - 1
			if tc.video.count > 0 {
				v := statsOf(aus, 0)
				if v.count != tc.video.count || v.keys != tc.video.keys || !v.firstKey {
					t.Errorf("video: %d AUs, %d keys, first key %v; want %d, %d, true", v.count, v.keys, v.firstKey, tc.video.count, tc.video.keys)
				}
				if tc.bframe != (v.reordered > 0) {
					t.Errorf("video: %d AUs with PTS > DTS, B-frames %v", v.reordered, tc.bframe)
				}
				// 30 fps at 90 kHz: 3000 ticks per frame once the
				// extractor knows the reorder depth.
				if v.maxDelta > 3*3000 {
					t.Errorf("video: a DTS step of %d ticks", v.maxDelta)
				}
			}
			if a := statsOf(aus, audioTrack); a.count < tc.audio {
				t.Errorf("audio: %d AUs, want at least %d", a.count, tc.audio)
			}
		})
	}
}

// h264Sets returns the SPS and PPS of a capture's H.264 SDP.
func h264Sets(t *testing.T, file string) (sps, pps []byte) {
	t.Helper()
	desc, err := readCapture(t, file).description()
	if err != nil {
		t.Fatal(err)
	}
	f := desc.Medias[0].Formats[0].(*format.H264)
	return f.SPS, f.PPS
}

// stapA builds a STAP-A payload of NAL units (RFC 6184 5.7.1).
func stapA(nalus ...[]byte) []byte {
	b := []byte{24}
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// TestParameterSets: the Track is built from the parameter sets the stream
// really uses, whether they are in the SDP, in-band, or both and
// different; a change mid-stream starts a new period.
func TestParameterSets(t *testing.T) {
	c := readCapture(t, "h264_aac.rtpcap") // High profile, sets in the SDP and in-band before each IDR
	otherSPS, otherPPS := h264Sets(t, "h264_opus.rtpcap")
	noSprop := regexp.MustCompile(`sprop-parameter-sets=[^;\r\n]*;? ?`)
	isSets := func(p capturedPacket) bool {
		var pkt rtp.Packet
		return p.media == 0 && pkt.Unmarshal(p.data) == nil && len(pkt.Payload) > 0 && pkt.Payload[0]&0x1f == 24
	}
	replaceSets := func(p capturedPacket) capturedPacket {
		var pkt rtp.Packet
		if err := pkt.Unmarshal(p.data); err != nil {
			t.Fatal(err)
		}
		pkt.Payload = stapA(otherSPS, otherPPS)
		return capturedPacket{media: p.media, data: marshal(&pkt)}
	}
	for _, tc := range []struct {
		name   string
		sdp    func(string) string
		change func(i, setsSeen int, p capturedPacket) capturedPacket
		starts []string // the video codec string of each Start
	}{
		{"sdp and in-band agree", nil, nil, []string{"avc1.64000B"}},
		{"in-band only", func(s string) string { return noSprop.ReplaceAllString(s, "") }, nil, []string{"avc1.64000B"}},
		{"sdp differs from in-band: in-band wins without a restart",
			func(s string) string {
				return strings.Replace(s, "Z2QAC6zZQoR+XARAAAADAEAAAA8DxQplgA==,aO+Pyw==", "Z0LAC9oKEflwEQAAAwABAAADADwPFCqg,aM4PyA==", 1)
			}, nil, []string{"avc1.64000B"}},
		{"change at the second keyframe", nil,
			func(_, setsSeen int, p capturedPacket) capturedPacket {
				if setsSeen == 2 && isSets(p) {
					return replaceSets(p)
				}
				return p
			}, []string{"avc1.64000B", "avc1.42C00B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &capture{sdp: c.sdp}
			if tc.sdp != nil {
				in.sdp = []byte(tc.sdp(string(c.sdp)))
				if bytes.Equal(in.sdp, c.sdp) {
					t.Fatal("the SDP edit changed nothing")
				}
			}
			sets := 0
			for i, p := range c.packets {
				if isSets(p) {
					sets++
				}
				if tc.change != nil {
					p = tc.change(i, sets, p)
				}
				in.packets = append(in.packets, p)
			}
			s := newFakeSession(ingest.PublishInfo{Name: "ps"})
			r, err := newReplayer(in, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.feedAll(in)
			if f, _ := r.d.result(); f != nil {
				t.Fatalf("failed: %v", f)
			}
			starts, aus, errs := s.snapshot()
			for _, e := range errs {
				t.Error(e)
			}
			var got []string
			for _, st := range starts {
				got = append(got, st[0].CodecString)
				if len(st[0].SPS) != 1 || len(st[0].PPS) != 1 {
					t.Errorf("Start with %d SPS and %d PPS", len(st[0].SPS), len(st[0].PPS))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.starts) {
				t.Errorf("Start calls with %v, want %v", got, tc.starts)
			}
			if v := statsOf(aus, 0); v.count != 60 || v.keys != 2 {
				t.Errorf("%d video AUs, %d keys", v.count, v.keys)
			}
			// The samples carry no parameter sets: the init segment does.
			for _, au := range aus {
				if au.Track != 0 {
					continue
				}
				nalus, err := ingest.AVCCToNALUs(au.Data, 4)
				if err != nil {
					t.Fatal(err)
				}
				if _, sps, pps, _ := ingest.SplitParameterSets(ingest.H264, nalus); len(sps)+len(pps) > 0 {
					t.Fatal("a sample carries parameter sets")
				}
			}
		})
	}
}

// TestNoMarkers: a source that never sets the RTP marker (some cameras)
// gets the same access units and timestamps, each frame ended by the next
// one's first packet.
func TestNoMarkers(t *testing.T) {
	for _, file := range []string{"h264_opus.rtpcap", "h265_aac.rtpcap"} {
		t.Run(file, func(t *testing.T) {
			c := readCapture(t, file)
			want := videoAUs(t, c)
			noMarkers := &capture{sdp: c.sdp}
			for _, p := range c.packets {
				var pkt rtp.Packet
				if err := pkt.Unmarshal(p.data); err != nil {
					t.Fatal(err)
				}
				if p.media == 0 {
					pkt.Marker = false
				}
				noMarkers.packets = append(noMarkers.packets, capturedPacket{media: p.media, data: marshal(&pkt)})
			}
			got := videoAUs(t, noMarkers)
			// The last frame waits for a next one that never comes.
			if len(got) != len(want)-1 || len(got) < 20 {
				t.Fatalf("%d AUs without markers, %d with", len(got), len(want))
			}
			for i := range got {
				if got[i].PTS != want[i].PTS || got[i].DTS != want[i].DTS || got[i].Key != want[i].Key || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Errorf("AU %d: PTS %d DTS %d key %v, want %d %d %v", i, got[i].PTS, got[i].DTS, got[i].Key, want[i].PTS, want[i].DTS, want[i].Key)
				}
			}
		})
	}
}

// videoAUs replays a capture and returns the video access units.
func videoAUs(t *testing.T, c *capture) []ingest.AccessUnit {
	t.Helper()
	s := newFakeSession(ingest.PublishInfo{Name: "m"})
	r, err := newReplayer(c, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.feedAll(c)
	_, aus, errs := s.snapshot()
	for _, e := range errs {
		t.Error(e)
	}
	var video []ingest.AccessUnit
	for _, au := range aus {
		if au.Track == 0 {
			video = append(video, au)
		}
	}
	return video
}
