package operationoutcome

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrefix(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"element", []string{"MeasureReport.group[0].code"}, []string{"Bundle.entry[2].resource.group[0].code"}},
		{"the root itself", []string{"MeasureReport"}, []string{"Bundle.entry[2].resource"}},
		{"choice on the root", []string{"MeasureReport[0]"}, []string{"Bundle.entry[2].resource[0]"}},
		{"already relative", []string{"group[1]"}, []string{"Bundle.entry[2].resource.group[1]"}},
		{"several", []string{"MeasureReport.subject", "MeasureReport.period"}, []string{"Bundle.entry[2].resource.subject", "Bundle.entry[2].resource.period"}},
		{"none", nil, nil},
		{"already in the prefix's tree", []string{"Bundle.entry[2].request.url", "Bundle.entry[2]"}, []string{"Bundle.entry[2].request.url", "Bundle.entry[2]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []Issue{{Severity: SeverityFatal, Code: Value, Diagnostics: "d", Expression: tc.in}}
			got := Prefix(in, "MeasureReport", "Bundle.entry[2].resource.")
			if diff := cmp.Diff(tc.want, got[0].Expression); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.in, in[0].Expression); diff != "" {
				t.Errorf("Prefix changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestFromKeepsCausesPrivate(t *testing.T) {
	cause := errors.New("sqlite: disk I/O error at /var/lib/madx/madx.db")
	e := From(fmt.Errorf("store: write: %w", cause))
	if e.Status != http.StatusInternalServerError || len(e.Issues) != 1 {
		t.Fatalf("From(internal) = %d with %d issues, want 500 with 1", e.Status, len(e.Issues))
	}
	if strings.Contains(e.Issues[0].Diagnostics, "/var/lib") || strings.Contains(e.Issues[0].Diagnostics, "sqlite") {
		t.Errorf("the cause leaks into the client's diagnostics: %q", e.Issues[0].Diagnostics)
	}
	if !errors.Is(e, cause) {
		t.Errorf("the cause is lost for logging")
	}
	deliberate := Errorf(http.StatusConflict, Conflict, "MeasureReport", "taken")
	if got := From(fmt.Errorf("wrapped: %w", deliberate)); got != deliberate {
		t.Errorf("From did not return the *Error in the chain")
	}
}

func TestResourceRendersEveryIssue(t *testing.T) {
	r := Resource([]Issue{
		{Severity: SeverityFatal, Code: CodeInvalid, Diagnostics: "bad code", Expression: []string{"MeasureReport.group[0].code"}},
		{Severity: SeverityWarning, Code: BusinessRule, Diagnostics: "sum"},
	})
	if len(r.GetIssue()) != 2 || r.GetIssue()[0].GetExpression()[0].GetValue() != "MeasureReport.group[0].code" ||
		r.GetIssue()[0].GetSeverity().GetValue().String() != "FATAL" || r.GetIssue()[0].GetCode().GetValue().String() != "CODE_INVALID" ||
		r.GetIssue()[1].GetSeverity().GetValue().String() != "WARNING" {
		t.Errorf("rendered %v", r)
	}
	if empty := Resource(nil); len(empty.GetIssue()) != 1 || empty.GetIssue()[0].GetSeverity().GetValue().String() != "INFORMATION" {
		t.Errorf("an empty list must render one informational issue (R4 issue 1..*): %v", empty)
	}
	if HasProblems([]Issue{{Severity: SeverityWarning}}) || !HasProblems([]Issue{{Severity: SeverityWarning}, {Severity: SeverityFatal}}) {
		t.Errorf("HasProblems")
	}
}
