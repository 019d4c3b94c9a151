package fhirjson

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestParametersResource: Parameters.parameter.resource holds a resource
// packed in Any, read and written like DomainResource.contained;
// $validate takes its input this way. jsonformat (v0.7.4) refuses the
// member as unknown, so this is madx's own extension of its behaviour.
func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestParametersResource(t *testing.T) {
	in := []byte(`{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"create"},{"name":"resource","resource":{"resourceType":"Location","id":"x","name":"A health post"}}]}`)
	got, err := Unmarshal(in)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	// Marshal writes members in jsonformat's (sorted) order.
	const sorted = `{"parameter":[{"name":"mode","valueCode":"create"},{"name":"resource","resource":{"id":"x","name":"A health post","resourceType":"Location"}}],"resourceType":"Parameters"}`
	if got := string(must(Marshal(got))); got != sorted {
		t.Fatalf("Marshal:\n got %s\nwant %s", got, sorted)
	}
	out, err := Marshal(got)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Unmarshal(out)
	if err != nil {
		t.Fatalf("Unmarshal of %s: %v", out, err)
	}
	if d := cmp.Diff(got, back, protocmp.Transform()); d != "" {
		t.Fatalf("round trip (-first +second):\n%s", d)
	}
}
