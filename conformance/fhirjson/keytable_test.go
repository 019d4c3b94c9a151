package fhirjson

import (
	"testing"

	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
)

// TestKeyTableMatchesKeys checks the byte-keyed table against the map it
// is built from, for hits and misses.
func TestKeyTableMatchesKeys(t *testing.T) {
	mi := infoFor((&mrpb.MeasureReport{}).ProtoReflect().Descriptor())
	for name, k := range mi.keys {
		if got := mi.keyTable.find([]byte(name)); got != k {
			t.Errorf("find(%q) = %p, want %p", name, got, k)
		}
	}
	for _, name := range []string{"", "x", "statu", "statuss", "_", "__status", "resourceType"} {
		if got := mi.keyTable.find([]byte(name)); got != nil {
			t.Errorf("find(%q) = %+v, want nil", name, got)
		}
	}
}
