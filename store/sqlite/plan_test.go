package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
)

// TestSearchPlansUseIndexes proves from EXPLAIN QUERY PLAN that every
// search field, and the history feeds, are served by an index: no query
// scans the current or history table.
func TestSearchPlansUseIndexes(t *testing.T) {
	s, err := Open(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cond := func(f store.Field, op store.Op, v string) store.Clause {
		return store.Clause{Any: []store.Cond{{Field: f, Op: op, Value: v, Time: jan}}}
	}
	measure := store.Clause{Any: []store.Cond{{Field: store.FieldMeasure, Value: "http://x/M"}, {Field: store.FieldMeasure, Op: store.OpPrefix, Value: "http://x/M|"}}}
	period := store.Clause{Any: []store.Cond{{All: []store.Cond{{Field: store.FieldPeriodStart, Op: store.OpGE, Time: jan}, {Field: store.FieldPeriodEnd, Op: store.OpLE, Time: jan.AddDate(0, 1, 0)}}}}}
	searches := map[string]store.Query{
		"measure+period (the hot query)":  {Type: "MeasureReport", Where: []store.Clause{measure, period}},
		"measure+period sorted by period": {Type: "MeasureReport", Where: []store.Clause{measure, period}, Sort: store.Sort{Field: store.FieldPeriodStart, Desc: true}},
		"subject":                         {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldSubject, store.OpEq, "Location/a")}},
		"period alone":                    {Type: "MeasureReport", Where: []store.Clause{period}},
		"period lt":                       {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldPeriodStart, store.OpLT, "")}},
		"period gt":                       {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldPeriodEnd, store.OpGT, "")}},
		"date":                            {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldDateStart, store.OpGE, "")}},
		"status":                          {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldStatus, store.OpEq, "complete")}},
		"_id":                             {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldID, store.OpEq, "r1")}},
		"_lastUpdated":                    {Type: "MeasureReport", Where: []store.Clause{cond(store.FieldLastUpdated, store.OpGT, "")}},
		"url":                             {Type: "Measure", Where: []store.Clause{cond(store.FieldURL, store.OpEq, "http://x/M")}},
		"version":                         {Type: "Measure", Where: []store.Clause{cond(store.FieldVersion, store.OpEq, "1.0")}},
		"token":                           {Type: "Location", Where: []store.Clause{cond(store.FieldToken, store.OpEq, "identifier=s|v")}},
		"token prefix":                    {Type: "Location", Where: []store.Clause{cond(store.FieldToken, store.OpPrefix, "name=good")}},
		"token contains":                  {Type: "Location", Where: []store.Clause{cond(store.FieldToken, store.OpContains, "name=health")}},
	}
	for name, q := range searches {
		query, args, err := searchSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		plan := checkPlan(t, s, name, query, args)
		if strings.HasPrefix(name, "measure+period") && !strings.Contains(plan, "current_measure_url (measure_url=? AND period_start>?") {
			t.Errorf("%s: not on the measure and period index:\n%s", name, plan)
		}
	}
	plan := checkPlan(t, s, "report key holders", reportKeysSQL(3), []any{"a", "b", "c"})
	if !strings.Contains(plan, "current_report_key") {
		t.Errorf("report key holders: not on the unique key index:\n%s", plan)
	}
	for name, q := range map[string]store.HistoryQuery{
		"system history":         {Count: 50},
		"system history _since":  {Since: jan, Count: 50, After: &store.VersionKey{Time: jan.AddDate(1, 0, 0), Type: "MeasureReport", ID: "x", VersionID: 1}},
		"type history _since":    {Type: "MeasureReport", Since: jan, Count: 50},
		"type history _at":       {Type: "MeasureReport", AtLo: jan, AtHi: jan, Count: 50},
		"type history next page": {Type: "MeasureReport", Count: 50, After: &store.VersionKey{Time: jan, Type: "MeasureReport", ID: "x", VersionID: 1}},
		"system history of readable types": {Types: []string{"Measure", "MeasureReport", "ValueSet", "CodeSystem", "Location", "Organization", "AuditEvent"}, Count: 50,
			Subjects: map[string][]string{"MeasureReport": {"Location/a", "Location/b"}}},
		"system history _since of readable types": {Types: []string{"Measure", "MeasureReport", "AuditEvent"}, Since: jan, Count: 50,
			Subjects: map[string][]string{"MeasureReport": {"Location/a"}}},
		"type history of readable types": {Type: "MeasureReport", Types: []string{"MeasureReport"}, Since: jan, Count: 50,
			Subjects: map[string][]string{"MeasureReport": {"Location/a"}}},
	} {
		query, args := historySQL(q)
		// A feed walks an index in its order: sorting every matching
		// version before the LIMIT would read the whole history.
		if plan := checkPlan(t, s, name, query, args); strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: sorts instead of walking the feed index:\n%s", name, plan)
		}
	}
}

func checkPlan(t *testing.T, s *Store, name, query string, args []any) string {
	t.Helper()
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, query)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	for _, line := range plan {
		// "SCAN c" alone is a table scan; "SCAN h USING INDEX history_feed"
		// walks an index in order (the feed without _since), which is fine.
		if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "USING INDEX") && !strings.Contains(line, "USING COVERING INDEX") {
			t.Errorf("%s: table scan in the plan:\n%s\n%s", name, text, query)
		}
		// The primary key on the type alone walks every resource of the
		// type: a scan in all but name.
		if strings.HasSuffix(line, "USING PRIMARY KEY (type=?)") {
			t.Errorf("%s: walks the whole type:\n%s\n%s", name, text, query)
		}
	}
	if testing.Verbose() {
		t.Logf("%s:\n%s", name, text)
	}
	return text
}

// TestBroadRightsDoNotPlanTheSearch: rights covering most facilities
// (store.Clause.Broad) are a filter. Alone, the search walks the type in
// id order and stops at a page, instead of looking up every subject and
// sorting all their reports (133 ms against 3 ms for a district of 10,000
// facilities); with measure and period, the measure index still leads.
func TestBroadRightsDoNotPlanTheSearch(t *testing.T) {
	s, err := Open(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rights := store.Clause{Broad: true}
	for i := range 600 {
		rights.Any = append(rights.Any, store.Cond{Field: store.FieldSubject, Value: "Location/f" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)})
	}
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	measure := store.Clause{Any: []store.Cond{{Field: store.FieldMeasure, Value: "http://x/M"}, {Field: store.FieldMeasure, Op: store.OpPrefix, Value: "http://x/M|"}}}
	period := store.Clause{Any: []store.Cond{{All: []store.Cond{{Field: store.FieldPeriodStart, Op: store.OpGE, Time: jan}, {Field: store.FieldPeriodEnd, Op: store.OpLE, Time: jan.AddDate(0, 1, 0)}}}}}
	plan := func(q store.Query) string {
		query, args, err := searchSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "\n")
	}
	if p := plan(store.Query{Type: "MeasureReport", Where: []store.Clause{rights}}); strings.Contains(p, "current_subject") || strings.Contains(p, "TEMP B-TREE FOR ORDER BY") {
		t.Errorf("broad rights alone: planned by the subject index or sorted:\n%s", p)
	}
	if p := plan(store.Query{Type: "MeasureReport", Where: []store.Clause{measure, period, rights}}); !strings.Contains(p, "current_measure_url") {
		t.Errorf("measure+period under broad rights: not on the measure index:\n%s", p)
	}
	narrow := rights
	narrow.Broad = false
	if p := plan(store.Query{Type: "MeasureReport", Where: []store.Clause{narrow}}); !strings.Contains(p, "current_subject") {
		t.Errorf("narrow rights: not on the subject index:\n%s", p)
	}
}
