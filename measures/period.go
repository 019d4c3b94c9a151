package measures

import (
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// Span returns the interval a FHIR dateTime denotes, honoring its
// precision: [lo, hi) in Unix microseconds. "2025-01-31" is the whole day,
// "2025-01" the whole month. google/fhir stores a partial date as the
// instant it starts at in its time zone, so the end is found by adding one
// unit of the precision on the calendar of that zone.
func Span(dt *dtpb.DateTime) (lo, hi int64) {
	lo = dt.GetValueUs()
	off := int64(zoneOffset(dt.GetTimezone()))
	// Calendar arithmetic on the local wall clock, expressed in UTC so that
	// no *time.Location is needed (time.LoadLocation would read the
	// system's zone database: I/O).
	local := time.UnixMicro(lo + off*1e6).UTC()
	var end time.Time
	switch dt.GetPrecision() {
	case dtpb.DateTime_YEAR:
		end = local.AddDate(1, 0, 0)
	case dtpb.DateTime_MONTH:
		end = local.AddDate(0, 1, 0)
	case dtpb.DateTime_DAY:
		end = local.AddDate(0, 0, 1)
	case dtpb.DateTime_SECOND:
		end = local.Add(time.Second)
	case dtpb.DateTime_MILLISECOND:
		end = local.Add(time.Millisecond)
	default:
		end = local.Add(time.Microsecond)
	}
	return lo, end.UnixMicro() - off*1e6
}

// zoneOffset parses the time zones google/fhir writes: "UTC", "Z" and
// "+hh:mm"/"-hh:mm". A zone name (e.g. "Africa/Kigali", which appears only
// if the server's unmarshaller default zone is set to one) counts as UTC:
// the calendar unit is then computed a few hours off, which cannot turn a
// valid reporting period into an invalid one at day precision.
func zoneOffset(tz string) int {
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

// periodOrdered reports whether start ≤ end honoring precision (FHIR
// invariant per-1): some instant of start's interval is not after some
// instant of end's interval, so 2025-01-01..2025-01-01 is a valid one-day
// period and 2025-01-31..2025-01-01 is not.
func periodOrdered(start, end *dtpb.DateTime) bool {
	lo, _ := Span(start)
	_, hi := Span(end)
	return lo < hi
}

// day renders the calendar day of a microsecond instant in zone tz.
func day(us int64, tz string) string {
	return time.UnixMicro(us + int64(zoneOffset(tz))*1e6).UTC().Format("2006-01-02")
}
