package measures

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/google/go-cmp/cmp"

	oo "github.com/madx-project/madx/operationoutcome"
)

// assertWellFormed checks what every issue must carry: a diagnostics text
// and one expression rooted at MeasureReport (Check) or Measure (Compile,
// ValidateMeasure).
func assertWellFormed(tb testing.TB, issues []oo.Issue) {
	tb.Helper()
	for _, is := range issues {
		if is.Diagnostics == "" {
			tb.Errorf("issue without diagnostics: %+v", is)
		}
		if len(is.Expression) != 1 || !(is.Expression[0] == "Measure" || is.Expression[0] == "MeasureReport" ||
			strings.HasPrefix(is.Expression[0], "Measure.") || strings.HasPrefix(is.Expression[0], "MeasureReport.")) {
			tb.Errorf("issue expression %q is not one FHIRPath rooted at Measure or MeasureReport: %+v", is.Expression, is)
		}
		if is.Severity != oo.SeverityFatal && is.Severity != oo.SeverityWarning {
			tb.Errorf("issue severity %q: want fatal or warning", is.Severity)
		}
	}
}

func TestCheckValidFixtures(t *testing.T) {
	d, reg := exampleDefinition(t, Options{})
	type named struct {
		name string
		r    *mrpb.MeasureReport
	}
	var reports []named
	for _, f := range []string{exampleReport, literalReport} {
		reports = append(reports, named{filepath.Base(f), loadReport(t, f)})
	}
	bundles, err := filepath.Glob(filepath.Join(reportsDir, "Bundle-*.json"))
	if err != nil || len(bundles) == 0 {
		t.Fatalf("no bundles: %v", err)
	}
	for _, b := range bundles {
		rs := bundleReports(t, b)
		if len(rs) == 0 {
			t.Fatalf("%s holds no MeasureReport", b)
		}
		for i, r := range rs {
			reports = append(reports, named{filepath.Base(b) + "/" + itoa(i) + "/" + r.GetId().GetValue(), r})
		}
	}
	// The IHE example's age x gender strata add up to 473 against 426.
	sumWarning := []issueShape{{oo.SeverityWarning, oo.BusinessRule, "MeasureReport.group[0].stratifier[0]"}}
	for _, tc := range reports {
		t.Run(tc.name, func(t *testing.T) {
			issues := d.Check(tc.r, reg)
			assertWellFormed(t, issues)
			var want []issueShape
			if strings.HasPrefix(tc.name, "MeasureReport-mADX-MeasureReport-example") {
				want = sumWarning
			}
			if diff := cmp.Diff(want, shapes(issues)); diff != "" {
				t.Errorf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
		})
	}
}

// issueShape is what the rule tables compare; diagnostics are checked
// separately by substring.
type issueShape struct {
	Severity oo.Severity
	Code     oo.IssueType
	Expr     string
}

func shapes(issues []oo.Issue) []issueShape {
	var out []issueShape
	for _, is := range issues {
		s := issueShape{Severity: is.Severity, Code: is.Code}
		if len(is.Expression) > 0 {
			s.Expr = is.Expression[0]
		}
		out = append(out, s)
	}
	return out
}

type manifestCase struct {
	ID                    string   `json:"id"`
	File                  string   `json:"file"`
	ExpectedStatus        int      `json:"expectedStatus"`
	Expression            *string  `json:"expression"`
	AlsoAcceptExpressions []string `json:"alsoAcceptExpressions"`
}

// TestCheckInvalidManifest runs every testdata/invalid case that is the
// engine's to find (a 422 about the report's content) and expects exactly
// one fatal issue, at the manifest's expression or one it also accepts.
func TestCheckInvalidManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(invalidDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct{ Cases []manifestCase }
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	serverCases := map[string]string{
		"unknown-measure-canonical": "the server resolves MeasureReport.measure to a stored Measure",
	}
	d, reg := exampleDefinition(t, Options{})
	ran := 0
	for _, mc := range manifest.Cases {
		if mc.ExpectedStatus != 422 {
			continue // parse, media type, routing and id errors: the server's
		}
		t.Run(mc.ID, func(t *testing.T) {
			if why, ok := serverCases[mc.ID]; ok {
				t.Skip(why)
			}
			var r *mrpb.MeasureReport
			if strings.HasSuffix(mc.File, ".xml") {
				// unknown-tb-stratum-value.xml is the example with TB value
				// diagnosedTB changed to TBsuspected: rebuilt here in JSON.
				r = editJSON(t, literalReport, `"code":"diagnosedTB"`, `"code":"TBsuspected"`).GetMeasureReport()
			} else {
				r = loadReport(t, filepath.Join(invalidDir, mc.File))
			}
			ran++
			issues := d.Check(r, reg)
			assertWellFormed(t, issues)
			problems := oo.Problems(issues)
			if len(problems) != 1 {
				t.Fatalf("got %d fatal issues, want 1 (one defect per case): %+v", len(problems), problems)
			}
			accept := append([]string{*mc.Expression}, mc.AlsoAcceptExpressions...)
			if got := problems[0].Expression[0]; !slices.Contains(accept, got) {
				t.Errorf("expression %q, want one of %q\ndiagnostics: %s", got, accept, problems[0].Diagnostics)
			}
			t.Logf("%s: %s", problems[0].Code, problems[0].Diagnostics)
		})
	}
	if ran < 8 {
		t.Errorf("ran %d manifest cases, want at least 8", ran)
	}
}
