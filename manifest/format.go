package manifest

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Value formatting shared by the HLS and DASH writers. Everything appends to
// a caller's buffer so that a render is one growing []byte and no fmt.

// appendFixed3 appends ms as seconds with exactly three decimals ("2.000"),
// the EXTINF form.
func appendFixed3(b []byte, ms uint64) []byte {
	b = strconv.AppendUint(b, ms/1000, 10)
	frac := ms % 1000
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

// appendXSDuration appends ms as an xs:duration in seconds only ("PT2S",
// "PT0.5S", "PT1795000000.123S"): DASH clients parse seconds of any size,
// and one unit keeps the large epoch-relative values exact and readable.
func appendXSDuration(b []byte, ms uint64) []byte {
	b = append(b, "PT"...)
	b = strconv.AppendUint(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100))
		if frac%100 != 0 {
			b = append(b, byte('0'+frac/10%10))
			if frac%10 != 0 {
				b = append(b, byte('0'+frac%10))
			}
		}
	}
	return append(b, 'S')
}

// dateTimeLayout is RFC 3339 in UTC with milliseconds; "Z07:00" writes "Z"
// for UTC.
const dateTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendDateTime appends ms since the Unix epoch as an RFC 3339 UTC date
// with milliseconds (EXT-X-PROGRAM-DATE-TIME). It does by hand what
// time.Time.AppendFormat(dateTimeLayout) does, at a third of the cost: one
// per segment is most of a media playlist render. ms must not exceed
// maxMillis.
func appendDateTime(b []byte, ms uint64) []byte {
	y, mo, d := civilDate(ms / 86400000)
	rem := ms % 86400000
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, mo)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, rem/3600000)
	b = append(b, ':')
	b = append2(b, rem/60000%60)
	b = append(b, ':')
	b = append2(b, rem/1000%60)
	frac := rem % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), 'Z')
}

// civilDate converts days since 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms",
// civil_from_days, for non-negative days).
func civilDate(days uint64) (year, month, day uint64) {
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March = 0
	day = doy - (153*mp+2)/5 + 1
	year = yoe + era*400
	if mp < 10 {
		month = mp + 3
	} else {
		month = mp - 9
		year++
	}
	return year, month, day
}

func append2(b []byte, v uint64) []byte {
	return append(b, byte('0'+v/10%10), byte('0'+v%10))
}

func append4(b []byte, v uint64) []byte {
	return append(b, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// Tick conversions. The callers have checked (validate.go) that every value
// lies before maxSeconds, so v/ts*1000 cannot overflow.

// floorMillis converts ticks to whole milliseconds, rounding down.
func floorMillis(v uint64, ts uint32) uint64 {
	t := uint64(ts)
	return v/t*1000 + v%t*1000/t
}

// nearestMillis converts ticks to milliseconds, rounding half up.
func nearestMillis(v uint64, ts uint32) uint64 {
	t := uint64(ts)
	return v/t*1000 + (v%t*1000+t/2)/t
}

// ceilMillis converts ticks to milliseconds, rounding up.
func ceilMillis(v uint64, ts uint32) uint64 {
	t := uint64(ts)
	return v/t*1000 + (v%t*1000+t-1)/t
}

// millisToTicks converts ms to ticks of timescale ts, rounding down; ok is
// false when the result does not fit in 64 bits.
func millisToTicks(ms uint64, ts uint32) (uint64, bool) {
	t := uint64(ts)
	whole := ms / 1000
	if t != 0 && whole > math.MaxUint64/t {
		return 0, false
	}
	hi := whole * t
	lo := ms % 1000 * t / 1000
	if hi > math.MaxUint64-lo {
		return 0, false
	}
	return hi + lo, true
}

// durationMillis converts a non-negative time.Duration to milliseconds,
// rounding up so that a window or an end is never understated.
func durationMillis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}

// appendAttr appends ` name="value"` with value escaped for an XML
// attribute.
func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	b = appendEscaped(b, value)
	return append(b, '"')
}

// appendUintAttr appends ` name="v"`.
func appendUintAttr(b []byte, name string, v uint64) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '"')
}

// appendEscaped appends s escaped for XML character data and attribute
// values. Characters XML 1.0 cannot carry (control characters, invalid
// UTF-8) become U+FFFD, so any input still yields a well-formed document.
func appendEscaped(b []byte, s string) []byte {
	if !needsEscape(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&quot;"...)
		case r == '\'':
			b = append(b, "&apos;"...)
		case r == '\t':
			b = append(b, "&#x9;"...)
		case r == '\n':
			b = append(b, "&#xA;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case !xmlChar(r) || r == utf8.RuneError && size == 1:
			b = utf8.AppendRune(b, utf8.RuneError)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			return true
		}
	}
	return false
}

// xmlChar reports whether r is a Char of XML 1.0 (section 2.2).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// appendFrameRate appends a DASH FrameRateType (ISO/IEC 23009-1 5.3.12.2):
// an integer or a fraction, never a decimal. The measured rate is snapped to
// an integer or an NTSC rate (N*1000/1001) within 0.02%, as encoders produce
// those (the two differ by 0.1%); anything else is written in thousandths.
func appendFrameRate(b []byte, fr float64) []byte {
	if k := math.Round(fr); k >= 1 && math.Abs(fr-k) <= 0.0002*k {
		return strconv.AppendUint(b, uint64(k), 10)
	}
	if k := math.Round(fr * 1001 / 1000); k >= 1 && math.Abs(fr-k*1000/1001) <= 0.0002*k {
		b = strconv.AppendUint(b, uint64(k)*1000, 10)
		return append(b, "/1001"...)
	}
	num, den := uint64(math.Round(fr*1000)), uint64(1000)
	g := gcd(num, den)
	b = strconv.AppendUint(b, num/g, 10)
	if den/g == 1 {
		return b
	}
	b = append(b, '/')
	return strconv.AppendUint(b, den/g, 10)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}

// validFrameRate reports whether fr is worth writing: unknown rates are 0,
// and a corrupt measurement must not produce NaN or an absurd value.
func validFrameRate(fr float64) bool {
	return fr > 0 && fr <= 1000 && !math.IsNaN(fr)
}
