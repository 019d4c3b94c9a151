// Package cputime measures the CPU time a benchmark uses. On a shared
// machine wall time per operation swings with the neighbours' load; the
// process's CPU time (user + system, garbage collection included) is what
// capacity planning needs, and it stays put. Benchmarks only.
package cputime

import (
	"testing"
)

// Report runs loop and adds a "cpu-ns/op" metric: the process CPU time the
// loop used, per b.N. Where the platform cannot tell, the metric is 0.
func Report(b *testing.B, loop func()) {
	b.Helper()
	start := Process()
	loop()
	b.ReportMetric(float64(Process()-start)/float64(b.N), "cpu-ns/op")
}
