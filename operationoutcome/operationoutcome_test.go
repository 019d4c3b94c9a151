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

func TestResourceCapsIssues(t *testing.T) {
	issues := func(n int) []Issue {
		out := make([]Issue, n)
		for i := range out {
			out[i] = Issuef(SeverityWarning, Value, fmt.Sprintf("Bundle.entry[%d].resource", i), "issue %d", i)
		}
		return out
	}
	t.Run("within the cap", func(t *testing.T) {
		if got := len(Resource(issues(MaxIssues)).Issue); got != MaxIssues {
			t.Errorf("%d issues rendered, want all %d", got, MaxIssues)
		}
	})
	t.Run("beyond it", func(t *testing.T) {
		in := issues(MaxIssues + 2500)
		in[MaxIssues+7].Severity = SeverityFatal
		got := Resource(in).Issue
		if len(got) != MaxIssues+1 {
			t.Fatalf("%d issues rendered, want %d plus one", len(got), MaxIssues)
		}
		if d := got[MaxIssues-1].GetDiagnostics().GetValue(); d != fmt.Sprintf("issue %d", MaxIssues-1) {
			t.Errorf("the last listed issue is %q, want the %dth of the input", d, MaxIssues)
		}
		last := got[MaxIssues]
		want := "2500 more issues are not listed: an OperationOutcome from this server lists at most 1000. They are from Bundle.entry[1000].resource to Bundle.entry[3499].resource. Fix those listed and send again to see the rest."
		if diff := cmp.Diff(want, last.GetDiagnostics().GetValue()); diff != "" {
			t.Errorf("summary issue (-want +got):\n%s", diff)
		}
		if sev := last.GetSeverity().GetValue().String(); sev != "FATAL" {
			t.Errorf("summary issue is %s, want FATAL, the worst of those left out", sev)
		}
		if len(in) != MaxIssues+2500 || in[MaxIssues].Diagnostics != "issue 1000" {
			t.Error("Resource changed its input")
		}
	})
}
