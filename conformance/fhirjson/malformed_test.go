package fhirjson

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/madx-project/madx/operationoutcome"
)

// baseReport is a minimal MeasureReport that both decoders accept; cases
// below break it in one place each.
const baseReport = `{"resourceType":"MeasureReport","id":"r1","status":"complete","type":"summary",` +
	`"measure":"http://example.org/Measure/m","date":"2025-02-05",` +
	`"reporter":{"reference":"Location/HealthPost1"},` +
	`"period":{"start":"2025-01-01","end":"2025-01-31"},` +
	`"group":[{"population":[{"count":1}],"measureScore":{"value":1.50}}]}`

// edit returns baseReport with old replaced by new (once; old must occur).
func edit(tb testing.TB, old, new string) string {
	tb.Helper()
	if !strings.Contains(baseReport, old) {
		tb.Fatalf("baseReport has no %q", old)
	}
	return strings.Replace(baseReport, old, new, 1)
}

// nested returns a report whose first extension nests n levels deep.
func nested(n int) string {
	ext := `{"url":"http://e"}`
	for range n {
		ext = `{"url":"http://e","extension":[` + ext + `]}`
	}
	return strings.Replace(baseReport, `"id":"r1",`, `"id":"r1","extension":[`+ext+`],`, 1)
}

// wantIssue is one issue a case must raise (among others).
type wantIssue struct {
	code operationoutcome.IssueType
	expr string // "" for an issue without expression
}

// issuesOf asserts err is a 400 *operationoutcome.Error and returns it.
func issuesOf(tb testing.TB, err error) []operationoutcome.Issue {
	tb.Helper()
	var oe *operationoutcome.Error
	if !errors.As(err, &oe) {
		tb.Fatalf("error %v (%T) is not an *operationoutcome.Error", err, err)
	}
	if oe.Status != http.StatusBadRequest {
		tb.Errorf("status = %d, want 400", oe.Status)
	}
	for _, is := range oe.Issues {
		if is.Severity != operationoutcome.SeverityFatal || is.Diagnostics == "" {
			tb.Errorf("issue %+v: want severity fatal and diagnostics", is)
		}
	}
	return oe.Issues
}

func hasIssue(issues []operationoutcome.Issue, w wantIssue) bool {
	for _, is := range issues {
		expr := ""
		if len(is.Expression) > 0 {
			expr = is.Expression[0]
		}
		if is.Code == w.code && expr == w.expr {
			return true
		}
	}
	return false
}

func TestUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []wantIssue
		// strict marks inputs jsonformat accepts: FHIR JSON forbids them,
		// jsonformat is lenient.
		strict bool
	}{
		{name: "malformed fixture", input: string(readFile(t, "../../testdata/invalid/malformed-json.json")),
			want: []wantIssue{{operationoutcome.Structure, ""}}},
		{name: "non-integer count fixture", input: string(readFile(t, "../../testdata/invalid/non-integer-count.json")),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].population[0].count"}}},
		{name: "empty input", input: "", want: []wantIssue{{operationoutcome.Structure, ""}}},
		{name: "array at top", input: "[" + baseReport + "]", want: []wantIssue{{operationoutcome.Structure, ""}}},
		{name: "truncated", input: baseReport[:len(baseReport)-7], want: []wantIssue{{operationoutcome.Structure, ""}}},
		{name: "trailing data", input: baseReport + ` {}`, want: []wantIssue{{operationoutcome.Structure, ""}}},
		{name: "trailing comma", input: edit(t, `"type":"summary",`, `"type":"summary",,`), want: []wantIssue{{operationoutcome.Structure, ""}}},
		{name: "missing resourceType", input: edit(t, `"resourceType":"MeasureReport",`, ``), want: []wantIssue{{operationoutcome.Invalid, ""}}},
		{name: "unknown resourceType", input: edit(t, `"resourceType":"MeasureReport"`, `"resourceType":"MeasureRapport"`), want: []wantIssue{{operationoutcome.Invalid, ""}}},
		{name: "resourceType not a string", input: edit(t, `"resourceType":"MeasureReport"`, `"resourceType":7`), want: []wantIssue{{operationoutcome.Invalid, ""}}},
		{name: "unknown element", input: edit(t, `"id":"r1",`, `"id":"r1","colour":"blue",`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport"}}},
		{name: "unknown nested element", input: edit(t, `{"count":1}`, `{"count":1,"cnt":2}`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].population[0]"}}},
		{name: "string for a code", input: edit(t, `"status":"complete"`, `"status":1`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.status"}}},
		{name: "code outside its value set", input: edit(t, `"status":"complete"`, `"status":"finished"`), want: []wantIssue{{operationoutcome.CodeInvalid, "MeasureReport.status"}}},
		{name: "string for an integer", input: edit(t, `"count":1`, `"count":"1"`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].population[0].count"}}},
		{name: "integer out of range", input: edit(t, `"count":1`, `"count":2147483648`), want: []wantIssue{{operationoutcome.Value, "MeasureReport.group[0].population[0].count"}}},
		{name: "exponent integer", input: edit(t, `"count":1`, `"count":1e3`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].population[0].count"}}},
		{name: "string for a decimal", input: edit(t, `"value":1.50`, `"value":"1.50"`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].measureScore.value"}}},
		{name: "object for an array", input: edit(t, `"population":[{"count":1}]`, `"population":{"count":1}`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].population"}}},
		{name: "array for an object", input: edit(t, `"period":{"start":"2025-01-01","end":"2025-01-31"}`, `"period":[{"start":"2025-01-01"}]`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.period"}}},
		{name: "day that does not exist", input: edit(t, `"start":"2025-01-01"`, `"start":"2025-02-30"`), want: []wantIssue{{operationoutcome.Value, "MeasureReport.period.start"}}},
		{name: "dateTime without seconds", input: edit(t, `"date":"2025-02-05"`, `"date":"2025-02-05T10:00Z"`), want: []wantIssue{{operationoutcome.Value, "MeasureReport.date"}}},
		{name: "dateTime without zone", input: edit(t, `"date":"2025-02-05"`, `"date":"2025-02-05T10:00:00"`), want: []wantIssue{{operationoutcome.Value, "MeasureReport.date"}}},
		{name: "bad id", input: edit(t, `"id":"r1"`, `"id":"r 1"`), want: []wantIssue{{operationoutcome.Value, "MeasureReport.id"}}},
		{name: "bad uri", input: edit(t, `"measure":"http://example.org/Measure/m"`, `"measure":"http://exa mple.org:x/"`), want: []wantIssue{{operationoutcome.Value, "MeasureReport.measure"}}},
		{name: "reference to a wrong type", input: edit(t, `"reference":"Location/HealthPost1"`, `"reference":"Patient/p1"`), want: []wantIssue{{operationoutcome.Invalid, "MeasureReport.reporter"}}},
		{name: "missing required element", input: edit(t, `"status":"complete",`, ``), want: []wantIssue{{operationoutcome.Required, "MeasureReport"}}},
		{name: "missing required nested element", input: edit(t, `"reporter":{"reference":"Location/HealthPost1"},`, `"extension":[{"valueString":"x"}],"reporter":{"reference":"Location/HealthPost1"},`),
			want: []wantIssue{{operationoutcome.Required, "MeasureReport.extension[0]"}}},
		{name: "two values for a choice", input: edit(t, `"id":"r1",`, `"id":"r1","extension":[{"url":"http://e","valueString":"x","valueInteger":1}],`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.extension[0].value.ofType(integer)"}}},
		{name: "unknown choice type", input: edit(t, `"id":"r1",`, `"id":"r1","extension":[{"url":"http://e","valueStrung":"x"}],`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.extension[0]"}}},
		{name: "bad contained resource", input: edit(t, `"id":"r1",`, `"id":"r1","contained":[{"resourceType":"Nope"}],`),
			want: []wantIssue{{operationoutcome.Invalid, "MeasureReport.contained[0]"}}},
		{name: "bad element in contained resource", input: edit(t, `"id":"r1",`, `"id":"r1","contained":[{"resourceType":"Location","status":"open"}],`),
			want: []wantIssue{{operationoutcome.CodeInvalid, "MeasureReport.contained[0].status"}}},
		{name: "primitive extension array length", input: edit(t, `"id":"r1",`, `"id":"r1","meta":{"profile":["http://p"],"_profile":[{"id":"a"},{"id":"b"}]},`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.meta.profile"}}},
		{name: "extension-only code", input: edit(t, `"id":"r1",`, `"id":"r1","language":"en","meta":{"tag":[{"_code":{"id":"x"}}]},`),
			want: []wantIssue{{operationoutcome.Value, "MeasureReport.meta.tag[0].code"}}},
		{name: "every problem at once", input: edit(t, `"status":"complete","type":"summary"`, `"status":"finished","type":"sum"`),
			want: []wantIssue{{operationoutcome.CodeInvalid, "MeasureReport.status"}, {operationoutcome.CodeInvalid, "MeasureReport.type"}}},

		// FHIR JSON forbids these; jsonformat accepts them.
		{name: "duplicate member", input: edit(t, `"status":"complete"`, `"status":"complete","status":"complete"`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.status"}}, strict: true},
		{name: "duplicate member by case", input: edit(t, `"status":"complete"`, `"status":"complete","Status":"complete"`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.status"}}, strict: true},
		{name: "duplicate nested member", input: edit(t, `"count":1`, `"count":1,"count":2`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].population[0].count"}}, strict: true},
		{name: "duplicate member of a complex type", input: edit(t, `"value":1.50`, `"value":1.50,"value":2`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.group[0].measureScore.value"}}, strict: true},
		{name: "duplicate choice member", input: edit(t, `"id":"r1",`, `"id":"r1","extension":[{"url":"http://e","valueString":"x","valueString":"y"}],`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.extension[0].value.ofType(string)"}}, strict: true},
		{name: "null element", input: edit(t, `"date":"2025-02-05"`, `"date":null`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.date"}}},
		{name: "null array element", input: edit(t, `"id":"r1",`, `"id":"r1","meta":{"profile":["http://p",null]},`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.meta.profile[1]"}}},
		{name: "value under _name", input: edit(t, `"status":"complete"`, `"_status":"complete"`), want: []wantIssue{{operationoutcome.Structure, "MeasureReport.status"}}, strict: true},
		{name: "empty code", input: edit(t, `"status":"complete"`, `"status":""`), want: []wantIssue{{operationoutcome.CodeInvalid, "MeasureReport.status"}}, strict: true},
		{name: "google/fhir internal reference member", input: edit(t, `"reference":"Location/HealthPost1"`, `"fragment":"x"`),
			want: []wantIssue{{operationoutcome.Structure, "MeasureReport.reporter"}}, strict: true},
		{name: "invalid UTF-8", input: edit(t, `"id":"r1",`, "\"id\":\"r1\",\"language\":\"e\xffn\","), want: []wantIssue{{operationoutcome.Structure, ""}}, strict: true},
		{name: "raw control character", input: edit(t, `"id":"r1",`, "\"id\":\"r1\",\"language\":\"e\x01n\","), want: []wantIssue{{operationoutcome.Structure, ""}}, strict: true},
		{name: "nesting deeper than 100", input: nested(60), want: []wantIssue{{operationoutcome.TooLong, ""}}, strict: true},
		{name: "deep array bomb", input: strings.Repeat("[", 100000), want: []wantIssue{{operationoutcome.Structure, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.input)
			res, err := Unmarshal(data)
			if err == nil {
				t.Fatalf("Unmarshal accepted the input: %v", res)
			}
			issues := issuesOf(t, err)
			for _, w := range tc.want {
				if !hasIssue(issues, w) {
					t.Errorf("no issue with code %q and expression %q in:\n%s", w.code, w.expr, dumpIssues(issues))
				}
			}
			// Differential property: what jsonformat rejects we reject,
			// and we only reject more where FHIR JSON forbids the input.
			if _, refErr := reference(t, data); refErr == nil && !tc.strict {
				t.Errorf("jsonformat accepts this input; mark the case strict if that is deliberate")
			}
		})
	}
}

func dumpIssues(issues []operationoutcome.Issue) string {
	var b strings.Builder
	for _, is := range issues {
		b.WriteString("  " + string(is.Code) + " " + strings.Join(is.Expression, ",") + ": " + is.Diagnostics + "\n")
	}
	return b.String()
}
