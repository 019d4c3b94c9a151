package fhirjson

import (
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/madx-project/madx/internal/cputime"
)

// The benchmark inputs: the mADX example report (24 KB, 27 strata) and
// the 12-report monthly collection Bundle.
var benchFiles = []struct{ name, path string }{
	{"MeasureReport", "../../testdata/madx/reports/MeasureReport-mADX-MeasureReport-example.json"},
	{"Bundle12", "../../testdata/madx/reports/Bundle-hiv-monthly-collection.json"},
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, f := range benchFiles {
		data := readFile(b, f.path)
		b.Run(f.name+"/fhirjson", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cputime.Report(b, func() {
				for b.Loop() {
					if _, err := Unmarshal(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(f.name+"/jsonformat", func(b *testing.B) {
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
		})
	}
}

func BenchmarkUnmarshalBundleParallel(b *testing.B) {
	data := readFile(b, benchFiles[1].path)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	dec := Decoder{} // GOMAXPROCS workers
	cputime.Report(b, func() {
		for b.Loop() {
			if _, err := dec.Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	for _, f := range benchFiles {
		res, err := Unmarshal(readFile(b, f.path))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name+"/fhirjson", func(b *testing.B) {
			b.ReportAllocs()
			cputime.Report(b, func() {
				for b.Loop() {
					if _, err := Marshal(res); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(f.name+"/jsonformat", func(b *testing.B) {
			m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cputime.Report(b, func() {
				for b.Loop() {
					if _, err := m.MarshalResource(res); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
