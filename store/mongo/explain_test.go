package mongo

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSearchPlansUseIndexes asks a real MongoDB (MADX_TEST_MONGODB_URI) to
// explain the search and history queries and fails on a collection scan.
// FerretDB's explain says nothing about MongoDB's planner (and it gets no
// search indexes, see searchIndexes), so the test needs a real server;
// store/sqlite proves the same for SQLite on every run.
func TestSearchPlansUseIndexes(t *testing.T) {
	uri := os.Getenv("MADX_TEST_MONGODB_URI")
	if uri == "" {
		t.Skip("MADX_TEST_MONGODB_URI is not set: MongoDB query plans are checked against a real MongoDB only")
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{URI: uri, Database: fmt.Sprintf("madx_explain_%d", os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.db.Drop(context.Background()) //nolint:errcheck // best effort
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var changes []store.Change
	for i := range 200 {
		changes = append(changes, store.Change{Type: "MeasureReport", ID: fmt.Sprint(i),
			Index:  store.Index{Measure: fmt.Sprintf("http://x/M%d", i%5), Subject: fmt.Sprintf("Location/%d", i%20), PeriodStart: jan.AddDate(0, i%12, 0), PeriodEnd: jan.AddDate(0, i%12+1, 0), Status: "complete", Tokens: []string{fmt.Sprintf("reporter=Organization/%d", i%20)}},
			Render: func(int64, time.Time) ([]byte, error) { return []byte(`{}`), nil }})
	}
	if _, err := s.Write(ctx, changes); err != nil {
		t.Fatal(err)
	}
	cl := func(cs ...store.Cond) store.Clause { return store.Clause{Any: cs} }
	queries := map[string]store.Query{
		"measure+period": {Type: "MeasureReport", Where: []store.Clause{
			cl(store.Cond{Field: store.FieldMeasure, Value: "http://x/M1"}, store.Cond{Field: store.FieldMeasure, Op: store.OpPrefix, Value: "http://x/M1|"}),
			cl(store.Cond{All: []store.Cond{{Field: store.FieldPeriodStart, Op: store.OpGE, Time: jan}, {Field: store.FieldPeriodEnd, Op: store.OpLE, Time: jan.AddDate(0, 1, 0)}}})}},
		"subject":      {Type: "MeasureReport", Where: []store.Clause{cl(store.Cond{Field: store.FieldSubject, Value: "Location/3"})}},
		"token":        {Type: "MeasureReport", Where: []store.Clause{cl(store.Cond{Field: store.FieldToken, Value: "reporter=Organization/3"})}},
		"status":       {Type: "MeasureReport", Where: []store.Clause{cl(store.Cond{Field: store.FieldStatus, Value: "complete"})}},
		"_lastUpdated": {Type: "MeasureReport", Where: []store.Clause{cl(store.Cond{Field: store.FieldLastUpdated, Op: store.OpGT, Time: jan})}}, "period end": {Type: "MeasureReport", Where: []store.Clause{cl(store.Cond{Field: store.FieldPeriodEnd, Op: store.OpGT, Time: jan})}},
	}
	for name, q := range queries {
		f, err := searchFilter(q)
		if err != nil {
			t.Fatal(err)
		}
		explain(t, s, name, "resources", f, sortSpec(q.Sort))
	}
	explain(t, s, "marked documents", "resources", bson.D{{Key: "txn", Value: bson.D{{Key: "$exists", Value: true}}}, {Key: "type", Value: "MeasureReport"}}, nil)
	explain(t, s, "history _since", "history", bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: "lastUpdated", Value: bson.D{{Key: "$gte", Value: jan}}}}}}},
		bson.D{{Key: "lastUpdated", Value: -1}, {Key: "type", Value: -1}, {Key: "id", Value: -1}, {Key: "versionId", Value: -1}})
}

func explain(t *testing.T, s *Store, name, coll string, filter, sort bson.D) {
	t.Helper()
	find := bson.D{{Key: "find", Value: coll}, {Key: "filter", Value: filter}, {Key: "limit", Value: 51}}
	if sort != nil {
		find = append(find, bson.E{Key: "sort", Value: sort})
	}
	var out bson.M
	if err := s.db.RunCommand(context.Background(), bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}}).Decode(&out); err != nil {
		t.Fatalf("%s: explain: %v", name, err)
	}
	plan := fmt.Sprint(out["queryPlanner"].(bson.M)["winningPlan"])
	if strings.Contains(plan, "COLLSCAN") {
		t.Errorf("%s: collection scan: %s", name, plan)
	}
}
