package fhirxml

import (
	"path/filepath"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/madx-project/madx/conformance/fhirjson"
	"github.com/madx-project/madx/internal/cputime"
)

// The benchmarks compare this codec with google/fhir's jsonformat on the
// same resource, the mADX example MeasureReport, and with madx's own JSON
// decoder (conformance/fhirjson), which issue #4 measures XML against: XML
// decoding may take at most twice as long. See BENCHMARKS.md.
var (
	benchXML  = filepath.Join(repoTestdata, "madx", "xml", "MeasureReport-mADX-MeasureReport-example.xml")
	benchJSON = filepath.Join(repoTestdata, "madx", "reports", "MeasureReport-mADX-MeasureReport-example.json")
)

func BenchmarkUnmarshalXML(b *testing.B) {
	data := readFile(b, benchXML)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cputime.Report(b, func() {
		for b.Loop() {
			if _, err := Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUnmarshalJSONOurs(b *testing.B) {
	data := readFile(b, benchJSON)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cputime.Report(b, func() {
		for b.Loop() {
			if _, err := fhirjson.Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMarshalXML(b *testing.B) {
	msg := decodeXML(b, readFile(b, benchXML))
	b.ReportAllocs()
	cputime.Report(b, func() {
		for b.Loop() {
			if _, err := Marshal(msg, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkJSONformatUnmarshal(b *testing.B) {
	data := readFile(b, benchJSON)
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cputime.Report(b, func() {
		for b.Loop() {
			if _, err := u.Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkJSONformatMarshal(b *testing.B) {
	msg := decodeJSON(b, readFile(b, benchJSON))
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cputime.Report(b, func() {
		for b.Loop() {
			if _, err := m.MarshalResource(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
