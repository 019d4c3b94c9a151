//go:build !unix

package fhirjson

import "testing"

func reportCPU(b *testing.B, loop func()) {
	b.Helper()
	loop()
}
