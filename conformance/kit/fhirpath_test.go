package kit

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fhirpathDocs are the resources the evaluator tests run on; the
// differential test against fhirpath.js uses the same ones.
var fhirpathDocs = map[string]string{
	"report": `{"resourceType":"MeasureReport","id":"r","status":"complete",
	  "subject":{"reference":"Location/HP1"},
	  "group":[
	    {"code":{"coding":[{"system":"s","code":"G1"}]},
	     "population":[{"code":{"coding":[{"code":"initial-population"}]},"count":3},{"count":4}],
	     "stratifier":[{"stratum":[{"component":[{"code":{"text":"age"},"value":{"coding":[{"code":"P0Y--P1Y"}]}}],"measureScore":{"value":1.50}}]}]},
	    {"population":[{"count":5}]}]}`,
	"observation": `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"c"},
	  "valueQuantity":{"value":2.5,"unit":"mg"},
	  "extension":[{"url":"u","valueString":"x"},{"url":"v","valueBoolean":true}]}`,
	"bundle": `{"resourceType":"Bundle","type":"collection","entry":[
	  {"resource":{"resourceType":"MeasureReport","status":"pending","group":[{"population":[{"count":1}]}]}},
	  {"resource":{"resourceType":"MeasureReport","status":"complete","group":[{"population":[{"count":2}]}]}}]}`,
}

// fhirpathCases: expression on a doc -> canonical paths selected.
var fhirpathCases = []struct {
	name, doc, expr string
	want            []string
}{
	{"resource root", "report", "MeasureReport", []string{"MeasureReport"}},
	{"singleton member", "report", "MeasureReport.subject", []string{"MeasureReport.subject"}},
	{"primitive", "report", "MeasureReport.status", []string{"MeasureReport.status"}},
	{"indexed path", "report", "MeasureReport.group[0].population[1].count", []string{"MeasureReport.group[0].population[1].count"}},
	{"flattening", "report", "MeasureReport.group.population.count",
		[]string{"MeasureReport.group[0].population[0].count", "MeasureReport.group[0].population[1].count", "MeasureReport.group[1].population[0].count"}},
	// FHIRPath indexes the whole collection so far, not each parent's list.
	{"indexer on a flattened collection", "report", "MeasureReport.group.population[2]", []string{"MeasureReport.group[1].population[0]"}},
	{"index past the end", "report", "MeasureReport.group[2]", nil},
	{"index on a singleton", "report", "MeasureReport.subject[0].reference", []string{"MeasureReport.subject.reference"}},
	{"absent member", "report", "MeasureReport.group[1].code", nil},
	{"deep stratum", "report", "MeasureReport.group[0].stratifier[0].stratum[0].component[0].value.coding[0].code",
		[]string{"MeasureReport.group[0].stratifier[0].stratum[0].component[0].value.coding[0].code"}},
	{"decimal", "report", "MeasureReport.group[0].stratifier[0].stratum[0].measureScore.value",
		[]string{"MeasureReport.group[0].stratifier[0].stratum[0].measureScore.value"}},
	{"other resource type selects nothing", "report", "Measure.group", nil},
	{"relative path", "report", "group[1].population.count", []string{"MeasureReport.group[1].population[0].count"}},
	{"choice type", "observation", "Observation.value", []string{"Observation.value"}},
	{"choice type member", "observation", "Observation.value.unit", []string{"Observation.value.unit"}},
	{"choice in a list", "observation", "Observation.extension.value", []string{"Observation.extension[0].value", "Observation.extension[1].value"}},
	{"bundle entry resource", "bundle", "Bundle.entry[1].resource.group[0].population[0].count",
		[]string{"Bundle.entry[1].resource.group[0].population[0].count"}},
	{"backticks", "report", "MeasureReport.`group`[0].code", []string{"MeasureReport.group[0].code"}},
}

func TestEvaluate(t *testing.T) {
	for _, tc := range fhirpathCases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := decodeJSON([]byte(fhirpathDocs[tc.doc]))
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePath(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range p.Evaluate(doc) {
				got = append(got, n.Path)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.expr, diff)
			}
		})
	}
}

func TestParsePathRejectsOutsideTheSubset(t *testing.T) {
	for _, expr := range []string{"", "MeasureReport.group.where(code = 'x')", "MeasureReport.group[-1]", "MeasureReport.group[a]",
		"MeasureReport.group[0", "MeasureReport..group", "MeasureReport.group.first()", "MeasureReport.group | MeasureReport.subject", "1 + 1", "%resource.id"} {
		if _, err := ParsePath(expr); !errors.Is(err, ErrUnsupportedPath) {
			t.Errorf("ParsePath(%q) = %v, want ErrUnsupportedPath", expr, err)
		}
	}
}

func TestSelects(t *testing.T) {
	doc, _ := decodeJSON([]byte(fhirpathDocs["report"]))
	for _, tc := range []struct {
		expr, target string
		want         bool
	}{
		{"MeasureReport.subject", "MeasureReport.subject", true},
		{"MeasureReport.subject.reference", "MeasureReport.subject", true},
		{"MeasureReport", "MeasureReport.subject", false},
		{"MeasureReport.group[0].population[1]", "MeasureReport.group[0].population[1]", true},
		{"MeasureReport.group[0].population[10]", "MeasureReport.group[0].population[1]", false},
		{"MeasureReport.group[0].population[1].count", "MeasureReport.group[0].population[1]", true},
		{"MeasureReport.group[0].population[0].count", "MeasureReport.group[0].population[1]", false},
	} {
		got, err := Selects(doc, tc.expr, tc.target)
		if err != nil || got != tc.want {
			t.Errorf("Selects(%q, %q) = %v, %v; want %v", tc.expr, tc.target, got, err, tc.want)
		}
	}
}
