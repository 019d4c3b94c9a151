package mongo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
	"github.com/madx-project/madx/store/storetest"
)

// benchDocs is how many reports the benchmarks store first. FerretDB on
// SQLite scans whole collections for lookups other than by _id, so 100,000
// is out of reach here (see BENCHMARKS.md).
const benchDocs = 1000

func benchChange(body []byte, i, payload int) store.Change {
	id := fmt.Sprintf("r%05d", i)
	return store.Change{
		Type: "MeasureReport", ID: id,
		Index: store.Index{
			ReportKey:   fmt.Sprintf("http://example.org/Measure/m|Location/l%05d|2025-01", i),
			Measure:     "http://example.org/Measure/m",
			Subject:     fmt.Sprintf("Location/l%05d", i),
			PeriodStart: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			PeriodEnd:   time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC),
			ContentHash: fmt.Sprint(payload),
		},
		Render: func(int64, time.Time) ([]byte, error) { return body, nil },
	}
}

// benchStore opens a store on a fresh FerretDB holding benchDocs reports.
func benchStore(b *testing.B) (*mongo.Store, []byte) {
	b.Helper()
	body := storetest.ExampleReport(b)
	s := openStore(b, mongotest.Start(b), mongo.Options{RecoverEvery: -1})
	for i := range benchDocs {
		mustWrite(b, s, benchChange(body, i, 0))
	}
	return s, body
}

func BenchmarkWrite(b *testing.B) {
	s, body := benchStore(b)
	i := 0
	for b.Loop() {
		i++
		mustWrite(b, s, benchChange(body, i%benchDocs, i))
	}
}

func BenchmarkRead(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Read(ctx, "MeasureReport", fmt.Sprintf("r%05d", i*7919%benchDocs)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReportKeyHolders(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.ReportKeyHolders(ctx, []string{fmt.Sprintf("http://example.org/Measure/m|Location/l%05d|2025-01", i*7919%benchDocs)}); err != nil {
			b.Fatal(err)
		}
	}
}
