package server

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/madx-project/madx/store"
)

// dateValue matches a FHIR search date: a date or dateTime of any
// precision, with an optional zone (search.html#date).
var dateValue = regexp.MustCompile(`^(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// parseDateRange returns the instants a search date covers at its
// precision, both inclusive: 2025-03 is [2025-03-01T00:00, 2025-03-31T23:59:59.999999].
// A value without a zone is read in UTC (the server's zone, stated in
// docs/search.md): aggregate periods are dates, and dates have no zone.
func parseDateRange(v string) (lo, hi time.Time, err error) {
	m := dateValue.FindStringSubmatch(v)
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
		layout, next = "2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	case m[2] != "":
		layout, next = "2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	default:
		layout, next = "2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	}
	lo, err = time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		return lo, hi, fmt.Errorf("%q is not a valid date: %v", v, err)
	}
	return lo.UTC(), next(lo).Add(-time.Microsecond).UTC(), nil
}

// datePrefixes are the FHIR search prefixes for ordered values.
var datePrefixes = []string{"eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap"}

// splitPrefix separates a date value from its prefix (eq by default).
func splitPrefix(v string) (prefix, rest string) {
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
		for _, p := range datePrefixes {
			if strings.HasPrefix(v, p) {
				return p, v[2:]
			}
		}
	}
	return "eq", v
}

// dateConds compiles one prefixed date against a target range whose bounds
// are the fields start and end (equal for a single instant), following
// FHIR R4 search.html#date, where [lo, hi] is the search range:
//
//	eq  the search range contains the target       start >= lo and end <= hi
//	ne  not eq                                     start < lo or end > hi
//	lt  the range below lo overlaps the target     start < lo
//	gt  the range above hi overlaps the target     end > hi
//	le  lt or eq                                   start < lo or end <= hi
//	ge  gt or eq                                   end > hi or start >= lo
//	sa  the target starts after the search range   start > hi
//	eb  the target ends before the search range    end < lo
//	ap  the target overlaps the search range widened by 10% of its
//	    distance from now (at least a day)         start <= hi' and end >= lo'
//
// The result is a list of alternatives (OR-ed).
func dateConds(prefix string, lo, hi time.Time, start, end store.Field, now time.Time) []store.Cond {
	c := func(f store.Field, op store.Op, t time.Time) store.Cond { return store.Cond{Field: f, Op: op, Time: t} }
	switch prefix {
	case "ne":
		return []store.Cond{c(start, store.OpLT, lo), c(end, store.OpGT, hi)}
	case "lt":
		return []store.Cond{c(start, store.OpLT, lo)}
	case "gt":
		return []store.Cond{c(end, store.OpGT, hi)}
	case "le":
		return []store.Cond{c(start, store.OpLT, lo), c(end, store.OpLE, hi)}
	case "ge":
		return []store.Cond{c(end, store.OpGT, hi), c(start, store.OpGE, lo)}
	case "sa":
		return []store.Cond{c(start, store.OpGT, hi)}
	case "eb":
		return []store.Cond{c(end, store.OpLT, lo)}
	case "ap":
		d := now.Sub(lo)
		if d < 0 {
			d = -d
		}
		d = max(d/10, 24*time.Hour)
		return []store.Cond{{All: []store.Cond{c(start, store.OpLE, hi.Add(d)), c(end, store.OpGE, lo.Add(-d))}}}
	}
	// eq. The last two comparisons follow from the first two (a range
	// starts before it ends) but bound the index scan on either field from
	// both sides: "period=2025-03" reads March, not everything since March.
	return []store.Cond{{All: []store.Cond{c(start, store.OpGE, lo), c(end, store.OpLE, hi), c(start, store.OpLE, hi), c(end, store.OpGE, lo)}}}
}
