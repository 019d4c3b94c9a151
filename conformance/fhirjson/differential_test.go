package fhirjson

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// reference decodes with jsonformat's validating unmarshaller and unwraps
// the ContainedResource, the behaviour this package must reproduce.
func reference(tb testing.TB, data []byte) (proto.Message, error) {
	tb.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := u.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	return unwrap(res.(*rpb.ContainedResource)), nil
}

// fixtures returns the JSON files under dir, recursively.
func fixtures(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") && filepath.Base(p) != "manifest.json" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

func readFile(tb testing.TB, p string) []byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestUnmarshalMatchesJSONFormat(t *testing.T) {
	files := append(fixtures(t, "../../testdata/madx"), fixtures(t, "../../testdata/invalid")...)
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data := readFile(t, p)
			want, wantErr := reference(t, data)
			got, err := Unmarshal(data)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("Unmarshal error = %v, jsonformat error = %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if !proto.Equal(want, got) {
				t.Errorf("Unmarshal differs from jsonformat (-jsonformat +ours):\n%s", cmp.Diff(want, got, protocmp.Transform()))
			}
		})
	}
}

// referenceMarshal is jsonformat's MarshalResource, compact or pretty. It
// runs on a clone because jsonformat's marshaller modifies its input.
func referenceMarshal(tb testing.TB, m proto.Message, pretty bool) []byte {
	tb.Helper()
	var mr *jsonformat.Marshaller
	var err error
	if pretty {
		mr, err = jsonformat.NewPrettyMarshaller(fhirversion.R4)
	} else {
		mr, err = jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	}
	if err != nil {
		tb.Fatal(err)
	}
	out, err := mr.MarshalResource(proto.Clone(m))
	if err != nil {
		tb.Fatalf("jsonformat MarshalResource: %v", err)
	}
	return out
}

func TestMarshalMatchesJSONFormat(t *testing.T) {
	files := append(fixtures(t, "../../testdata/madx"), fixtures(t, "../../testdata/invalid")...)
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			res, err := reference(t, readFile(t, p))
			if err != nil {
				t.Skipf("jsonformat rejects the fixture: %v", err)
			}
			for _, pretty := range []bool{false, true} {
				want := referenceMarshal(t, res, pretty)
				marshal := Marshal
				if pretty {
					marshal = MarshalIndent
				}
				got, err := marshal(res)
				if err != nil {
					t.Fatalf("Marshal(pretty=%v): %v", pretty, err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("Marshal(pretty=%v) differs from jsonformat (-jsonformat +ours):\n%s", pretty, diff)
				}
				// Round trip: our output decodes back to the same proto.
				back, err := Unmarshal(got)
				if err != nil {
					t.Fatalf("Unmarshal(Marshal(x)): %v", err)
				}
				if !proto.Equal(back, res) {
					t.Errorf("round trip changed the proto:\n%s", cmp.Diff(res, back, protocmp.Transform()))
				}
			}
		})
	}
}
