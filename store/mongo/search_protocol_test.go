package mongo_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
)

// TestSearchSeesNoHalfWrite stops a multi-change write without server
// transactions before its commit: Search and HistoryPage must show the
// state before it, whole (prev of the marked documents), then, once recovery
// has rolled it back and the write is redone, the state after it.
func TestSearchSeesNoHalfWrite(t *testing.T) {
	for name, open := range protocolServers(t) {
		t.Run(name, func(t *testing.T) {
			var c clock
			s := open(t, c.options())
			ctx := context.Background()
			at := func(c store.Change, subject string) store.Change { c.Index.Subject = subject; return c }
			mustWrite(t, s, at(report("r1", "k1", `1`), "Location/l"), at(report("r2", "k2", `1`), "Location/l"))
			changes := []store.Change{at(report("r1", "k1", `2`), "Location/other"), {Type: "MeasureReport", ID: "r2", Delete: true}, at(report("r3", "k3", `1`), "Location/l")}
			mongo.SetHook(s, crashAt("applied 2"))
			if _, err := s.Write(ctx, changes); err == nil {
				t.Fatal("Write stopped by the hook succeeded")
			}
			mongo.SetHook(s, nil)
			search := func(where ...store.Clause) []string {
				t.Helper()
				p, err := s.Search(ctx, store.Query{Type: "MeasureReport", Where: where, Count: 10, Total: true})
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, r := range p.Resources {
					ids = append(ids, r.ID)
				}
				if p.Total != len(ids) {
					t.Errorf("Total %d for %d results", p.Total, len(ids))
				}
				sort.Strings(ids)
				return ids
			}
			subject := store.Clause{Any: []store.Cond{{Field: store.FieldSubject, Value: "Location/l"}}}
			if diff := cmp.Diff([]string{"r1", "r2"}, search()); diff != "" {
				t.Errorf("all reports during a pending write (-before +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"r1", "r2"}, search(subject)); diff != "" {
				t.Errorf("by subject during a pending write (-before +got):\n%s", diff)
			}
			h, err := s.HistoryPage(ctx, store.HistoryQuery{Type: "MeasureReport", Count: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Resources) != 2 {
				t.Errorf("history during a pending write shows %d versions, want the 2 committed", len(h.Resources))
			}
			c.advance(2 * time.Minute)
			if err := s.Recover(ctx); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			mustWrite(t, s, changes...)
			if diff := cmp.Diff([]string{"r1", "r3"}, search()); diff != "" {
				t.Errorf("after the write (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"r3"}, search(subject)); diff != "" {
				t.Errorf("by subject after the write (-want +got):\n%s", diff)
			}
		})
	}
}
