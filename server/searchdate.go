package server

import (
	"strings"
	"time"

	"github.com/madx-project/madx/store"
)

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
