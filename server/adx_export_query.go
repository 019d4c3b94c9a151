package server

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/madx-project/madx/adx"
	"github.com/madx-project/madx/internal/fhirtime"
	"github.com/madx-project/madx/store"
)

// exportQuery is what an export asks for, as DHIS2 reads it
// (DataExportParams): each of dataSet, orgUnit and period repeatable.
type exportQuery struct {
	dataSets, orgUnits, periods []string
	children                    bool
	start, end                  time.Time // startDate, endDate (zero: not given)
	since                       time.Time // lastUpdated or lastUpdatedDuration (zero: not given)
	startGiven, endGiven        bool
}

// lastUpdatedDuration is DHIS2's duration: a number of days, hours,
// minutes or seconds (DateUtils.getDuration).
var lastUpdatedDuration = regexp.MustCompile(`^(\d{1,9})([dhms])$`)

// parseExportQuery reads the export's parameters; the conflicts are the
// values that cannot be read.
func parseExportQuery(q url.Values, now time.Time) (exportQuery, []adx.Conflict) {
	sel := exportQuery{dataSets: q["dataSet"], orgUnits: q["orgUnit"], periods: q["period"]}
	var bad []adx.Conflict
	day := func(name string, hi bool) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, false
		}
		lo, end, err := fhirtime.SearchRange(v)
		if err != nil || len(v) != len(fhirtime.LayoutDay) {
			bad = append(bad, adx.Conflict{Object: "?" + name, Value: fmt.Sprintf("%s is %q; expected a date, YYYY-MM-DD", name, v)})
			return time.Time{}, true
		}
		if hi {
			return end, true
		}
		return lo, true
	}
	sel.start, sel.startGiven = day("startDate", false)
	sel.end, sel.endGiven = day("endDate", true)
	switch v := strings.ToLower(q.Get("children")); v {
	case "", "false":
	case "true":
		sel.children = true
	default:
		bad = append(bad, adx.Conflict{Object: "?children", Value: fmt.Sprintf("children is %q; expected true or false", q.Get("children"))})
	}
	if v := q.Get("lastUpdated"); v != "" {
		// An unescaped '+' of a zone arrives as a space.
		lo, _, err := fhirtime.SearchRange(strings.ReplaceAll(v, " ", "+"))
		if err != nil {
			bad = append(bad, adx.Conflict{Object: "?lastUpdated", Value: fmt.Sprintf("lastUpdated: %v", err)})
		}
		sel.since = lo
	}
	if v := q.Get("lastUpdatedDuration"); v != "" {
		m := lastUpdatedDuration.FindStringSubmatch(v)
		if m == nil {
			bad = append(bad, adx.Conflict{Object: "?lastUpdatedDuration", Value: fmt.Sprintf("Duration is not valid: %q; expected a number of days, hours, minutes or seconds, e.g. 10d, 6h, 30m, 45s", v)})
		} else {
			n, _ := strconv.Atoi(m[1])
			unit := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}[m[2]]
			if t := now.Add(-time.Duration(n) * unit); t.After(sel.since) {
				sel.since = t
			}
		}
	}
	return sel, bad
}

// illegal returns what DHIS2 refuses in an export query (ErrorCode
// E2001-E2008), in its words.
func (sel exportQuery) illegal() []adx.Conflict {
	var cs []adx.Conflict
	add := func(object, code, msg string) {
		cs = append(cs, adx.Conflict{Object: object, Value: msg + " (DHIS2 " + code + ")"})
	}
	if len(sel.dataSets) == 0 {
		add("?dataSet", "E2001", "At least one data set must be specified: dataSet (repeat it for several)")
	}
	dates := sel.startGiven || sel.endGiven
	switch {
	case len(sel.periods) > 0 && dates:
		add("?period", "E2003", "Both periods and start/end date cannot be specified")
	case sel.startGiven != sel.endGiven:
		add("?startDate", "E2002", "startDate and endDate go together: give both, or period")
	case len(sel.periods) == 0 && !dates && sel.since.IsZero():
		add("?period", "E2002", "At least one period, start/end dates, last updated or last updated duration must be specified")
	case dates && !sel.start.IsZero() && !sel.end.IsZero() && sel.start.After(sel.end):
		add("?startDate", "E2004", "Start date must be before end date")
	}
	if len(sel.orgUnits) == 0 {
		add("?orgUnit", "E2006", "At least one organisation unit must be specified: orgUnit (repeat it for several; children=true adds the Locations below each)")
	}
	return cs
}

// query is the store search of the export: the Measures the dataSets name,
// the Locations of the orgUnits, the periods (a report's period equal to
// one, by day) or the span between startDate and endDate (a report's period
// within it), lastUpdated at or after since. The conflicts name what the
// definitions do not hold.
func (sel exportQuery) query(ctx context.Context, ex *adx.Exporter) (store.Query, []adx.Conflict, error) {
	q := store.Query{Type: "MeasureReport", Count: maxCount, Sort: store.Sort{Field: store.FieldPeriodStart}}
	var conflicts []adx.Conflict
	var measures, subjects, periods store.Clause
	for _, ds := range sel.dataSets {
		canonical, cs, err := ex.DataSet(ctx, ds)
		if err != nil {
			return q, nil, err
		}
		conflicts = append(conflicts, cs...)
		if canonical != "" {
			// Reports that name a version of the Measure are its reports too.
			measures.Any = append(measures.Any, store.Cond{Field: store.FieldMeasure, Value: canonical},
				store.Cond{Field: store.FieldMeasure, Op: store.OpPrefix, Value: canonical + "|"})
		}
	}
	for _, ou := range sel.orgUnits {
		ids, cs := ex.OrgUnits(ou, sel.children)
		conflicts = append(conflicts, cs...)
		for _, id := range ids {
			subjects.Any = append(subjects.Any, store.Cond{Field: store.FieldSubject, Value: "Location/" + id})
		}
	}
	for _, pe := range sel.periods {
		p, err := adx.ParsePeriod(pe)
		if err != nil {
			conflicts = append(conflicts, adx.Conflict{Object: "?period=" + pe, Value: err.Error()})
			continue
		}
		// Equal by day: starts on the first day and ends on the last.
		first, last := p.Start.UTC(), p.End.UTC().AddDate(0, 0, 1).Add(-time.Microsecond)
		periods.Any = append(periods.Any, store.Cond{All: []store.Cond{
			{Field: store.FieldPeriodStart, Op: store.OpGE, Time: first}, {Field: store.FieldPeriodStart, Op: store.OpLT, Time: first.AddDate(0, 0, 1)},
			{Field: store.FieldPeriodEnd, Op: store.OpLE, Time: last}, {Field: store.FieldPeriodEnd, Op: store.OpGT, Time: last.AddDate(0, 0, -1)},
		}})
	}
	if sel.startGiven && sel.endGiven {
		lo, hi := sel.start, sel.end
		periods.Any = append(periods.Any, store.Cond{All: []store.Cond{
			{Field: store.FieldPeriodStart, Op: store.OpGE, Time: lo}, {Field: store.FieldPeriodEnd, Op: store.OpLE, Time: hi},
			// Bound the index scan on either field from both sides, as a
			// FHIR period=eq does.
			{Field: store.FieldPeriodStart, Op: store.OpLE, Time: hi}, {Field: store.FieldPeriodEnd, Op: store.OpGE, Time: lo},
		}})
	}
	if len(subjects.Any)+len(measures.Any) > maxSearchTerms {
		conflicts = append(conflicts, adx.Conflict{Object: "?orgUnit", Value: fmt.Sprintf(
			"the export names more than %d Locations; export a part of the hierarchy at a time", maxSearchTerms)})
	}
	if len(conflicts) > 0 {
		return q, conflicts, nil
	}
	q.Where = append(q.Where, measures, subjects)
	if len(periods.Any) > 0 {
		q.Where = append(q.Where, periods)
	}
	if !sel.since.IsZero() {
		q.Where = append(q.Where, store.Clause{Any: []store.Cond{{Field: store.FieldLastUpdated, Op: store.OpGE, Time: sel.since}}})
	}
	return q, nil, nil
}
