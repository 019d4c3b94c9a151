package fhirxml

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	oo "github.com/madx-project/madx/operationoutcome"
)

// FuzzUnmarshal checks that no input panics or hangs the decoder, that
// every refusal is a client error, and that whatever is accepted encodes
// and decodes back to the same proto. Seeds: every XML fixture, the
// features twin and the malformed and hostile shapes. Crashers found are
// kept in testdata/fuzz/FuzzUnmarshal.
func FuzzUnmarshal(f *testing.F) {
	for _, fx := range fixtures(f) {
		// The fuzzing engine crawls on seeds of hundreds of kilobytes; the
		// large Bundle's shapes are in the smaller fixtures too.
		if len(fx.xmlData) <= 64<<10 {
			f.Add(fx.xmlData)
		}
	}
	f.Add(readFile(f, filepath.Join("testdata", "features.xml")))
	f.Add([]byte(minimalReport))
	f.Add([]byte(nested(20)))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY b "c">]><MeasureReport xmlns="http://hl7.org/fhir"/>`))
	f.Add([]byte(strings.Replace(minimalReport, `<status value="complete"/>`, `<status>complete</status><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></text>`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := Unmarshal(data)
		if err != nil {
			var oe *oo.Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %T is not an *operationoutcome.Error: %v", err, err)
			}
			if oe.Status != http.StatusBadRequest && oe.Status != http.StatusUnsupportedMediaType {
				t.Fatalf("status %d: %v", oe.Status, err)
			}
			if len(oe.Issues) == 0 {
				t.Fatal("error without issues")
			}
			return
		}
		out, err := Marshal(msg, false)
		if err != nil {
			t.Fatalf("Marshal of a decoded resource: %v", err)
		}
		again, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(x)): %v\n%s", err, out)
		}
		if diff := diffProto(msg, again); diff != "" {
			t.Fatalf("round trip changed the proto (-first +second):\n%s", diff)
		}
	})
}
