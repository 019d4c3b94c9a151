package fhirtime

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// Span returns the interval a FHIR dateTime denotes, honoring its
// precision: [lo, hi) in Unix microseconds. "2025-01-31" is the whole day,
// "2025-01" the whole month. google/fhir stores a partial date as the
// instant it starts at in its time zone, so the end is found by adding one
// unit of the precision on the calendar of that zone. It needs no zone
// database (see Offset), so pure code (measures) may call it.
func Span(dt *dpb.DateTime) (lo, hi int64) {
	lo = dt.GetValueUs()
	off := int64(Offset(dt.GetTimezone()))
	// Calendar arithmetic on the local wall clock, expressed in UTC so that
	// no *time.Location is needed.
	local := time.UnixMicro(lo + off*1e6).UTC()
	var end time.Time
	switch dt.GetPrecision() {
	case dpb.DateTime_YEAR:
		end = local.AddDate(1, 0, 0)
	case dpb.DateTime_MONTH:
		end = local.AddDate(0, 1, 0)
	case dpb.DateTime_DAY:
		end = local.AddDate(0, 0, 1)
	case dpb.DateTime_SECOND:
		end = local.Add(time.Second)
	case dpb.DateTime_MILLISECOND:
		end = local.Add(time.Millisecond)
	default:
		end = local.Add(time.Microsecond)
	}
	return lo, end.UnixMicro() - off*1e6
}

// Offset is the UTC offset in seconds of the time zones google/fhir
// writes: "UTC", "Z" and "+hh:mm"/"-hh:mm". A zone name (e.g.
// "Africa/Kigali", which appears only if a codec's default zone is set to
// one) counts as UTC, because resolving it would read the system's zone
// database (I/O): the calendar unit is then computed a few hours off,
// which cannot turn a valid reporting period into an invalid one at day
// precision. Location resolves names, for code that may do I/O.
func Offset(tz string) int {
	if len(tz) != 6 || (tz[0] != '+' && tz[0] != '-') || tz[3] != ':' {
		return 0
	}
	d := func(b byte) int { return int(b - '0') }
	for _, i := range []int{1, 2, 4, 5} {
		if tz[i] < '0' || tz[i] > '9' {
			return 0
		}
	}
	secs := (d(tz[1])*10+d(tz[2]))*3600 + (d(tz[4])*10+d(tz[5]))*60
	if tz[0] == '-' {
		return -secs
	}
	return secs
}

// Day renders the calendar day (YYYY-MM-DD) of a microsecond instant in
// zone tz, read as Offset reads it.
func Day(us int64, tz string) string {
	return time.UnixMicro(us + int64(Offset(tz))*1e6).UTC().Format(LayoutDay)
}

// searchValue matches a FHIR search date: a date or dateTime of any
// precision, with an optional zone (search.html#date). Unlike a dateTime
// element, it may stop at minutes and may omit the zone.
var searchValue = regexp.MustCompile(`^(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// SearchRange returns the instants a search date covers at its precision,
// both inclusive: 2025-03 is [2025-03-01T00:00, 2025-03-31T23:59:59.999999],
// in UTC. A value without a zone is read in UTC (the server's zone,
// stated in docs/search.md): aggregate periods are dates, and dates have
// no zone. The error says what is wrong in words a client can read.
func SearchRange(v string) (lo, hi time.Time, err error) {
	m := searchValue.FindStringSubmatch(v)
	if m == nil {
		return lo, hi, fmt.Errorf("%q is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.s]][Z|±hh:mm])", v)
	}
	var layout string
	var next func(time.Time) time.Time
	switch {
	case m[4] != "":
		layout = "2006-01-02T15:04"
		next = func(t time.Time) time.Time { return t.Add(time.Minute) }
		if m[5] != "" {
			layout += ":05"
			next = func(t time.Time) time.Time { return t.Add(time.Second) }
		}
		if frac := m[6]; frac != "" {
			layout += "." + strings.Repeat("9", len(frac)-1)
			step := time.Second
			for range len(frac) - 1 {
				step /= 10
			}
			next = func(t time.Time) time.Time { return t.Add(max(step, time.Microsecond)) }
		}
		if m[7] != "" {
			layout += "Z07:00"
		}
	case m[3] != "":
		layout, next = LayoutDay, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	case m[2] != "":
		layout, next = LayoutMonth, func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	default:
		layout, next = LayoutYear, func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	}
	lo, err = time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		return lo, hi, fmt.Errorf("%q is not a valid date: %v", v, err)
	}
	return lo.UTC(), next(lo).Add(-time.Microsecond).UTC(), nil
}
