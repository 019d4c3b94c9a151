package fhirtime

import (
	"strings"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// The parsers below read FHIR date, dateTime, instant and time text into
// google/fhir's (value_us, precision, timezone) exactly as jsonformat
// does. The format checks are hand-written equivalents of jsonformat's
// regular expressions (the tests compare them on every mutation of a set
// of seeds); the arithmetic is left to time.Parse with jsonformat's
// layouts, so values agree to the microsecond. They allocate nothing: they
// sit on the codecs' hot path.

// ParseDate parses a date (YYYY, YYYY-MM or YYYY-MM-DD, a real calendar
// day) as starting in loc, jsonformat's default zone for values without
// one; tz is loc's name. ok is false for anything else.
func ParseDate(s string, loc *time.Location) (us int64, prec dpb.Date_Precision, tz string, ok bool) {
	if !DateOK(s) {
		return 0, 0, "", false
	}
	var layout string
	switch len(s) {
	case 10:
		layout, prec = LayoutDay, dpb.Date_DAY
	case 7:
		layout, prec = LayoutMonth, dpb.Date_MONTH
	case 4:
		layout, prec = LayoutYear, dpb.Date_YEAR
	default:
		// A negative year passes the pattern; time.Parse cannot read it.
		return 0, 0, "", false
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return 0, 0, "", false
	}
	return Micros(t), prec, loc.String(), true
}

// ParseDateTime parses a dateTime: a date of any precision (read in loc,
// as ParseDate) or one with a time of day and a zone ("Z", whose tz is
// "Z", or ±hh:mm).
func ParseDateTime(s string, loc *time.Location) (us int64, prec dpb.DateTime_Precision, tz string, ok bool) {
	if !DateTimeOK(s) {
		return 0, 0, "", false
	}
	if strings.IndexByte(s, 'T') >= 0 {
		us, p, tz, ok := parseClock(s)
		return us, [...]dpb.DateTime_Precision{dpb.DateTime_SECOND, dpb.DateTime_MILLISECOND, dpb.DateTime_MICROSECOND}[p], tz, ok
	}
	us, dp, tz, ok := ParseDate(s, loc)
	// Date and DateTime number YEAR, MONTH and DAY alike (1, 2, 3).
	return us, dpb.DateTime_Precision(dp), tz, ok
}

// ParseInstant parses an instant: YYYY-MM-DDThh:mm:ss[.f] with "Z" or
// ±hh:mm.
func ParseInstant(s string) (us int64, prec dpb.Instant_Precision, tz string, ok bool) {
	if !InstantOK(s) {
		return 0, 0, "", false
	}
	us, p, tz, ok := parseClock(s)
	return us, [...]dpb.Instant_Precision{dpb.Instant_SECOND, dpb.Instant_MILLISECOND, dpb.Instant_MICROSECOND}[p], tz, ok
}

// midnight is the zero of LayoutTime, from which a Time's value_us counts.
var midnight, _ = time.Parse(LayoutTime, "00:00:00")

// ParseTime parses a time of day, hh:mm:ss[.f], into microseconds since
// midnight.
func ParseTime(s string) (us int64, prec dpb.Time_Precision, ok bool) {
	if !TimeOK(s) {
		return 0, 0, false
	}
	t, err := time.Parse(LayoutTime, s)
	if err != nil {
		return 0, 0, false
	}
	return t.Sub(midnight).Microseconds(), [...]dpb.Time_Precision{dpb.Time_SECOND, dpb.Time_MILLISECOND, dpb.Time_MICROSECOND}[fraction(s)], true
}

// parseClock parses a checked date with a time of day and a zone. p is 0
// (second), 1 (millisecond) or 2 (microsecond).
func parseClock(s string) (us int64, p int, tz string, ok bool) {
	var t time.Time
	var err error
	tz = "Z"
	if strings.HasSuffix(s, "Z") {
		t, err = time.Parse(LayoutSecondsUTC, s)
	} else {
		t, err = time.Parse(LayoutSeconds, s)
		tz = ZoneOffset(t)
	}
	if err != nil {
		return 0, 0, "", false
	}
	return Micros(t), fraction(s), tz, true
}

// fraction returns 0 (second), 1 (millisecond: 1 to 3 fraction digits) or
// 2 (microsecond: 4 or more), as jsonformat's submilli and subsecond
// patterns decide.
func fraction(s string) int {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	n := 0
	for j := i + 1; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
		n++
	}
	if n >= 4 {
		return 2
	}
	return 1
}

func digits(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// in2 reports whether s[i:i+2] is a two-digit number in lo..hi.
func in2(s string, i, lo, hi int) bool {
	if !digits(s, i, 2) {
		return false
	}
	v := int(s[i]-'0')*10 + int(s[i+1]-'0')
	return v >= lo && v <= hi
}

// datePart matches -?YYYY(-MM(-DD)?)? from the start of s and returns the
// length matched and the number of components (1 to 3), or 0 components.
func datePart(s string) (int, int) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if !digits(s, i, 4) {
		return 0, 0
	}
	i += 4
	if i == len(s) || s[i] != '-' || !in2(s, i+1, 1, 12) {
		return i, 1
	}
	i += 3
	// Day 00 passes jsonformat's pattern (0[0-9]); time.Parse rejects it.
	if i == len(s) || s[i] != '-' || !in2(s, i+1, 0, 31) {
		return i, 2
	}
	return i + 3, 3
}

// timePart matches hh:mm:ss(\.[0-9]+)? at s[i:] and returns the end.
func timePart(s string, i int) (int, bool) {
	if !in2(s, i, 0, 23) || i+2 >= len(s) || s[i+2] != ':' || !in2(s, i+3, 0, 59) ||
		i+5 >= len(s) || s[i+5] != ':' || !in2(s, i+6, 0, 59) {
		return 0, false
	}
	i += 8
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	return i, true
}

// zoneOK matches Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00) as all of s[i:].
func zoneOK(s string, i int) bool {
	if i < len(s) && s[i] == 'Z' {
		return i+1 == len(s)
	}
	if i >= len(s) || (s[i] != '+' && s[i] != '-') || len(s)-i != 6 || s[i+3] != ':' {
		return false
	}
	if s[i+1:] == "14:00" {
		return true
	}
	return in2(s, i+1, 0, 13) && in2(s, i+4, 0, 59)
}

// DateOK is jsonformat's DateCompiledRegex.
func DateOK(s string) bool {
	n, parts := datePart(s)
	return parts > 0 && n == len(s)
}

// DateTimeOK is jsonformat's DateTimeCompiledRegex.
func DateTimeOK(s string) bool {
	n, parts := datePart(s)
	if parts == 0 {
		return false
	}
	if n == len(s) {
		return true
	}
	if parts < 3 || s[n] != 'T' {
		return false
	}
	end, ok := timePart(s, n+1)
	return ok && zoneOK(s, end)
}

// InstantOK is jsonformat's InstantCompiledRegex.
func InstantOK(s string) bool {
	n, parts := datePart(s)
	if parts < 3 || n == len(s) || s[n] != 'T' {
		return false
	}
	end, ok := timePart(s, n+1)
	return ok && zoneOK(s, end)
}

// TimeOK is jsonformat's TimeCompiledRegex.
func TimeOK(s string) bool {
	end, ok := timePart(s, 0)
	return ok && end == len(s)
}
