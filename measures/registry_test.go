package measures

import (
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/google/go-cmp/cmp"

	oo "github.com/madx-project/madx/operationoutcome"
)

const (
	literalSubject  = `"subject": {"reference":"Location/HealthPost1"},`
	literalReporter = `"reporter": {"reference":"Location/HealthPost1"},`
	statusLine      = `"status": "pending",`
)

// withSubject rewrites the literal-subject example's subject, reporter and
// contained resources as JSON, so that google/fhir splits the references
// as it does for a real request.
func withSubject(tb testing.TB, subject, reporter, contained string) []string {
	tb.Helper()
	edits := []string{literalSubject, `"subject": ` + subject + `,`}
	if reporter != "" {
		edits = append(edits, literalReporter, `"reporter": `+reporter+`,`)
	}
	if contained != "" {
		edits = append(edits, statusLine, `"contained": [`+contained+`], `+statusLine)
	}
	return edits
}

func TestResolveSubject(t *testing.T) {
	tests := []struct {
		name, subject, contained string
		want                     SubjectRef
		issue                    *issueShape
		diag                     string
	}{
		{name: "literal", subject: `{"reference":"Location/HealthPost1"}`,
			want: SubjectRef{"Location/HealthPost1", "reference"}},
		{name: "absolute URL with history", subject: `{"reference":"https://hmis.example.org/fhir/Location/HealthPost2/_history/3"}`,
			want: SubjectRef{"Location/HealthPost2", "reference"}},
		{name: "identifier", subject: `{"identifier":{"system":"http://example.org/fhir/sid/facility-code","value":"HP-003"}}`,
			want: SubjectRef{"Location/HealthPost3", "identifier"}},
		{name: "identifier typed Location", subject: `{"type":"Location","identifier":{"system":"http://example.org/fhir/sid/facility-code","value":"HP-001"}}`,
			want: SubjectRef{"Location/HealthPost1", "identifier"}},
		{name: "identifier typed Organization", subject: `{"type":"Organization","identifier":{"system":"http://example.org/fhir/sid/facility-code","value":"HP-001"}}`,
			issue: &issueShape{fatal, oo.Invalid, "MeasureReport.subject"}, diag: "is an Organization; FHIR R4 allows only"},
		{name: "unknown identifier", subject: `{"identifier":{"system":"http://example.org/fhir/sid/facility-code","value":"HP-099"}}`,
			issue: &issueShape{fatal, oo.NotFound, "MeasureReport.subject"}, diag: "HP-099"},
		{name: "IHE contained Location with only a name, id matches",
			subject: `{"reference":"#HealthPost1"}`, contained: `{"resourceType":"Location","id":"HealthPost1","name":"Good Health Post"}`,
			want: SubjectRef{"Location/HealthPost1", "contained id"}},
		{name: "contained Location matched by exact name",
			subject: `{"reference":"#hp"}`, contained: `{"resourceType":"Location","id":"hp","name":"Riverside Health Post"}`,
			want: SubjectRef{"Location/HealthPost2", "contained name"}},
		{name: "contained Location identifier wins over id",
			subject:   `{"reference":"#HealthPost1"}`,
			contained: `{"resourceType":"Location","id":"HealthPost1","identifier":[{"system":"http://example.org/fhir/sid/facility-code","value":"HP-003"}]}`,
			want:      SubjectRef{"Location/HealthPost3", "contained identifier"}},
		{name: "contained Location name differs in case",
			subject: `{"reference":"#hp"}`, contained: `{"resourceType":"Location","id":"hp","name":"good health post"}`,
			issue: &issueShape{fatal, oo.NotFound, "MeasureReport.subject"}, diag: `contained Location (name "good health post")`},
		{name: "fragment without contained resource", subject: `{"reference":"#nowhere"}`,
			contained: `{"resourceType":"Location","id":"HealthPost1","name":"Good Health Post"}`,
			issue:     &issueShape{fatal, oo.NotFound, "MeasureReport.subject"}, diag: "#nowhere"},
		// google/fhir's validating unmarshaller already refuses a relative
		// Organization/x subject; an absolute URL gets through to the engine.
		{name: "Organization", subject: `{"reference":"https://hmis.example.org/fhir/Organization/HealthPost1"}`,
			issue: &issueShape{fatal, oo.Invalid, "MeasureReport.subject"}, diag: "an Organization may be the reporter"},
		{name: "contained Organization", subject: `{"reference":"#org"}`,
			contained: `{"resourceType":"Organization","id":"org","name":"Good Health Post"}`,
			issue:     &issueShape{fatal, oo.Invalid, "MeasureReport.subject"}, diag: "is an Organization"},
		{name: "Patient", subject: `{"reference":"Patient/p1"}`,
			issue: &issueShape{fatal, oo.Invalid, "MeasureReport.subject"}, diag: "refers to a Patient"},
		{name: "unknown Location", subject: `{"reference":"Location/HealthPost99"}`,
			issue: &issueShape{fatal, oo.NotFound, "MeasureReport.subject"}, diag: "Test Case 3"},
		{name: "display only", subject: `{"display":"Good Health Post"}`,
			issue: &issueShape{fatal, oo.Required, "MeasureReport.subject"}},
	}
	_, reg := fixtures(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := editJSON(t, literalReport, withSubject(t, tc.subject, "", tc.contained)...).GetMeasureReport()
			got, issues := reg.ResolveSubject(r)
			assertWellFormed(t, issues)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SubjectRef (-want +got):\n%s", diff)
			}
			var want []issueShape
			if tc.issue != nil {
				want = []issueShape{*tc.issue}
			}
			if diff := cmp.Diff(want, shapes(issues)); diff != "" {
				t.Fatalf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
			if tc.diag != "" && !strings.Contains(issues[0].Diagnostics, tc.diag) {
				t.Errorf("diagnostics %q lack %q", issues[0].Diagnostics, tc.diag)
			}
		})
	}
}

func TestCheckReporter(t *testing.T) {
	tests := []struct {
		name, reporter string
		want           []issueShape
	}{
		{name: "known Location", reporter: `{"reference":"Location/HealthPost2"}`},
		{name: "known Organization", reporter: `{"reference":"Organization/HealthPost1"}`},
		{name: "Organization by identifier", reporter: `{"type":"Organization","identifier":{"system":"http://example.org/fhir/sid/facility-code","value":"HP-001"}}`},
		{name: "Practitioner is not matched", reporter: `{"reference":"Practitioner/nurse1"}`},
		{name: "unknown Organization", reporter: `{"reference":"Organization/Elsewhere"}`,
			want: []issueShape{{fatal, oo.NotFound, "MeasureReport.reporter"}}},
		{name: "unknown Location", reporter: `{"reference":"Location/HealthPost99"}`,
			want: []issueShape{{fatal, oo.NotFound, "MeasureReport.reporter"}}},
	}
	d, reg := exampleDefinition(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := editJSON(t, literalReport, withSubject(t, `{"reference":"Location/HealthPost1"}`, tc.reporter, "")...).GetMeasureReport()
			r.Group[0].Population[0].Count.Value = 473 // as balanced()
			r.Group[0].Stratifier[1].Stratum[1].MeasureScore.Value.Value = "445"
			issues := d.Check(r, reg)
			assertWellFormed(t, issues)
			if diff := cmp.Diff(tc.want, shapes(issues)); diff != "" {
				t.Errorf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
		})
	}
}

// TestOrganizationSubjectProto covers a relative Organization reference as
// the proto can carry it (an unmarshaller without validation lets it in).
func TestOrganizationSubjectProto(t *testing.T) {
	_, reg := fixtures(t)
	r := loadReport(t, literalReport)
	r.Subject.Reference = &dtpb.Reference_OrganizationId{OrganizationId: &dtpb.ReferenceId{Value: "HealthPost1"}}
	_, issues := reg.ResolveSubject(r)
	if diff := cmp.Diff([]issueShape{{fatal, oo.Invalid, "MeasureReport.subject"}}, shapes(issues)); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
}

func TestNilRegistryKnowsNothing(t *testing.T) {
	var reg *Registry
	ref, issues := reg.ResolveSubject(loadReport(t, literalReport))
	if ref != (SubjectRef{}) || len(issues) != 1 || issues[0].Code != oo.NotFound {
		t.Errorf("nil registry: got %+v, %+v; want a not-found issue", ref, issues)
	}
}

func TestReportKey(t *testing.T) {
	_, reg := fixtures(t)
	base := loadReport(t, literalReport)
	contained := loadReport(t, exampleReport)
	byIdentifier := editJSON(t, literalReport, withSubject(t,
		`{"identifier":{"system":"http://example.org/fhir/sid/facility-code","value":"HP-001"}}`, "", "")...).GetMeasureReport()
	month := editJSON(t, literalReport, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
		`"period": {"start":"2025-01","end":"2025-01"}`).GetMeasureReport()
	versioned := editJSON(t, literalReport, `"measure": "http://ohie.org/Measure/madx-hiv-indicator-example"`,
		`"measure": "http://ohie.org/Measure/madx-hiv-indicator-example|0.0.2"`).GetMeasureReport()
	offset := editJSON(t, literalReport, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
		`"period": {"start":"2025-01-01T00:00:00+02:00","end":"2025-01-31T23:59:59+02:00"}`).GetMeasureReport()
	february := editJSON(t, literalReport, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
		`"period": {"start":"2025-02-01","end":"2025-02-28"}`).GetMeasureReport()

	const want = "http://ohie.org/Measure/madx-hiv-indicator-example Location/HealthPost1 2025-01-01 2025-01-31"
	tests := []struct {
		name string
		key  string
		want string
	}{
		{"literal subject", resolvedKey(t, reg, base), want},
		{"contained subject", resolvedKey(t, reg, contained), want},
		{"identifier subject", resolvedKey(t, reg, byIdentifier), want},
		{"month precision", resolvedKey(t, reg, month), want},
		{"versioned measure canonical", resolvedKey(t, reg, versioned), want},
		{"dateTimes with offset", resolvedKey(t, reg, offset), want},
		{"next month differs", resolvedKey(t, reg, february), "http://ohie.org/Measure/madx-hiv-indicator-example Location/HealthPost1 2025-02-01 2025-02-28"},
		{"unresolved subject falls back to the reference", ReportKey(contained, SubjectRef{}),
			"http://ohie.org/Measure/madx-hiv-indicator-example #HealthPost1 2025-01-01 2025-01-31"},
	}
	for _, tc := range tests {
		if tc.key != tc.want {
			t.Errorf("%s: ReportKey = %q, want %q", tc.name, tc.key, tc.want)
		}
	}
}

// resolvedKey is ReportKey as the server computes it: after resolving the
// subject through the Registry.
func resolvedKey(tb testing.TB, reg *Registry, r *mrpb.MeasureReport) string {
	tb.Helper()
	ref, issues := reg.ResolveSubject(r)
	if len(issues) > 0 {
		tb.Fatalf("ResolveSubject: %+v", issues)
	}
	return ReportKey(r, ref)
}
