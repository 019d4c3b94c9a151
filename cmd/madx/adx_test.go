package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/adx"
	"github.com/madx-project/madx/internal/adxlint"
)

var (
	adxDefs    = filepath.Join("..", "..", "testdata", "adx", "definitions")
	adxExample = filepath.Join("..", "..", "testdata", "adx", "dhis2-adx-example.xml")
)

// strata is every disaggregated value of an ADX message, sorted.
func strata(tb testing.TB, doc []byte) []string {
	tb.Helper()
	m, err := adx.Parse(doc, adx.Limits{})
	if err != nil {
		tb.Fatalf("not ADX: %v\n%s", err, doc)
	}
	var out []string
	for _, g := range m.Groups {
		for _, v := range g.Values {
			if len(v.Disaggs) == 0 {
				continue
			}
			s := g.DataSet + " " + g.OrgUnit + " " + g.Period + " " + v.DataElement
			for _, a := range v.Disaggs {
				s += " " + a.Name + "=" + a.Value
			}
			out = append(out, s+" = "+v.Value)
		}
	}
	slices.Sort(out)
	return out
}

// TestADXOffline: madx adx to-fhir turns the DHIS2 example into a Bundle of
// the MeasureReports the server would store, and from-fhir turns that
// Bundle back into ADX with the same values, valid against the IHE schema,
// with no server.
func TestADXOffline(t *testing.T) {
	ctx, env := context.Background(), func(string) string { return "" }
	dir := t.TempDir()
	bundle := filepath.Join(dir, "reports.json")
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"adx", "to-fhir", "--definitions", adxDefs, "-o", bundle, adxExample}, env, &stdout, &stderr); err != nil {
		t.Fatalf("to-fhir: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type": "collection"`, `"resourceType": "MeasureReport"`, `"measure": "http://example.org/dhis2/Measure/TBHIV-VCCT"`,
		`"reference": "Location/OU-559"`, `"count": 128`, `"start": "2015-06-01"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the Bundle lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), `"versionId"`) || strings.Count(string(b), `"resourceType": "MeasureReport"`) != 1 {
		t.Errorf("want one MeasureReport without the temporary store's meta:\n%s", b)
	}

	stdout.Reset()
	if err := run(ctx, []string{"adx", "from-fhir", "--definitions", adxDefs, bundle}, env, &stdout, &stderr); err != nil {
		t.Fatalf("from-fhir: %v\n%s", err, stderr.String())
	}
	adxlint.Check(t, stdout.Bytes())
	in, _ := os.ReadFile(adxExample)
	if diff := cmp.Diff(strata(t, in), strata(t, stdout.Bytes())); diff != "" {
		t.Errorf("ADX in, FHIR, ADX out: the values differ (-in +out):\n%s", diff)
	}
	// One report alone, not in a Bundle, converts too.
	one := filepath.Join(dir, "one.json")
	start := bytes.Index(b, []byte(`"resource": `)) + len(`"resource": `)
	end := bytes.LastIndex(b, []byte("}\n  ]"))
	if err := os.WriteFile(one, b[start:end], 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := run(ctx, []string{"adx", "from-fhir", "--definitions", adxDefs, one}, env, &stdout, &stderr); err != nil || strings.Count(stdout.String(), "<group ") != 1 {
		t.Fatalf("from-fhir of one report: %v\n%s\n%s", err, stderr.String(), stdout.String())
	}
}

// TestADXOfflineRefusals: the conversions refuse what the server refuses,
// exit non-zero, and say where on stderr.
func TestADXOfflineRefusals(t *testing.T) {
	ctx, env := context.Background(), func(string) string { return "" }
	dir := t.TempDir()
	in, _ := os.ReadFile(adxExample)
	bad := filepath.Join(dir, "bad.xml")
	os.WriteFile(bad, bytes.Replace(in, []byte(`GENDER="MLE"`), []byte(`GENDER="MALE"`), 1), 0o600)
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"adx", "to-fhir", "--definitions", adxDefs, bad}, env, &stdout, &stderr)
	if err == nil || stdout.Len() > 0 {
		t.Fatalf("a bad message converted: %v\n%s", err, stdout.String())
	}
	if want := `/adx/group[1]/dataValue[6]/@GENDER: GENDER is "MALE"; expected a code of`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}

	// A report naming a group its Measure does not have.
	bundle := filepath.Join(dir, "reports.json")
	if err := run(ctx, []string{"adx", "to-fhir", "--definitions", adxDefs, "-o", bundle, adxExample}, env, &stdout, &stderr); err != nil {
		t.Fatalf("to-fhir: %v\n%s", err, stderr.String())
	}
	b, _ := os.ReadFile(bundle)
	badBundle := filepath.Join(dir, "bad.json")
	os.WriteFile(badBundle, bytes.Replace(b, []byte(`"code": "VCCT_1"`), []byte(`"code": "NO_SUCH"`), 1), 0o600)
	stdout.Reset()
	stderr.Reset()
	err = run(ctx, []string{"adx", "from-fhir", "--definitions", adxDefs, badBundle}, env, &stdout, &stderr)
	if err == nil || stdout.Len() > 0 {
		t.Fatalf("an invalid report converted: %v\n%s", err, stdout.String())
	}
	for _, want := range []string{"bad.json#Bundle.entry[0]: MeasureReport.group[1].code", "NO_SUCH"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	for _, args := range [][]string{{"adx"}, {"adx", "to-fhir", adxExample}, {"adx", "from-fhir", "--definitions", adxDefs}} {
		if err := run(ctx, args, env, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
