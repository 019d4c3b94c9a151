package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
)

// TestMigrateFromSchema1 turns a database back into schema 1 (no search
// columns, open periods with a NULL end, tokens found by owner) and checks
// that Open upgrades it in place and that search then finds what it holds
// and a new version replaces its tokens.
func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	_, err = s.Write(ctx, []store.Change{{Type: "MeasureReport", ID: "open",
		Index:  store.Index{Measure: "http://x/M|1", PeriodStart: start, PeriodEnd: store.DistantFuture, Tokens: []string{"reporter=Location/a", "identifier=s|1"}},
		Render: func(int64, time.Time) ([]byte, error) { return []byte(`{}`), nil }}})
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`DROP INDEX current_measure_url`, `DROP INDEX current_date`, `DROP INDEX current_period_end`, `DROP INDEX current_period`,
		`ALTER TABLE current DROP COLUMN measure_url`, `ALTER TABLE current DROP COLUMN date_start`, `ALTER TABLE current DROP COLUMN date_end`,
		`UPDATE current SET period_end = NULL`,
		`ALTER TABLE current DROP COLUMN tokens`, `CREATE INDEX tokens_owner ON tokens(type, id)`,
		`DROP INDEX current_status`, `CREATE INDEX current_status ON current(type, status) WHERE status IS NOT NULL`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := s.w.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	s.Close()
	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open schema 1: %v", err)
	}
	defer s.Close()
	var v int
	if err := s.w.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d (%v), want %d", v, err, schemaVersion)
	}
	page, err := s.Search(ctx, store.Query{Type: "MeasureReport", Count: 10, Where: []store.Clause{
		{Any: []store.Cond{{Field: store.FieldMeasure, Value: "http://x/M"}, {Field: store.FieldMeasure, Op: store.OpPrefix, Value: "http://x/M|"}}},
		{Any: []store.Cond{{Field: store.FieldPeriodEnd, Op: store.OpGT, Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	}})
	if err != nil || len(page.Resources) != 1 {
		t.Fatalf("search after migration: %d found, %v; want the open-ended report", len(page.Resources), err)
	}
	// The tokens moved onto the current row: a new version keeps one, drops
	// one, adds one.
	_, err = s.Write(ctx, []store.Change{{Type: "MeasureReport", ID: "open",
		Index:  store.Index{Measure: "http://x/M|1", PeriodStart: start, PeriodEnd: store.DistantFuture, Tokens: []string{"reporter=Location/a", "identifier=s|2"}},
		Render: func(int64, time.Time) ([]byte, error) { return []byte(`{}`), nil }}})
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]int{"reporter=Location/a": 1, "identifier=s|1": 0, "identifier=s|2": 1} {
		page, err := s.Search(ctx, store.Query{Type: "MeasureReport", Count: 10, Where: []store.Clause{{Any: []store.Cond{{Field: store.FieldToken, Value: tok}}}}})
		if err != nil || len(page.Resources) != want {
			t.Errorf("token %s after migration and update: %d found, %v; want %d", tok, len(page.Resources), err, want)
		}
	}
	var rows int
	if err := s.w.QueryRow(`SELECT count(*) FROM tokens`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("%d token rows (%v), want 2", rows, err)
	}
}
