package main

import (
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// ingestClock measures how well a session's timeline is anchored to the
// wall clock. The packager maps a session's first DTS to the wall clock of
// its arrival and keeps that offset (DESIGN decision 2), so a frame's
// EXT-X-PROGRAM-DATE-TIME is its arrival time only if the first frame was
// not late: an encoder that stalls at start-up and then catches up (ffmpeg
// -re on a busy machine) sends every later frame ahead of its PDT, and
// every PDT-based latency (gohlslib's distance from the live edge, hls.js's
// latency) then reads low by as much. The offset of a video frame is its
// arrival minus its PDT, 0 when the anchor is right.
//
// The PDT of a frame is worked out from the session's first video part:
// the packager starts it at the session's first video key frame, so
// PDT(frame) = start of that part + (DTS − DTS of that key frame).
type ingestClock struct {
	video     int // index of the video track in Start's tracks; -1 if none
	clockRate uint32

	haveKey bool
	keyDTS  int64 // DTS of the session's first video key frame
	mapped  bool
	keyPDT  time.Duration // its PDT, since the epoch
}

func (c *ingestClock) start(tracks []ingest.Track) {
	if c.haveKey {
		// A new period within the session keeps the session's offset.
		return
	}
	c.video = -1
	for i, tr := range tracks {
		if tr.Kind == ingest.Video && tr.ClockRate > 0 {
			c.video, c.clockRate = i, tr.ClockRate
			return
		}
	}
}

// offset returns the offset of au, a video frame that arrived at t, once
// the session's mapping is known; firstVideo is the first video part that
// the WriteAU of au published, if any.
func (c *ingestClock) offset(au ingest.AccessUnit, t time.Time, firstVideo *packager.Part) (time.Duration, bool) {
	if c.clockRate == 0 || au.Track != c.video {
		if !c.mapped && c.haveKey && firstVideo != nil {
			c.mapped, c.keyPDT = true, ticks(firstVideo.Start, firstVideo.Timescale)
		}
		return 0, false
	}
	if !c.haveKey {
		if !au.Key {
			return 0, false
		}
		c.haveKey, c.keyDTS = true, au.DTS
	}
	if !c.mapped {
		if firstVideo == nil {
			return 0, false
		}
		c.mapped, c.keyPDT = true, ticks(firstVideo.Start, firstVideo.Timescale)
	}
	d := au.DTS - c.keyDTS
	pdt := c.keyPDT + time.Duration(d/int64(c.clockRate))*time.Second +
		time.Duration(d%int64(c.clockRate))*time.Second/time.Duration(c.clockRate)
	return t.Sub(time.Unix(0, 0).Add(pdt)), true
}

// ticks converts a count of timescale units to a duration.
func ticks(v uint64, timescale uint32) time.Duration {
	if timescale == 0 {
		return 0
	}
	ts := uint64(timescale)
	return time.Duration(v/ts)*time.Second + time.Duration(v%ts)*time.Second/time.Duration(ts)
}
