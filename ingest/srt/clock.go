package srt

// MPEG-TS timestamps count 90 kHz ticks in 33 bits and wrap every 26.5
// hours. tsClock extends them to 64 bits. Audio and video share one clock
// (one epoch, so they stay in sync) and every PES timestamp goes through it
// in arrival order: the small steps back and forth between the streams are
// steps, not wraps. mediacommon's TimeDecoder does the same but starts at 0,
// which would give each stream its own epoch if used per stream.

const (
	tsClockRate = 90000
	tsWrap      = 1 << 33
)

type tsClock struct {
	init bool
	last int64 // the last raw 33-bit value
	ext  int64 // its extension
}

// extend returns the 64-bit value of a 33-bit timestamp: the previous one
// plus the shortest step to it. The first value is kept as it is, so
// extended timestamps are the stream's own until the first wrap.
func (c *tsClock) extend(ts int64) int64 {
	ts &= tsWrap - 1
	if !c.init {
		c.init, c.last, c.ext = true, ts, ts
		return ts
	}
	c.ext += wrapDelta(ts - c.last)
	c.last = ts
	return c.ext
}

// wrapDelta reads a difference of two 33-bit timestamps as the shortest
// step between them, forward or back by less than half the range (13 h).
func wrapDelta(d int64) int64 {
	d &= tsWrap - 1
	if d >= tsWrap/2 {
		d -= tsWrap
	}
	return d
}
