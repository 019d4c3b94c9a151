package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/store"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// searchReport is a MeasureReport change with the index fields search uses.
func searchReport(id, measure, subject string, start, end time.Time, tokens ...string) store.Change {
	c := put("MeasureReport", id, `1`)
	c.Index = store.Index{Measure: measure, Subject: subject, PeriodStart: start, PeriodEnd: end, Status: "complete", Tokens: tokens}
	return c
}

const (
	mA = "http://example.org/Measure/a"
	mB = "http://example.org/Measure/b"
)

func searchFixtures(tb testing.TB, s store.Store) {
	tb.Helper()
	jan, feb := day(2025, 1, 1), day(2025, 2, 1)
	q1 := searchReport("q1", mA+"|1.0", "Location/hp2", jan, day(2025, 4, 1).Add(-time.Microsecond), "reporter=Organization/o1")
	q1.Index.Status = "pending"
	q1.Index.DateStart, q1.Index.DateEnd = day(2025, 4, 2), day(2025, 4, 3).Add(-time.Microsecond)
	mustWrite(tb, s,
		searchReport("jan", mA, "Location/hp1", jan, feb.Add(-time.Microsecond), "reporter=Organization/o1", "subject:identifier=http://x|HP-1"),
		searchReport("feb", mA, "Location/hp1", feb, day(2025, 3, 1).Add(-time.Microsecond), "reporter=Organization/o2"),
		q1,
		searchReport("y24", mB, "Location/hp1", day(2024, 1, 1), jan.Add(-time.Microsecond)),
		searchReport("open", mB, "Location/hp3", day(2024, 7, 1), store.DistantFuture),
		searchReport("other", "http://example.org/Measure/ab", "Location/hp1", jan, feb.Add(-time.Microsecond)),
	)
	m := definition("Measure", "m1", mA, "1.0", `1`)
	m.Index.Tokens = []string{"name=good health post", "name:exact=Good Health Post", "title=sante des meres"}
	mustWrite(tb, s, m, definition("Measure", "m2", mB, "2.0", `1`))
	mustWrite(tb, s, searchReport("gone", mA, "Location/hp1", jan, feb))
	mustWrite(tb, s, store.Change{Type: "MeasureReport", ID: "gone", Delete: true})
}

func eq(f store.Field, v string) store.Cond { return store.Cond{Field: f, Value: v} }
func at(f store.Field, op store.Op, t time.Time) store.Cond {
	return store.Cond{Field: f, Op: op, Time: t}
}

// many is one clause of n equalities on f that match nothing (prefix and a
// number) plus the given real values.
func many(f store.Field, prefix string, n int, real ...string) store.Clause {
	var cl store.Clause
	for i := range n {
		cl.Any = append(cl.Any, eq(f, fmt.Sprintf("%s%d", prefix, i)))
	}
	for _, v := range real {
		cl.Any = append(cl.Any, eq(f, v))
	}
	return cl
}

// canonicals is n unknown Measure canonicals and url, each as the server
// sends a canonical without a version: "= url" or "starts with url|".
func canonicals(n int, url string) store.Clause {
	var cl store.Clause
	for i := range n + 1 {
		u := fmt.Sprintf("http://example.org/Measure/none-%d", i)
		if i == n {
			u = url
		}
		cl.Any = append(cl.Any, eq(store.FieldMeasure, u), store.Cond{Field: store.FieldMeasure, Op: store.OpPrefix, Value: u + "|"})
	}
	return cl
}

// or is one clause of alternatives.
func or(cs ...store.Cond) store.Clause { return store.Clause{Any: cs} }

func testSearchClauses(t *testing.T, s store.Store) {
	searchFixtures(t, s)
	mar := day(2025, 3, 1)
	tests := []struct {
		name  string
		typ   string
		where []store.Clause
		want  []string
	}{
		{"all reports, deleted excluded", "MeasureReport", nil, []string{"feb", "jan", "open", "other", "q1", "y24"}},
		{"measure exact", "MeasureReport", []store.Clause{or(eq(store.FieldMeasure, mA))}, []string{"feb", "jan"}},
		{"measure any version", "MeasureReport", []store.Clause{or(eq(store.FieldMeasure, mA), store.Cond{Field: store.FieldMeasure, Op: store.OpPrefix, Value: mA + "|"})}, []string{"feb", "jan", "q1"}},
		{"measure OR", "MeasureReport", []store.Clause{or(eq(store.FieldMeasure, mA), eq(store.FieldMeasure, mB))}, []string{"feb", "jan", "open", "y24"}},
		{"measure AND subject", "MeasureReport", []store.Clause{or(eq(store.FieldMeasure, mB)), or(eq(store.FieldSubject, "Location/hp1"))}, []string{"y24"}},
		{"status", "MeasureReport", []store.Clause{or(eq(store.FieldStatus, "pending"))}, []string{"q1"}},
		{"token reporter", "MeasureReport", []store.Clause{or(eq(store.FieldToken, "reporter=Organization/o1"))}, []string{"jan", "q1"}},
		{"token subject identifier", "MeasureReport", []store.Clause{or(eq(store.FieldToken, "subject:identifier=http://x|HP-1"))}, []string{"jan"}},
		{"_id", "MeasureReport", []store.Clause{or(eq(store.FieldID, "feb"), eq(store.FieldID, "gone"))}, []string{"feb"}},
		{"period starts before March, ends after February", "MeasureReport", []store.Clause{
			or(at(store.FieldPeriodStart, store.OpLT, mar)), or(at(store.FieldPeriodEnd, store.OpGE, day(2025, 2, 15)))}, []string{"feb", "open", "q1"}},
		{"period within January (eq as a conjunction)", "MeasureReport", []store.Clause{or(store.Cond{All: []store.Cond{
			at(store.FieldPeriodStart, store.OpGE, day(2025, 1, 1)), at(store.FieldPeriodEnd, store.OpLE, day(2025, 2, 1).Add(-time.Microsecond))}})},
			[]string{"jan", "other"}},
		{"open-ended period reaches 2030", "MeasureReport", []store.Clause{or(at(store.FieldPeriodEnd, store.OpGT, day(2030, 1, 1)))}, []string{"open"}},
		{"date only where present", "MeasureReport", []store.Clause{or(at(store.FieldDateStart, store.OpGE, day(2000, 1, 1)))}, []string{"q1"}},
		{"string prefix token", "Measure", []store.Clause{or(store.Cond{Field: store.FieldToken, Op: store.OpPrefix, Value: "name=good he"})}, []string{"m1"}},
		{"string contains token", "Measure", []store.Clause{or(store.Cond{Field: store.FieldToken, Op: store.OpContains, Value: "title=des"})}, []string{"m1"}},
		{"contains stays in its token name", "Measure", []store.Clause{or(store.Cond{Field: store.FieldToken, Op: store.OpContains, Value: "title=health"})}, nil},
		{"url and version", "Measure", []store.Clause{or(eq(store.FieldURL, mB)), or(eq(store.FieldVersion, "2.0"))}, []string{"m2"}},
		{"lastUpdated after the epoch", "Measure", []store.Clause{or(at(store.FieldLastUpdated, store.OpGT, day(1970, 1, 1)))}, []string{"m1", "m2"}},
		{"empty OR matches nothing", "Measure", []store.Clause{{}}, nil},
		// A national token's facilities and long value lists: thousands of
		// alternatives in one clause (SQLite's expression depth limit fell at
		// about a thousand when each was an OR term).
		{"10,000 subjects", "MeasureReport", []store.Clause{many(store.FieldSubject, "Location/x", 10000, "Location/hp3", "Location/hp2")}, []string{"open", "q1"}},
		{"10,000 ids", "MeasureReport", []store.Clause{many(store.FieldID, "x", 10000, "jan", "y24")}, []string{"jan", "y24"}},
		{"5,000 tokens", "MeasureReport", []store.Clause{many(store.FieldToken, "reporter=Organization/x", 5000, "reporter=Organization/o2")}, []string{"feb"}},
		{"5,000 measures with their versions", "MeasureReport", []store.Clause{canonicals(5000, mB)}, []string{"open", "y24"}},
		{"10,000 subjects AND 10,000 ids", "MeasureReport", []store.Clause{
			many(store.FieldSubject, "Location/x", 10000, "Location/hp1"), many(store.FieldID, "x", 10000, "feb", "open")}, []string{"feb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := store.Query{Type: tc.typ, Where: tc.where, Count: 100, Total: true}
			page, err := s.Search(context.Background(), q)
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			var got []string
			for _, r := range page.Resources {
				got = append(got, r.ID)
				if len(r.Body) == 0 || !q.Matches(r) {
					t.Errorf("%s: no body, or does not match the query by Query.Matches", r.ID)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids in id order (-want +got):\n%s", diff)
			}
			if page.Total != len(tc.want) || page.More {
				t.Errorf("Total=%d More=%v, want %d false", page.Total, page.More, len(tc.want))
			}
		})
	}
}

func testSearchPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	var changes []store.Change
	for i := range 23 {
		c := searchReport(fmt.Sprintf("r%02d", i), mA, "Location/hp1", day(2025, time.Month(1+i%5), 1), day(2025, time.Month(2+i%5), 1))
		if i%7 == 3 {
			c.Index.PeriodStart, c.Index.PeriodEnd = time.Time{}, time.Time{} // sorts first
		}
		changes = append(changes, c)
	}
	for _, c := range changes[:12] {
		mustWrite(t, s, c) // distinct lastUpdated for some
	}
	mustWrite(t, s, changes[12:]...)
	all, err := s.Search(ctx, store.Query{Type: "MeasureReport", Count: 1000})
	if err != nil || len(all.Resources) != 23 {
		t.Fatalf("Search all: %d resources, %v", len(all.Resources), err)
	}
	for _, sort := range []store.Sort{{Field: store.FieldID}, {Field: store.FieldID, Desc: true},
		{Field: store.FieldLastUpdated}, {Field: store.FieldLastUpdated, Desc: true},
		{Field: store.FieldPeriodStart}, {Field: store.FieldPeriodStart, Desc: true}} {
		t.Run(fmt.Sprintf("%s desc=%v", sort.Field, sort.Desc), func(t *testing.T) {
			want := slices.Clone(all.Resources)
			slices.SortFunc(want, func(a, b store.Resource) int { return sort.Compare(sort.KeyOf(a), sort.KeyOf(b)) })
			var wantIDs, got []string
			for _, r := range want {
				wantIDs = append(wantIDs, r.ID)
			}
			q := store.Query{Type: "MeasureReport", Sort: sort, Count: 5}
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				p, err := s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Resources {
					got = append(got, r.ID)
				}
				if !p.More {
					break
				}
				k := sort.KeyOf(p.Resources[len(p.Resources)-1])
				q.After = &k
			}
			if diff := cmp.Diff(wantIDs, got); diff != "" {
				t.Errorf("pages in order (-want +got):\n%s", diff)
			}
		})
	}
}

func testHistoryPage(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustWrite(t, s, put("Measure", "m", `1`))
	mustWrite(t, s, report("r1", "k1", `1`), report("r2", "k2", `1`))
	mustWrite(t, s, report("r1", "k1", `2`))
	mustWrite(t, s, put("Location", "l", `1`))
	mustWrite(t, s, store.Change{Type: "MeasureReport", ID: "r2", Delete: true})
	walk := func(q store.HistoryQuery) []string {
		t.Helper()
		var got []string
		var prev *store.VersionKey
		for pages := 0; ; pages++ {
			p, err := s.HistoryPage(ctx, q)
			if err != nil {
				t.Fatalf("HistoryPage: %v", err)
			}
			for _, r := range p.Resources {
				k := store.VersionKeyOf(r)
				if prev != nil && store.CompareVersions(*prev, k) >= 0 {
					t.Errorf("history out of order: %+v then %+v", *prev, k)
				}
				prev = &k
				got = append(got, fmt.Sprintf("%s/%s/%d", r.Type, r.ID, r.VersionID))
			}
			if !p.More || pages > 20 {
				break
			}
			q.After = prev
		}
		slices.Sort(got)
		return got
	}
	everything := walk(store.HistoryQuery{Count: 2})
	want := []string{"Location/l/1", "Measure/m/1", "MeasureReport/r1/1", "MeasureReport/r1/2", "MeasureReport/r2/1", "MeasureReport/r2/2"}
	if diff := cmp.Diff(want, everything); diff != "" {
		t.Errorf("system history (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[2:], walk(store.HistoryQuery{Type: "MeasureReport", Count: 1})); diff != "" {
		t.Errorf("type history (-want +got):\n%s", diff)
	}
	r1, err := s.History(ctx, "MeasureReport", "r1")
	if err != nil {
		t.Fatal(err)
	}
	since := walk(store.HistoryQuery{Type: "MeasureReport", Since: r1[0].LastUpdated, Count: 10})
	if !slices.Contains(since, "MeasureReport/r1/2") || slices.Contains(since, "MeasureReport/r1/1") && !r1[1].LastUpdated.Equal(r1[0].LastUpdated) {
		t.Errorf("_since %v: %v", r1[0].LastUpdated, since)
	}
	// At the instant r1/2 was written, r1/1 was replaced: only r1/2 and
	// versions of other resources still current then are shown.
	atNow := walk(store.HistoryQuery{Type: "MeasureReport", AtLo: r1[0].LastUpdated, AtHi: r1[0].LastUpdated, Count: 10})
	if !slices.Contains(atNow, "MeasureReport/r1/2") || slices.Contains(atNow, "MeasureReport/r1/1") {
		t.Errorf("_at %v: %v", r1[0].LastUpdated, atNow)
	}
}

// testHistoryFilters checks HistoryQuery.Types and Subjects: the feed a
// caller sees is filtered in the store, so that pages stay full and every
// kept version is reached by following them; a deletion goes with the
// subject of the version it deleted.
func testHistoryFilters(t *testing.T, s store.Store) {
	ctx := context.Background()
	inA, inB := report("a", "ka", `1`), report("b", "kb", `1`)
	inA.Index.Subject, inB.Index.Subject = "Location/A", "Location/B"
	mustWrite(t, s, put("Measure", "m", `1`), put("AsyncJob", "j", `1`))
	mustWrite(t, s, inA, inB)
	inA2 := report("a", "ka", `2`)
	inA2.Index.Subject = "Location/A"
	mustWrite(t, s, inA2)
	mustWrite(t, s, store.Change{Type: "MeasureReport", ID: "a", Delete: true}, store.Change{Type: "MeasureReport", ID: "b", Delete: true})
	mustWrite(t, s, put("AuditEvent", "e", `1`))
	walk := func(q store.HistoryQuery) []string {
		t.Helper()
		var got []string
		for pages := 0; pages < 20; pages++ {
			p, err := s.HistoryPage(ctx, q)
			if err != nil {
				t.Fatalf("HistoryPage: %v", err)
			}
			if len(p.Resources) == 0 && p.More {
				t.Fatalf("an empty page with More: the filter runs after paging")
			}
			for _, r := range p.Resources {
				if !q.Keeps(r) {
					t.Errorf("%s/%s/%d does not pass the filter", r.Type, r.ID, r.VersionID)
				}
				got = append(got, fmt.Sprintf("%s/%s/%d", r.Type, r.ID, r.VersionID))
			}
			if !p.More {
				break
			}
			k := store.VersionKeyOf(p.Resources[len(p.Resources)-1])
			q.After = &k
		}
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		name string
		q    store.HistoryQuery
		want []string
	}{
		{"types", store.HistoryQuery{Types: []string{"Measure", "MeasureReport"}, Count: 1},
			[]string{"Measure/m/1", "MeasureReport/a/1", "MeasureReport/a/2", "MeasureReport/a/3", "MeasureReport/b/1", "MeasureReport/b/2"}},
		{"no types", store.HistoryQuery{Types: []string{}, Count: 5}, nil},
		{"types and subjects", store.HistoryQuery{Types: []string{"Measure", "MeasureReport"}, Subjects: map[string][]string{"MeasureReport": {"Location/A"}}, Count: 1},
			[]string{"Measure/m/1", "MeasureReport/a/1", "MeasureReport/a/2", "MeasureReport/a/3"}},
		{"no subjects", store.HistoryQuery{Subjects: map[string][]string{"MeasureReport": {}}, Count: 2},
			[]string{"AsyncJob/j/1", "AuditEvent/e/1", "Measure/m/1"}},
		{"one type, its subjects", store.HistoryQuery{Type: "MeasureReport", Subjects: map[string][]string{"MeasureReport": {"Location/B", "Location/C"}}, Count: 1},
			[]string{"MeasureReport/b/1", "MeasureReport/b/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, walk(tc.q)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
	v, err := s.ReadVersion(ctx, "MeasureReport", "a", 3)
	if !errors.Is(err, store.ErrDeleted) || v.Index.Subject != "Location/A" {
		t.Errorf("deletion version: subject %q, %v; want Location/A and ErrDeleted", v.Index.Subject, err)
	}
}

// testTokensFollowVersions checks that a resource matches the tokens of its
// current version only: a new version replaces them, a deletion drops them.
func testTokensFollowVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	jan := day(2025, 1, 1)
	write := func(tokens ...string) {
		t.Helper()
		mustWrite(t, s, searchReport("r", mA, "Location/hp1", jan, day(2025, 2, 1), tokens...))
	}
	expect := func(step string, want map[string]bool) {
		t.Helper()
		for tok, found := range want {
			page, err := s.Search(ctx, store.Query{Type: "MeasureReport", Count: 10, Where: []store.Clause{or(eq(store.FieldToken, tok))}})
			if err != nil || (len(page.Resources) == 1) != found || len(page.Resources) > 1 {
				t.Errorf("%s: token %s finds %d resources (%v); want found=%v", step, tok, len(page.Resources), err, found)
			}
		}
	}
	write("reporter=Location/a", "identifier=s|1")
	write("identifier=s|1", "identifier=s|2")
	expect("after an update", map[string]bool{"reporter=Location/a": false, "identifier=s|1": true, "identifier=s|2": true})
	mustWrite(t, s, store.Change{Type: "MeasureReport", ID: "r", Delete: true})
	expect("after the deletion", map[string]bool{"identifier=s|1": false, "identifier=s|2": false})
	write("reporter=Location/a")
	expect("after re-creation", map[string]bool{"reporter=Location/a": true, "identifier=s|1": false})
}
