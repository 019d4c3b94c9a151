package kit

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// fixtureFS copies the embedded fixtures, with edits applied to named files
// (a nil body removes the file).
func fixtureFS(t *testing.T, edits map[string][]byte) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(embeddedFixtures(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embeddedFixtures(), p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range edits {
		if b == nil {
			delete(out, p)
			continue
		}
		out[p] = &fstest.MapFile{Data: b}
	}
	return out
}

const reportFile = "reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"

func TestLoadFixtures(t *testing.T) {
	fx, err := loadFixtures(embeddedFixtures())
	if err != nil {
		t.Fatal(err)
	}
	if fx.measure.id != "madx-hiv-indicator-example" || len(fx.defs) != 13 || fx.defs[0].typ != "CodeSystem" || fx.defs[len(fx.defs)-1].typ != "Measure" {
		t.Errorf("embedded fixtures: measure %q, %d definitions, first %s, last %s", fx.measure.id, len(fx.defs), fx.defs[0].typ, fx.defs[len(fx.defs)-1].typ)
	}
	// ISO8601DerivedPeriods is a fragment: the terminology case must use
	// the gender component, coded in a complete CodeSystem.
	if got, err := fx.invalidCodeTarget(); err != nil || got != "MeasureReport.group[0].stratifier[0].stratum[0].component[1].value" {
		t.Errorf("invalidCodeTarget = %q, %v", got, err)
	}
}

func TestLoadFixturesRejectsUnusableSets(t *testing.T) {
	report := func(from, to string) []byte {
		b, _ := fs.ReadFile(embeddedFixtures(), reportFile)
		return []byte(strings.Replace(string(b), from, to, 1))
	}
	for name, edits := range map[string]map[string][]byte{
		"no Measure for the report": {"definitions/Measure-madx-hiv-indicator-example.json": nil},
		"no report":                 {reportFile: nil},
		"contained subject":         {reportFile: report(`"subject": {"reference":"Location/HealthPost1"}`, `"subject": {"reference":"#HealthPost1"}`)},
		"measure url unknown":       {reportFile: report(`"measure": "http://ohie.org/Measure/madx-hiv-indicator-example"`, `"measure": "http://example.org/Measure/other"`)},
		"definition without id":     {"definitions/Location-HealthPost2.json": []byte(`{"resourceType":"Location"}`)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := loadFixtures(fixtureFS(t, edits)); !errors.Is(err, ErrOptions) {
				t.Errorf("loadFixtures = %v, want ErrOptions", err)
			}
		})
	}
}

func TestReportVariantMutations(t *testing.T) {
	fx, err := loadFixtures(embeddedFixtures())
	if err != nil {
		t.Fatal(err)
	}
	_, doc, err := fx.reportVariant("v", 2, func(doc map[string]any) error { return removeAt(doc, pPop+".count") })
	if err != nil {
		t.Fatal(err)
	}
	if doc["id"] != "v" || doc["period"].(map[string]any)["end"] != "1999-02-28" || len(mustPath(pPop+".count").Evaluate(doc)) != 0 || doc["meta"] != nil {
		t.Errorf("variant: id %v, period %v, meta %v, count still there: %v", doc["id"], doc["period"], doc["meta"], mustPath(pPop+".count").Evaluate(doc))
	}
	var sk skipError
	if _, _, err := fx.reportVariant("v", 2, func(doc map[string]any) error { return removeAt(doc, "MeasureReport.group[5].code") }); !errors.As(err, &sk) {
		t.Errorf("removing an element the fixture lacks: %v, want a skip", err)
	}
}
