//go:build unix

package fhirxml

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user+system) the test process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: the process CPU time per operation,
// garbage collection included. The benchmark machine is shared, so wall
// time per op swings with the neighbours' load; CPU time stays put.
func reportCPU(b *testing.B, loop func()) {
	b.Helper()
	start := processCPU()
	loop()
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}
