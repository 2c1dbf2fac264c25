package packager

import (
	"math"
	"math/bits"
	"time"
)

// Timestamps come from the network in arbitrary clock rates and, once
// anchored to the Unix epoch, are around 1.8e9 s: multiplying them by a
// timescale overflows 64 bits. These helpers compute a*b/c with a 128-bit
// intermediate and saturate instead of wrapping, so garbage input yields
// garbage-but-bounded values that the anomaly checks then catch.

// mulDiv returns a*b/c rounded down, saturated to MaxUint64.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// mulDivSigned returns a*b/c rounded toward zero, saturated to the int64 range.
func mulDivSigned(a int64, b, c uint64) int64 {
	neg := a < 0
	u := uint64(a)
	if neg {
		u = -u // two's complement magnitude; correct for MinInt64 too
	}
	q := mulDiv(u, b, c)
	if q > math.MaxInt64 {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// rescale converts v from clock units of rate from to rate to. The common
// cases (same rate, integer ratio) are exact.
func rescale(v int64, from, to uint32) int64 {
	if from == to {
		return v
	}
	return mulDivSigned(v, uint64(to), uint64(from))
}

// nanos converts a timestamp in clock units to nanoseconds.
func nanos(v int64, clock uint32) int64 { return mulDivSigned(v, uint64(time.Second), uint64(clock)) }

// ticksAt converts nanoseconds since the epoch to ticks of a timescale;
// instants before the epoch clamp to 0.
func ticksAt(ns int64, timescale uint32) uint64 {
	if ns <= 0 {
		return 0
	}
	return mulDiv(uint64(ns), uint64(timescale), uint64(time.Second))
}

// nanosAt converts ticks of a timescale to nanoseconds since the epoch.
func nanosAt(t uint64, timescale uint32) int64 {
	v := mulDiv(t, uint64(time.Second), uint64(timescale))
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// durationTicks converts a duration to ticks of a timescale.
func durationTicks(d time.Duration, timescale uint32) uint64 {
	return ticksAt(int64(d), timescale)
}
