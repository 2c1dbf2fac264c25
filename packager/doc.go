// Package packager turns published access units into CMAF and keeps each
// stream's rolling live window as immutable Timeline snapshots.
//
// A Registry implements ingest.Publisher. An adapter publishes, declares its
// tracks and writes access units; the origin reads snapshots:
//
//	reg, err := packager.NewRegistry(packager.Options{Logger: log, Registerer: promReg})
//	defer reg.Close() // ends every stream cleanly: final segments, EXT-X-ENDLIST
//
//	sess, err := reg.Publish(ctx, ingest.PublishInfo{Name: "demo", Protocol: "rtmp"})
//	err = sess.Start(tracks)           // init segments are built here
//	err = sess.WriteAU(au)             // segments appear as key frames arrive
//	sess.Close(nil)                    // the stream waits ReconnectGrace for a return
//
//	tl, err := reg.Timeline("demo")    // an atomic load; never blocks on ingest
//	<-tl.Changed()                     // closed when a newer snapshot exists
//
// # Packaging
//
// Each track becomes one CMAF track file set: an init segment (ftyp+moov)
// per track and period, and media segments (styp+moof+mdat). With parts on
// (the default, Options.PartsOff), a segment is cut into CMAF chunks while
// it grows, one moof+mdat each: they are the LL-HLS parts and LL-DASH
// chunks, published one snapshot each (TrackTimeline.Pending, NextPart),
// and the complete segment is their bytes (chunker.go). With parts off a
// segment is one fragment. Video runs at a 90 kHz timescale, AAC at its sample rate,
// Opus at 48 kHz. Times are absolute: media time 0 is 1970-01-01T00:00:00Z
// and a session's first access unit is mapped to the wall clock, so a tfdt
// is a UTC instant (tfdt version 1). Where segments are cut, and why no
// segment exceeds the target duration, is documented on the segmenter type.
//
// # Streams, sessions, periods
//
// A stream outlives its publish sessions. When a publisher leaves, the
// stream waits ReconnectGrace; a publisher that returns in time continues
// the stream in a new Period: its first segments carry Discontinuity, media
// sequence numbers keep rising and time never goes back. Without a return
// the stream ends (Ended snapshot), stays readable for one window, then is
// removed. A codec configuration change (a new SPS) also starts a period.
//
// The packaging work of a stream runs on its publisher's goroutine under the
// stream's mutex (the contract gives a session one goroutine). Readers
// never take that mutex: every change stores a new snapshot in an atomic
// pointer and closes the previous snapshot's Changed channel.
package packager
