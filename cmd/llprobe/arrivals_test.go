package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

func part(start uint64) *packager.Part {
	return &packager.Part{Start: start, Duration: 10, Timescale: 90000}
}

func TestNewParts(t *testing.T) {
	seg := &packager.Segment{Seq: 1, Start: 0, Duration: 20, Parts: []*packager.Part{part(0), part(10)}}
	steps := []struct {
		name string
		tl   *packager.Timeline
		want []string
	}{
		{
			name: "first pending part",
			tl:   &packager.Timeline{Stream: "s", Tracks: []*packager.TrackTimeline{{Name: "v0", Pending: []*packager.Part{part(0)}}}},
			want: []string{"s/v0/part-0.m4s"},
		},
		{
			name: "no new part",
			tl:   &packager.Timeline{Stream: "s", Tracks: []*packager.TrackTimeline{{Name: "v0", Pending: []*packager.Part{part(0)}}}},
		},
		{
			name: "the segment completes with its second part",
			tl:   &packager.Timeline{Stream: "s", Tracks: []*packager.TrackTimeline{{Name: "v0", Segments: []*packager.Segment{seg}}}},
			want: []string{"s/v0/part-10.m4s"},
		},
		{
			name: "a part of the next segment, and a new track",
			tl: &packager.Timeline{Stream: "s", Tracks: []*packager.TrackTimeline{
				{Name: "v0", Segments: []*packager.Segment{seg}, Pending: []*packager.Part{part(20)}},
				{Name: "a0", Pending: []*packager.Part{part(5)}},
			}},
			want: []string{"s/v0/part-20.m4s", "s/a0/part-5.m4s"},
		},
	}
	ends := map[string]uint64{}
	for _, s := range steps {
		if got, _ := newParts(s.tl, ends); !slices.Equal(got, s.want) {
			t.Fatalf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
}

func TestArrivalsJoin(t *testing.T) {
	a := newArrivals()
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

	d := func(asked, first, done int) delivery {
		return delivery{asked: ms(asked), firstByte: ms(first), delivered: ms(done)}
	}

	a.delivered("s/v0/part-1.m4s", d(-300, 2, 3)) // read before the wrapper recorded the arrival
	a.arrived([]string{"s/v0/part-1.m4s", "s/a0/part-1.m4s"}, ms(0), ms(1))
	a.delivered("s/v0/part-1.m4s", d(1, 4, 5))             // asked after the part existed
	a.arrived([]string{"s/v0/part-1.m4s"}, ms(50), ms(51)) // a second arrival does not move the first
	a.delivered("s/v0/part-1.m4s", d(-10, 6, 7))
	a.delivered("s/v0/part-9.m4s", d(0, 8, 9)) // never arrives
	a.delivered("s/v0/part-1.m4s", delivery{delivered: ms(2), written: true})
	a.delivered("s/v0/part-8.m4s", delivery{delivered: ms(2), written: true}) // never arrives: not a client's

	m := a.result()
	if want := []time.Duration{3 * time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond}; !slices.Equal(m.latencies, want) {
		t.Errorf("latencies %v, want %v", m.latencies, want)
	}
	if want := []time.Duration{2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond}; !slices.Equal(m.firstByte, want) {
		t.Errorf("first bytes %v, want %v", m.firstByte, want)
	}
	if want := []time.Duration{2 * time.Millisecond}; !slices.Equal(m.written, want) {
		t.Errorf("written %v, want %v", m.written, want)
	}
	if want := []time.Duration{time.Millisecond, time.Millisecond}; !slices.Equal(m.packaging, want) {
		t.Errorf("packaging %v, want %v", m.packaging, want)
	}
	if m.late != 1 || m.unmatched != 1 {
		t.Errorf("late %d, unmatched %d; want 1, 1", m.late, m.unmatched)
	}
	if m.parts["v0"] != 1 || m.parts["a0"] != 1 {
		t.Errorf("parts %v", m.parts)
	}
	select {
	case <-a.first:
	default:
		t.Error("first not closed")
	}
}

func TestArrivalsPrune(t *testing.T) {
	a := newArrivals()
	t0 := time.Unix(1000, 0)
	late := t0.Add(arrivalRetention + time.Second)
	a.arrived([]string{"s/v0/part-1.m4s"}, t0, t0)
	a.delivered("s/v0/part-2.m4s", delivery{asked: t0, firstByte: t0, delivered: t0})
	a.arrived([]string{"s/v0/part-3.m4s"}, late, late)
	a.delivered("s/v0/part-1.m4s", delivery{asked: t0, firstByte: late, delivered: late}) // too late to match
	m := a.result()
	if len(m.latencies) != 0 || m.unmatched != 2 || len(a.at) != 1 || len(a.order) != 1 {
		t.Fatalf("latencies %v, unmatched %d, arrivals held %d/%d; want none, 2, 1/1", m.latencies, m.unmatched, len(a.at), len(a.order))
	}
}

// fakeStream is a Publisher, Session and timeline source whose snapshot
// changes when the test says the next WriteAU completes a part.
type fakeStream struct {
	tl   *packager.Timeline
	next []*packager.Timeline // snapshot after each WriteAU (nil: unchanged)
}

func (f *fakeStream) Publish(context.Context, ingest.PublishInfo) (ingest.Session, error) {
	return f, nil
}
func (f *fakeStream) Start([]ingest.Track) error { return nil }
func (f *fakeStream) Close(error)                {}
func (f *fakeStream) WriteAU(ingest.AccessUnit) error {
	if len(f.next) > 0 {
		if f.next[0] != nil {
			f.tl = f.next[0]
		}
		f.next = f.next[1:]
	}
	return nil
}
func (f *fakeStream) Timeline(string) (*packager.Timeline, error) { return f.tl, nil }

func TestTimedPublisher(t *testing.T) {
	track := func(parts ...*packager.Part) *packager.Timeline {
		return &packager.Timeline{Stream: "s", Tracks: []*packager.TrackTimeline{{Name: "v0", Pending: parts}}}
	}
	f := &fakeStream{tl: track(), next: []*packager.Timeline{nil, track(part(0)), nil, track(part(0), part(10))}}
	a := newArrivals()
	p := newTimedPublisher(f, f, a)
	sess, err := p.Publish(context.Background(), ingest.PublishInfo{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var before []time.Time
	for range 4 {
		before = append(before, time.Now())
		if err := sess.WriteAU(ingest.AccessUnit{}); err != nil {
			t.Fatal(err)
		}
	}
	at0, at10 := a.at["s/v0/part-0.m4s"], a.at["s/v0/part-10.m4s"]
	// Each part's arrival is the time of the WriteAU that completed it.
	if at0.Before(before[1]) || !at0.Before(before[2]) || at10.Before(before[3]) {
		t.Fatalf("arrivals %v, %v; WriteAU calls at %v", at0, at10, before)
	}
}
