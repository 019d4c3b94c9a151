//go:build !unix

package fhirxml

import "testing"

func reportCPU(b *testing.B, loop func()) {
	b.Helper()
	loop()
}
