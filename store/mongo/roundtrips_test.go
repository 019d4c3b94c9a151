package mongo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
)

// rtReport is a MeasureReport change as the pipeline renders it, with its
// business key.
func rtReport(i int) store.Change {
	id := fmt.Sprintf("r%03d", i)
	return store.Change{Type: "MeasureReport", ID: id, SkipUnchanged: true,
		Index: store.Index{Measure: "http://example.org/Measure/m", Subject: fmt.Sprintf("Location/f%03d", i),
			ReportKey: fmt.Sprintf("http://example.org/Measure/m Location/f%03d 2025-01", i), ContentHash: fmt.Sprint(i),
			Tokens: []string{"status=complete"}},
		Render: func(vid int64, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `{"resourceType":"MeasureReport","id":%q,"meta":{"versionId":"%d"}}`, id, vid), nil
		}}
}

func rtAudit(i int) store.Change {
	id := fmt.Sprintf("a%03d", i)
	return store.Change{Type: "AuditEvent", ID: id, CreateOnly: true, Index: store.Index{Status: "0", Tokens: []string{"outcome=0"}},
		Render: func(vid int64, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":%q}`, id), nil
		}}
}

// TestRoundTrips counts the commands the engine sends for what one PUT of a
// report, one DELETE and one collection Bundle of 100 reports ask of the
// store, on the embedded FerretDB (no server transactions: the audit record
// is its own Write, see pipeline.oneCommit). It fails when a count grows:
// on FerretDB each command can be a collection scan, on a real MongoDB it is
// a network round trip (docs/storage.md, "Round trips per write"). Lower a
// budget when a change lowers the count.
func TestRoundTrips(t *testing.T) {
	var cc mongotest.Commands
	s := openStore(t, mongotest.Start(t), mongo.Options{Monitor: cc.Monitor(), RecoverEvery: -1})
	ctx := context.Background()
	write := func(changes ...store.Change) {
		t.Helper()
		if _, err := s.Write(ctx, changes); err != nil {
			t.Fatal(err)
		}
	}
	// What the pipeline asks per request: the definitions' stamp, the
	// holders of the report keys, the write, the audit record.
	put := func(changes []store.Change, auditID int) {
		t.Helper()
		if _, err := s.Stamp(ctx, "Measure", "ValueSet", "CodeSystem", "Location", "Organization"); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, len(changes))
		for i, c := range changes {
			keys[i] = c.Index.ReportKey
		}
		if _, err := s.ReportKeyHolders(ctx, keys); err != nil {
			t.Fatal(err)
		}
		write(changes...)
		write(rtAudit(auditID))
	}
	write(rtReport(0)) // the collections exist: their creation is not counted
	write(rtAudit(0))

	for _, tc := range []struct {
		name   string
		budget int
		fn     func()
	}{
		{"PUT of a new report", 8, func() { put([]store.Change{rtReport(1)}, 1) }},
		{"PUT of a new version", 7, func() {
			c := rtReport(1)
			c.Index.ContentHash = "changed"
			put([]store.Change{c}, 2)
		}},
		{"DELETE", 6, func() {
			write(store.Change{Type: "MeasureReport", ID: "r001", Delete: true})
			write(rtAudit(3))
		}},
		{"collection Bundle of 100", 13, func() {
			changes := make([]store.Change, 100)
			for i := range changes {
				changes[i] = rtReport(100 + i)
			}
			put(changes, 4)
		}},
	} {
		n, detail := cc.Count(tc.fn)
		t.Logf("%s: %d commands (%s)", tc.name, n, detail)
		if n > tc.budget {
			t.Errorf("%s: %d commands, budget %d (%s)", tc.name, n, tc.budget, detail)
		}
	}
}
