package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadSiteMapCSV: a jurisdiction's CSV of a sender's facility codes
// becomes one ConceptMap through madx load (idempotent on reload), and the
// reports that name those codes then resolve to its Locations.
func TestLoadSiteMapCSV(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	defs := filepath.Join("..", "..", "testdata", "madx", "definitions")
	csvFile := filepath.Join(tmp, "emr-sites.csv")
	os.WriteFile(csvFile, []byte("# the EMR's facility codes\nsystem,code,location,target_system,target_code\n"+
		"http://emr.example.org/fhir/sid/facility,EMR-HP1,HealthPost1,,\n"+
		"http://emr.example.org/fhir/sid/facility,EMR-HP3,,http://example.org/fhir/sid/facility-code,HP-003\n"), 0o600)
	env := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"load", "--data-dir", dir, defs, csvFile}, env, &out, io.Discard); err != nil {
		t.Fatalf("load: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `ConceptMap/emr-sites created (W/"1")`) {
		t.Fatalf("load output:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"load", "--data-dir", dir, csvFile}, env, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), `ConceptMap/emr-sites unchanged (W/"1")`) {
		t.Fatalf("reload: %v\n%s", err, out.String())
	}

	base, err := os.ReadFile(filepath.Join("..", "..", "testdata", "madx", "reports", "MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		code string
		ok   bool
	}{{"EMR-HP1", true}, {"EMR-HP3", true}, {"EMR-NOPE", false}} {
		rep := filepath.Join(tmp, tc.code+".json")
		os.WriteFile(rep, []byte(strings.Replace(string(base), `"subject": {"reference":"Location/HealthPost1"}`,
			`"subject": {"identifier":{"system":"http://emr.example.org/fhir/sid/facility","value":"`+tc.code+`"}}`, 1)), 0o600)
		out.Reset()
		err := run(context.Background(), []string{"validate", "--data-dir", dir, rep}, env, &out, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("validate %s: %v\n%s", tc.code, err, out.String())
		}
		if !tc.ok && (!strings.Contains(out.String(), "EMR-NOPE") || !strings.Contains(out.String(), "ConceptMap/emr-sites")) {
			t.Errorf("the refusal of an unmapped code names neither the code nor the map:\n%s", out.String())
		}
	}
}

// TestSiteMapCSVProblems: every problem of a site map CSV at once, with its
// line.
func TestSiteMapCSVProblems(t *testing.T) {
	for _, tc := range []struct {
		name, file, body string
		want             []string
	}{
		{"no usable header", "m.csv", "code,target\nA,B\n", []string{"expected the columns system, code, and location"}},
		{"bad rows", "m.csv", "system,code,location\ns,A,L1\ns,A,L2\ns,,L3\ns,B,\n",
			[]string{"line 3: s|A is mapped on line 2", "line 4: system and code are required", "line 5: s|B maps to nothing"}},
		{"no rows", "m.csv", "system,code,location\n", []string{"no rows"}},
		{"file name not an id", "my map.csv", "system,code,location\ns,A,L\n", []string{"is not a FHIR id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), tc.file)
			os.WriteFile(f, []byte(tc.body), 0o600)
			_, err := siteMapItems(f)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}
