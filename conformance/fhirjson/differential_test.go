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
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Unmarshal differs from jsonformat (-jsonformat +ours):\n%s", diff)
			}
		})
	}
}
