package measures

import (
	"context"
	"testing"
)

// BenchmarkCheck is the target of BENCHMARKS.md: the IHE example report
// (contained subject, the strata sum warning) against the IHE example
// Measure.
func BenchmarkCheck(b *testing.B) {
	d, reg := exampleDefinition(b, Options{})
	r := loadReport(b, exampleReport)
	b.ReportAllocs()
	for b.Loop() {
		if issues := d.Check(r, reg); len(issues) != 1 {
			b.Fatalf("got %d issues, want the sum warning", len(issues))
		}
	}
}

// BenchmarkCheckClean is a valid report with nothing to say: the valid path.
func BenchmarkCheckClean(b *testing.B) {
	d, reg := exampleDefinition(b, Options{})
	r := balanced(b)
	b.ReportAllocs()
	for b.Loop() {
		if issues := d.Check(r, reg); len(issues) != 0 {
			b.Fatalf("issues: %+v", issues)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	term, _ := fixtures(b)
	m := loadMeasure(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile(context.Background(), m, term, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
