package fhirxml

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/google/go-cmp/cmp"

	oo "github.com/madx-project/madx/operationoutcome"
)

var update = flag.Bool("update", false, "rewrite the golden OperationOutcomes in testdata/outcomes")

// minimalReport is a valid MeasureReport; cases edit it with strings.Replace.
const minimalReport = `<?xml version="1.0" encoding="UTF-8"?>
<MeasureReport xmlns="http://hl7.org/fhir">
  <id value="mr1"/>
  <status value="complete"/>
  <type value="summary"/>
  <measure value="http://ohie.org/Measure/madx-hiv-indicator-example"/>
  <subject>
    <reference value="Location/HealthPost1"/>
  </subject>
  <period>
    <start value="2025-01-01"/>
    <end value="2025-01-31"/>
  </period>
  <group>
    <population>
      <count value="426"/>
    </population>
  </group>
</MeasureReport>
`

// edit returns minimalReport with old replaced by new, failing when old is
// not there (a case that edits nothing would test nothing).
func edit(tb testing.TB, old, new string) string {
	tb.Helper()
	if !strings.Contains(minimalReport, old) {
		tb.Fatalf("minimalReport has no %q", old)
	}
	return strings.Replace(minimalReport, old, new, 1)
}

// wantIssue is the part of an issue a case pins down; diagnostics are
// checked in the golden file.
type wantIssue struct {
	Code       oo.IssueType
	Expression string
}

// errorCase is a body Unmarshal must refuse.
type errorCase struct {
	name   string
	body   string
	status int
	issues []wantIssue
}

func TestUnmarshalMalformed(t *testing.T) {
	cases := []errorCase{
		{name: "empty-body", body: "", status: 400, issues: []wantIssue{{oo.Structure, ""}}},
		{name: "unclosed-tag", body: strings.TrimSuffix(minimalReport, "</MeasureReport>\n"), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport"}}},
		{name: "mismatched-end-tag", body: edit(t, "</period>", "</perio>"), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.period"}}},
		{name: "wrong-root", body: `<Patients xmlns="http://hl7.org/fhir"><id value="x"/></Patients>`, status: 400,
			issues: []wantIssue{{oo.Structure, "Patients"}}},
		{name: "root-without-namespace", body: edit(t, `<MeasureReport xmlns="http://hl7.org/fhir">`, `<MeasureReport>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport"}}},
		{name: "root-in-wrong-namespace", body: edit(t, `xmlns="http://hl7.org/fhir"`, `xmlns="http://hl7.org/fhir/R4"`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport"}}},
		{name: "element-without-namespace", body: edit(t, `<type value="summary"/>`, `<type xmlns="" value="summary"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.type"}}},
		{name: "unknown-element", body: edit(t, `<type value="summary"/>`, `<type value="summary"/><kind value="x"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.kind"}}},
		{name: "unknown-attribute", body: edit(t, `<status value="complete"/>`, `<status value="complete" lang="en"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.status"}}},
		{name: "bad-integer", body: edit(t, `<count value="426"/>`, `<count value="4.26"/>`), status: 400,
			issues: []wantIssue{{oo.Value, "MeasureReport.group[0].population[0].count"}}},
		{name: "bad-date", body: edit(t, `<start value="2025-01-01"/>`, `<start value="2025-13-01"/>`), status: 400,
			issues: []wantIssue{{oo.Value, "MeasureReport.period.start"}}},
		{name: "bad-id", body: edit(t, `<id value="mr1"/>`, `<id value="mr 1"/>`), status: 400,
			issues: []wantIssue{{oo.Value, "MeasureReport.id"}}},
		{name: "code-outside-value-set", body: edit(t, `<status value="complete"/>`, `<status value="finished"/>`), status: 400,
			issues: []wantIssue{{oo.CodeInvalid, "MeasureReport.status"}}},
		{name: "text-instead-of-value-attribute", body: edit(t, `<status value="complete"/>`, `<status>complete</status>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.status"}, {oo.Required, "MeasureReport.status"}}},
		{name: "text-in-complex-element", body: edit(t, `<period>`, `<period>January`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.period"}}},
		{name: "cdata-instead-of-value-attribute", body: edit(t, `<type value="summary"/>`, `<type value="summary"><![CDATA[summary]]></type>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.type"}}},
		{name: "duplicate-singleton", body: edit(t, `<status value="complete"/>`, `<status value="complete"/><status value="pending"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.status"}}},
		{name: "out-of-order", body: edit(t, "<status value=\"complete\"/>\n  <type value=\"summary\"/>", "<type value=\"summary\"/>\n  <status value=\"complete\"/>"), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.status"}}},
		{name: "two-choice-values", body: edit(t, `<id value="mr1"/>`, `<id value="mr1"/><extension url="http://example.org/x"><valueString value="a"/><valueCode value="b"/></extension>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.extension[0].value"}}},
		{name: "primitive-without-value", body: edit(t, `</subject>`, `</subject><date/>`), status: 400,
			issues: []wantIssue{{oo.Required, "MeasureReport.date"}}},
		{name: "missing-required-element", body: edit(t, `<status value="complete"/>`, ``), status: 400,
			issues: []wantIssue{{oo.Required, "MeasureReport.status"}}},
		{name: "reference-to-wrong-type", body: edit(t, `<reference value="Location/HealthPost1"/>`, `<reference value="Measure/m1"/>`), status: 400,
			issues: []wantIssue{{oo.Invalid, "MeasureReport.subject"}}},
		{name: "contained-empty", body: edit(t, `<status value="complete"/>`, `<contained/><status value="complete"/>`), status: 400,
			issues: []wantIssue{{oo.Required, "MeasureReport.contained[0]"}}},
		{name: "contained-two-resources", body: edit(t, `<status value="complete"/>`, `<contained><Location><id value="a"/></Location><Location><id value="b"/></Location></contained><status value="complete"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.contained[0]"}}},
		{name: "contained-unknown-element", body: edit(t, `<status value="complete"/>`, `<contained><Location><id value="a"/><nom value="b"/></Location></contained><status value="complete"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.contained[0].nom"}}},
		{name: "narrative-without-xhtml-namespace", body: edit(t, `<status value="complete"/>`, `<text><status value="generated"/><div><p>x</p></div></text><status value="complete"/>`), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.text.div"}}},
		{name: "text-before-root", body: "hello" + minimalReport[strings.Index(minimalReport, "<MeasureReport"):], status: 400,
			issues: []wantIssue{{oo.Structure, ""}}},
		{name: "second-root", body: minimalReport + `<MeasureReport xmlns="http://hl7.org/fhir"/>`, status: 400,
			issues: []wantIssue{{oo.Structure, ""}}},
		{name: "several-problems-at-once", body: edit(t, "<count value=\"426\"/>", "<count value=\"many\"/><score value=\"1\"/>"), status: 400,
			issues: []wantIssue{{oo.Value, "MeasureReport.group[0].population[0].count"}, {oo.Structure, "MeasureReport.group[0].population[0].score"}}},
		{name: "bundle-entry-bad-value", body: inBundle(t, edit(t, `<count value="426"/>`, `<count value="-"/>`)), status: 400,
			issues: []wantIssue{{oo.Value, "Bundle.entry[0].resource.group[0].population[0].count"}}},
		{name: "bundle-entry-missing-required", body: inBundle(t, edit(t, `<status value="complete"/>`, ``)), status: 400,
			issues: []wantIssue{{oo.Required, "Bundle.entry[0].resource.status"}}},
		{name: "bundle-entry-reference-to-wrong-type", body: inBundle(t, edit(t, `<reference value="Location/HealthPost1"/>`, `<reference value="Measure/m1"/>`)), status: 400,
			issues: []wantIssue{{oo.Invalid, "Bundle.entry[0].resource.subject"}}},
	}
	runErrorCases(t, cases)
}

// inBundle wraps a MeasureReport document in a collection Bundle.
func inBundle(tb testing.TB, report string) string {
	tb.Helper()
	report = report[strings.Index(report, "<MeasureReport"):]
	report = strings.Replace(report, ` xmlns="http://hl7.org/fhir"`, "", 1)
	return `<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/><entry><fullUrl value="urn:uuid:c757873d-ec9a-4326-a141-556f43239520"/><resource>` +
		report + `</resource></entry></Bundle>`
}

// runErrorCases checks each case's status and issues, and its whole
// OperationOutcome against testdata/outcomes/<name>.json.
func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := Unmarshal([]byte(tc.body))
			if err == nil {
				t.Fatalf("Unmarshal accepted the body, decoding %v", msg)
			}
			var oe *oo.Error
			if !errors.As(err, &oe) {
				t.Fatalf("Unmarshal error is %T (%v), want *operationoutcome.Error", err, err)
			}
			if oe.Status != tc.status {
				t.Errorf("status = %d, want %d (%v)", oe.Status, tc.status, err)
			}
			var got []wantIssue
			for _, is := range oe.Issues {
				if is.Severity != oo.SeverityFatal || is.Diagnostics == "" {
					t.Errorf("issue %+v: want severity fatal and diagnostics", is)
				}
				got = append(got, wantIssue{is.Code, strings.Join(is.Expression, ",")})
			}
			if diff := cmp.Diff(tc.issues, got); diff != "" {
				t.Errorf("issues (-want +got):\n%s\nerror: %v", diff, err)
			}
			checkGoldenOutcome(t, tc.name, oe)
		})
	}
}

// checkGoldenOutcome compares the OperationOutcome a client would receive
// with testdata/outcomes/<name>.json; -update rewrites it.
func checkGoldenOutcome(tb testing.TB, name string, oe *oo.Error) {
	tb.Helper()
	m, err := jsonformat.NewPrettyMarshaller(fhirversion.R4)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := m.MarshalResource(oo.Resource(oe.Issues))
	if err != nil {
		tb.Fatal(err)
	}
	got := fmt.Sprintf("HTTP %d %s\n%s\n", oe.Status, http.StatusText(oe.Status), body)
	path := filepath.Join("testdata", "outcomes", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		tb.Errorf("OperationOutcome differs from %s (-golden +got):\n%s", path, diff)
	}
}
