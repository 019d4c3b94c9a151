package fhirjson

import (
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/madx-project/madx/operationoutcome"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
)

// temporal sets a date, dateTime, instant or time. The format checks are
// hand-written equivalents of jsonformat's regular expressions (the tests
// compare them); the arithmetic is left to time.Parse with jsonformat's
// layouts, so values agree to the microsecond.
func (d *decoder) temporal(m unsafe.Pointer, cm *msgInfo, text []byte) bool {
	s := string(text)
	switch cm.prim {
	case primDate:
		if v, ok := asGo[dpb.Date](m, cm, dateType); ok && dateOK(s) {
			if us, prec, ok := parseDate(s); ok {
				v.ValueUs, v.Precision, v.Timezone = us, prec, "UTC"
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected a date (YYYY, YYYY-MM or YYYY-MM-DD, a real calendar day), found %s", quote(text))
	case primDateTime:
		if v, ok := asGo[dpb.DateTime](m, cm, dateTimeType); ok && dateTimeOK(s) {
			if us, prec, tz, ok := parseDateTime(s); ok {
				v.ValueUs, v.Precision, v.Timezone = us, dpb.DateTime_Precision(prec), tz
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected a dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.f] with Z or ±hh:mm), found %s", quote(text))
	case primInstant:
		if v, ok := asGo[dpb.Instant](m, cm, instantType); ok && instantOK(s) {
			if us, prec, tz, ok := parseSeconds(s, true); ok {
				v.ValueUs, v.Precision, v.Timezone = us, dpb.Instant_Precision(prec), tz
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected an instant (YYYY-MM-DDThh:mm:ss[.f] with Z or ±hh:mm), found %s", quote(text))
	case primTime:
		if v, ok := asGo[dpb.Time](m, cm, timeType); ok && timeOK(s) {
			if t, err := time.Parse(fhirtime.LayoutTime, s); err == nil {
				v.ValueUs = t.Sub(midnight).Nanoseconds() / int64(time.Microsecond)
				v.Precision = dpb.Time_Precision(fracPrecision(s))
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected a time (hh:mm:ss[.f]), found %s", quote(text))
	}
	return false
}

// asGo returns the message at p as a *T when cm is the generated type T.
func asGo[T any](p unsafe.Pointer, cm *msgInfo, t reflect.Type) (*T, bool) {
	if cm.goType != t {
		return nil, false
	}
	return (*T)(p), true
}

var midnight, _ = time.Parse(fhirtime.LayoutTime, "00:00:00")

func parseDate(s string) (int64, dpb.Date_Precision, bool) {
	var layout string
	var prec dpb.Date_Precision
	switch len(s) {
	case 10:
		layout, prec = fhirtime.LayoutDay, dpb.Date_DAY
	case 7:
		layout, prec = fhirtime.LayoutMonth, dpb.Date_MONTH
	case 4:
		layout, prec = fhirtime.LayoutYear, dpb.Date_YEAR
	default:
		return 0, 0, false
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return 0, 0, false
	}
	return fhirtime.Micros(t), prec, true
}

// parseDateTime parses a dateTime; the precision is a DateTime_Precision.
func parseDateTime(s string) (int64, int32, string, bool) {
	if strings.IndexByte(s, 'T') >= 0 {
		return parseSeconds(s, false)
	}
	us, prec, ok := parseDate(s)
	if !ok {
		return 0, 0, "", false
	}
	// Date and DateTime number YEAR, MONTH and DAY alike (1, 2, 3).
	return us, int32(prec), "UTC", true
}

// parseSeconds parses a dateTime or instant with a time part. The
// precision it returns is in DateTime's numbering unless instant is set.
func parseSeconds(s string, instant bool) (int64, int32, string, bool) {
	var t time.Time
	var err error
	tz := "Z"
	if strings.HasSuffix(s, "Z") {
		t, err = time.Parse(fhirtime.LayoutSecondsUTC, s)
	} else {
		t, err = time.Parse(fhirtime.LayoutSeconds, s)
		tz = fhirtime.ZoneOffset(t)
	}
	if err != nil {
		return 0, 0, "", false
	}
	p := fracPrecision(s)
	if instant {
		return fhirtime.Micros(t), int32([]dpb.Instant_Precision{dpb.Instant_SECOND, dpb.Instant_MILLISECOND, dpb.Instant_MICROSECOND}[p-1]), tz, true
	}
	return fhirtime.Micros(t), int32([]dpb.DateTime_Precision{dpb.DateTime_SECOND, dpb.DateTime_MILLISECOND, dpb.DateTime_MICROSECOND}[p-1]), tz, true
}

// fracPrecision returns 1 (second), 2 (millisecond: 1 to 3 fraction
// digits) or 3 (microsecond: 4 or more), as jsonformat's submilli and
// subsecond patterns decide; those are also Time's precision numbers.
func fracPrecision(s string) int {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 1
	}
	n := 0
	for j := i + 1; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
		n++
	}
	if n >= 4 {
		return 3
	}
	return 2
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

// dateOK is jsonformat's DateCompiledRegex.
func dateOK(s string) bool {
	n, parts := datePart(s)
	return parts > 0 && n == len(s)
}

// dateTimeOK is jsonformat's DateTimeCompiledRegex.
func dateTimeOK(s string) bool {
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

// instantOK is jsonformat's InstantCompiledRegex.
func instantOK(s string) bool {
	n, parts := datePart(s)
	if parts < 3 || n == len(s) || s[n] != 'T' {
		return false
	}
	end, ok := timePart(s, n+1)
	return ok && zoneOK(s, end)
}

// timeOK is jsonformat's TimeCompiledRegex.
func timeOK(s string) bool {
	end, ok := timePart(s, 0)
	return ok && end == len(s)
}
