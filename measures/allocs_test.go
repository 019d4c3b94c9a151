//go:build !race

// The race detector allocates on its own account, so the zero-allocation
// rule holds only in builds without it.

package measures

import "testing"

// TestCheckValidPathAllocatesNothing holds the performance rule: no
// allocation per stratum (nor per report) when a report is valid and has a
// literal subject.
func TestCheckValidPathAllocatesNothing(t *testing.T) {
	d, reg := exampleDefinition(t, Options{})
	r := balanced(t)
	d.Check(r, reg) // warm the scratch pool
	if n := testing.AllocsPerRun(100, func() { d.Check(r, reg) }); n != 0 {
		t.Errorf("Check of a valid report allocates %v times per run, want 0", n)
	}
}
