package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/madx-project/madx/store"
)

// testQueriesTooLargeForTheEngine runs searches whose size is the caller's
// doing (issue 14, item 2): each either answers what Query.Matches says, or
// fails with ErrBadQuery and a public reason, never ErrUnavailable, which
// tells a client to retry what would fail again.
func testQueriesTooLargeForTheEngine(t *testing.T, s store.Store) {
	searchFixtures(t, s)
	prefixes := func(n int) store.Clause {
		var cl store.Clause
		for i := range n {
			cl.Any = append(cl.Any, store.Cond{Field: store.FieldToken, Op: store.OpPrefix, Value: fmt.Sprintf("reporter=Organization/x%d", i)})
		}
		return cl
	}
	anded := func(n int, c store.Cond) []store.Clause {
		out := make([]store.Clause, n)
		for i := range out {
			out[i] = or(c)
		}
		return out
	}
	var contains store.Clause
	for i := range 3000 {
		contains.Any = append(contains.Any, store.Cond{Field: store.FieldToken, Op: store.OpContains, Value: fmt.Sprintf("reporter=x%d", i)})
	}
	tests := []struct {
		name  string
		where []store.Clause
		want  []string
	}{
		{"3,000 prefixes OR-ed", []store.Clause{prefixes(3000)}, nil},
		{"3,000 contains values", []store.Clause{contains}, nil},
		{"2,000 parameters AND-ed", anded(2000, store.Cond{Field: store.FieldToken, Op: store.OpPrefix, Value: "reporter=Organization/o"}), []string{"feb", "jan", "q1"}},
		{"2,000 date ranges AND-ed", anded(2000, at(store.FieldPeriodStart, store.OpGE, day(2025, 1, 1))), []string{"feb", "jan", "other", "q1"}},
		// Beyond MongoDB's 32 KiB regular expressions.
		{"a 64 KiB prefix", []store.Clause{or(store.Cond{Field: store.FieldToken, Op: store.OpPrefix, Value: "reporter=" + strings.Repeat("x", 64<<10)})}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := store.Query{Type: "MeasureReport", Where: tc.where, Count: 100, Total: true}
			page, err := s.Search(context.Background(), q)
			var qe *store.QueryError
			switch {
			case err == nil:
				var got []string
				for _, r := range page.Resources {
					got = append(got, r.ID)
				}
				if strings.Join(got, ",") != strings.Join(tc.want, ",") || page.Total != len(tc.want) {
					t.Errorf("ids %v total %d, want %v", got, page.Total, tc.want)
				}
			case errors.Is(err, store.ErrUnavailable):
				t.Fatalf("Search: %v; a query too large is the caller's fault (ErrBadQuery), not the store's", err)
			case !errors.Is(err, store.ErrBadQuery) || !errors.As(err, &qe):
				t.Fatalf("Search: %v, want nil or a *QueryError (ErrBadQuery)", err)
			case qe.Reason == "" || strings.Contains(qe.Reason, "SELECT") || strings.Contains(qe.Reason, "$"):
				t.Errorf("QueryError reason %q: want a public reason, without query text", qe.Reason)
			}
		})
	}
}

// testClosedIsUnavailable keeps ErrUnavailable for a store that really is
// not there: after Close, reads, searches and writes fail with it.
func testClosedIsUnavailable(t *testing.T, s store.Store) {
	mustWrite(t, s, put("Location", "l1", `1`))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	checks := map[string]error{
		"Read": func() error { _, err := s.Read(ctx, "Location", "l1"); return err }(),
		"Search": func() error {
			_, err := s.Search(ctx, store.Query{Type: "Location", Count: 10})
			return err
		}(),
		"Write": func() error { _, err := s.Write(ctx, []store.Change{put("Location", "l2", `1`)}); return err }(),
	}
	for name, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrBadQuery) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable", name, err)
		}
	}
}
