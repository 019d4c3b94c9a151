package fhirjson

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// bundleOf wraps resources in a collection Bundle.
func bundleOf(bundleType string, resources ...string) []byte {
	entries := make([]string, len(resources))
	for i, r := range resources {
		entries[i] = `{"fullUrl":"urn:uuid:0000000` + string(rune('0'+i)) + `","resource":` + r + `}`
	}
	return []byte(`{"resourceType":"Bundle","type":"` + bundleType + `","entry":[` + strings.Join(entries, ",") + `]}`)
}

func TestUnmarshalBundleKeepsErrorsPerEntry(t *testing.T) {
	bad := strings.Replace(baseReport, `"status":"complete"`, `"status":"finished"`, 1)
	data := bundleOf("collection", baseReport, bad, baseReport)
	for _, workers := range []int{1, 2} {
		b, entryErrs, err := Decoder{Workers: workers}.UnmarshalBundle(data)
		if err != nil {
			t.Fatalf("workers=%d: UnmarshalBundle: %v", workers, err)
		}
		if len(entryErrs) != 3 || entryErrs[0] != nil || entryErrs[2] != nil || entryErrs[1] == nil {
			t.Fatalf("workers=%d: entryErrs = %v, want an error for entry 1 only", workers, entryErrs)
		}
		if want := (wantIssue{"code-invalid", "Bundle.entry[1].resource.status"}); !hasIssue(issuesOf(t, entryErrs[1]), want) {
			t.Errorf("workers=%d: entry 1 issues lack %+v:\n%s", workers, want, dumpIssues(issuesOf(t, entryErrs[1])))
		}
		if b.Entry[1].Resource != nil || b.Entry[0].Resource == nil || b.Entry[2].Resource == nil {
			t.Errorf("workers=%d: want entry 1's resource cleared and the others kept", workers)
		}
	}
}

func TestUnmarshalBundleRejectsOutsideEntries(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want wantIssue
	}{
		{"bad bundle type", bundleOf("heap", baseReport), wantIssue{"code-invalid", "Bundle.type"}},
		{"not a bundle", []byte(baseReport), wantIssue{"invalid", ""}},
		{"invalid JSON", bundleOf("collection", baseReport)[:40], wantIssue{"structure", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, err := Decoder{}.UnmarshalBundle(tc.data)
			if err == nil || b != nil {
				t.Fatalf("UnmarshalBundle = %v, %v; want nil and an error", b, err)
			}
			if issues := issuesOf(t, err); !hasIssue(issues, tc.want) {
				t.Errorf("issues lack %+v:\n%s", tc.want, dumpIssues(issues))
			}
		})
	}
}

func TestParallelDecodeMatchesSequential(t *testing.T) {
	bad := strings.Replace(baseReport, `"count":1`, `"count":1.5`, 1)
	tests := []struct {
		name string
		data []byte
	}{
		{"collection fixture", readFile(t, "../../testdata/madx/reports/Bundle-hiv-monthly-collection.json")},
		{"transaction fixture", readFile(t, "../../testdata/madx/Bundle-definitions-transaction.json")},
		{"entry errors", bundleOf("collection", bad, baseReport, bad)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, seqErr := Decoder{Workers: 1}.Unmarshal(tc.data)
			par, parErr := Decoder{Workers: 2}.Unmarshal(tc.data)
			if !proto.Equal(seq, par) {
				t.Errorf("protos differ (-sequential +parallel):\n%s", cmp.Diff(seq, par, protocmp.Transform()))
			}
			if (seqErr == nil) != (parErr == nil) {
				t.Fatalf("errors differ: sequential %v, parallel %v", seqErr, parErr)
			}
			if seqErr != nil {
				if diff := cmp.Diff(issuesOf(t, seqErr), issuesOf(t, parErr)); diff != "" {
					t.Errorf("issues differ (-sequential +parallel):\n%s", diff)
				}
			}
		})
	}
}
