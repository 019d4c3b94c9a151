package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/madx-project/madx/internal/cputime"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
	"github.com/madx-project/madx/store/storetest"
)

// exampleTemplate is the example report packed as the server packs it
// before a write (store.Template), its hole where the server's meta is:
// near the end, members being sorted by name.
func exampleTemplate(b *testing.B) *store.Template {
	body := storetest.ExampleReport(b)
	tmpl, err := store.NewTemplate(body, len(body)-400, len(body)-230)
	if err != nil {
		b.Fatal(err)
	}
	return tmpl
}

// reportChange is report i rendered from tmpl, so that the engine writes
// the same bytes as under ingest.
func reportChange(tmpl *store.Template, i int) store.Change {
	id := fmt.Sprintf("r%08d", i)
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i%100, 0)
	return store.Change{Type: "MeasureReport", ID: id,
		Index: store.Index{Measure: "http://ohie.org/Measure/madx-hiv-indicator-example", Subject: fmt.Sprintf("Location/F%04d", i/100),
			PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0).Add(-time.Microsecond), ReportKey: "key-" + id, Status: "complete"},
		Render: func(v int64, at time.Time) ([]byte, error) {
			return tmpl.Fill(fmt.Appendf(nil, `%d","lastUpdated":%q`, v, at.Format(time.RFC3339Nano))), nil
		}}
}

// seeded opens a store holding n reports (written in batches of 500).
func seeded(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	tmpl := exampleTemplate(b)
	for i := 0; i < n; i += 500 {
		var batch []store.Change
		for j := i; j < min(i+500, n); j++ {
			batch = append(batch, reportChange(tmpl, j))
		}
		if _, err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// sizes are the stored-report counts the figures are taken at; set
// MADX_BENCH_SMALL=1 to skip the 100,000 one (seeding it takes minutes).
func sizes() []int {
	if os.Getenv("MADX_BENCH_SMALL") != "" {
		return []int{1000}
	}
	return []int{1000, 100000}
}

// BenchmarkWrite is the raw write rate: one report per transaction (a
// single PUT) and 100 per transaction (a collection Bundle), each a new
// report, on top of n stored ones.
func BenchmarkWrite(b *testing.B) {
	for _, n := range sizes() {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("stored=%d/batch=%d", n, batch), func(b *testing.B) {
				s := seeded(b, n)
				tmpl := exampleTemplate(b)
				next := n
				b.SetBytes(int64(len(storetest.ExampleReport(b)) * batch))
				b.ResetTimer()
				cpu := cputime.Process()
				for range b.N {
					changes := make([]store.Change, batch)
					for j := range changes {
						changes[j] = reportChange(tmpl, next)
						next++
					}
					if _, err := s.Write(context.Background(), changes); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "reports/s")
				b.ReportMetric(float64((cputime.Process()-cpu).Microseconds())/float64(b.N*batch), "cpu-µs/report")
			})
		}
	}
}

// BenchmarkRead is the read rate by id and by business key.
func BenchmarkRead(b *testing.B) {
	for _, n := range sizes() {
		s := seeded(b, n)
		b.Run(fmt.Sprintf("stored=%d/by=id", n), func(b *testing.B) {
			for i := range b.N {
				if _, err := s.Read(context.Background(), "MeasureReport", fmt.Sprintf("r%08d", (i*7919)%n)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("stored=%d/by=reportKey", n), func(b *testing.B) {
			for i := range b.N {
				if h, err := s.ReportKeyHolders(context.Background(), []string{fmt.Sprintf("key-r%08d", (i*7919)%n)}); err != nil || len(h) != 1 {
					b.Fatal(h, err)
				}
			}
		})
	}
}
