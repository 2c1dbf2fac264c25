package rtmp

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/liveorigin/liveorigin/ingest"
)

// waitTimeout bounds every wait for an event; reaching it fails the test.
const waitTimeout = 10 * time.Second

// fakePublisher stands in for the packager's Registry: it enforces one
// publisher per name and records what each session receives.
type fakePublisher struct {
	mu       sync.Mutex
	live     map[string]*fakeSession
	sessions chan *fakeSession // every session handed out
	writeErr error             // WriteAU fails with it when set
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{live: map[string]*fakeSession{}, sessions: make(chan *fakeSession, 16)}
}

func (p *fakePublisher) Publish(_ context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	if err := ingest.ValidateName(info.Name); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.live[info.Name]; ok {
		return nil, fmt.Errorf("stream %q: %w", info.Name, ingest.ErrAlreadyPublishing)
	}
	s := &fakeSession{p: p, info: info, events: make(chan struct{}, 1), done: make(chan struct{}), writeErr: p.writeErr}
	p.live[info.Name] = s
	p.sessions <- s
	return s, nil
}

// nextSession waits for the next Publish.
func (p *fakePublisher) nextSession(t testing.TB) *fakeSession {
	t.Helper()
	select {
	case s := <-p.sessions:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("no publish session")
		return nil
	}
}

type fakeSession struct {
	p        *fakePublisher
	info     ingest.PublishInfo
	writeErr error

	mu       sync.Mutex
	starts   [][]ingest.Track
	aus      []ingest.AccessUnit
	closed   bool
	closeErr error

	events chan struct{} // a non-blocking nudge after every change
	done   chan struct{} // closed by Close
}

func (s *fakeSession) nudge() {
	select {
	case s.events <- struct{}{}:
	default:
	}
}

func (s *fakeSession) Start(tracks []ingest.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.nudge()
	if s.closed {
		return ingest.ErrClosed
	}
	s.starts = append(s.starts, tracks)
	return nil
}

func (s *fakeSession) WriteAU(au ingest.AccessUnit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.nudge()
	if s.closed {
		return ingest.ErrClosed
	}
	if len(s.starts) == 0 {
		return fmt.Errorf("%w: WriteAU before Start", ingest.ErrBadTracks)
	}
	if s.writeErr != nil {
		return s.writeErr
	}
	s.aus = append(s.aus, au)
	return nil
}

func (s *fakeSession) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed, s.closeErr = true, err
	s.p.mu.Lock()
	delete(s.p.live, s.info.Name)
	s.p.mu.Unlock()
	close(s.done)
	s.nudge()
}

// waitFor waits until cond holds for the session's state.
func (s *fakeSession) waitFor(t testing.TB, what string, cond func(s *fakeSession) bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.events:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *fakeSession) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		t.Fatal("session not closed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

func (s *fakeSession) snapshot() ([][]ingest.Track, []ingest.AccessUnit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]ingest.Track(nil), s.starts...), append([]ingest.AccessUnit(nil), s.aus...)
}

// flvTag is one tag of an FLV file.
type flvTag struct {
	typ  byte // 8 audio, 9 video, 18 script data
	ts   uint32
	body []byte
}

// readFLV reads the tags of an FLV file made by ffmpeg.
func readFLV(t testing.TB, name string) []flvTag {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 13 || string(b[:3]) != "FLV" {
		t.Fatalf("%s is not an FLV file", name)
	}
	var tags []flvTag
	for pos := int(binary.BigEndian.Uint32(b[5:9])) + 4; pos+11 <= len(b); {
		size := int(b[pos+1])<<16 | int(b[pos+2])<<8 | int(b[pos+3])
		ts := uint32(b[pos+4])<<16 | uint32(b[pos+5])<<8 | uint32(b[pos+6]) | uint32(b[pos+7])<<24
		if pos+11+size > len(b) {
			t.Fatalf("%s: truncated tag at %d", name, pos)
		}
		tags = append(tags, flvTag{typ: b[pos] & 0x1f, ts: ts, body: b[pos+11 : pos+11+size]})
		pos += 11 + size + 4
	}
	return tags
}

// mp4Sample is one sample of an MP4 video track, timestamps in ms.
type mp4Sample struct {
	dts, pts int64
	key      bool
	data     []byte
}

// readMP4Video returns the codec configuration record (hvcC or av1C
// payload) and the samples of the first track of an MP4 file made by ffmpeg.
func readMP4Video(t testing.TB, name string) ([]byte, []mp4Sample) {
	t.Helper()
	f, err := mp4.ReadMP4File(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	trak := f.Moov.Trak
	stbl := trak.Mdia.Minf.Stbl
	var rec []byte
	for _, c := range stbl.Stsd.Children {
		se, ok := c.(*mp4.VisualSampleEntryBox)
		if !ok {
			continue
		}
		var box mp4.Box
		switch {
		case se.HvcC != nil:
			box = se.HvcC
		case se.Av1C != nil:
			box = se.Av1C
		default:
			t.Fatalf("%s: no hvcC or av1C", name)
		}
		buf := make([]byte, box.Size())
		sw := bits.NewFixedSliceWriterFromSlice(buf)
		if err := box.EncodeSW(sw); err != nil {
			t.Fatal(err)
		}
		rec = buf[8:] // the record without the box header
	}
	timescale := int64(trak.Mdia.Mdhd.Timescale)
	mdatStart := f.Mdat.PayloadAbsoluteOffset()
	var samples []mp4Sample
	for nr := uint32(1); nr <= stbl.Stsz.GetNrSamples(); nr++ {
		chunkNr, first, err := stbl.Stsc.ChunkNrFromSampleNr(int(nr))
		if err != nil {
			t.Fatal(err)
		}
		offset := uint64(stbl.Stco.ChunkOffset[chunkNr-1])
		for s := first; s < int(nr); s++ {
			offset += uint64(stbl.Stsz.GetSampleSize(s))
		}
		size := uint64(stbl.Stsz.GetSampleSize(int(nr)))
		dec, _ := stbl.Stts.GetDecodeTime(nr)
		var cto int32
		if stbl.Ctts != nil {
			cto = stbl.Ctts.GetCompositionTimeOffset(nr)
		}
		key := stbl.Stss == nil || stbl.Stss.IsSyncSample(nr)
		dts := int64(dec) * 1000 / timescale
		samples = append(samples, mp4Sample{
			dts:  dts,
			pts:  (int64(dec) + int64(cto)) * 1000 / timescale,
			key:  key,
			data: f.Mdat.Data[offset-mdatStart : offset-mdatStart+size],
		})
	}
	return rec, samples
}

// exSequenceStartTag is an enhanced-RTMP video tag carrying the codec
// configuration record (IsExHeader, key frame, SequenceStart).
func exSequenceStartTag(fourCC string, rec []byte) []byte {
	return cat("90", "'"+fourCC, hexOf(rec))
}

// exFrameTag is the enhanced-RTMP video tag of one sample: for hvc1 a
// CodedFrames packet with the sample's composition time; for av01 a
// CodedFramesX packet whose temporal unit starts with a temporal delimiter,
// as OBS sends it (the CMAF sample must lose it).
func exFrameTag(fourCC string, smp mp4Sample) []byte {
	frameType := "a" // IsExHeader, inter frame
	if smp.key {
		frameType = "9" // IsExHeader, key frame
	}
	if fourCC == "hvc1" {
		cts := uint32(smp.pts - smp.dts)
		return cat(frameType+"1", "'"+fourCC, hexOf([]byte{byte(cts >> 16), byte(cts >> 8), byte(cts)}), hexOf(smp.data))
	}
	return cat(frameType+"3", "'"+fourCC, "1200", hexOf(smp.data))
}
