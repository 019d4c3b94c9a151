package measures

import (
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

const (
	fatal   = oo.SeverityFatal
	warning = oo.SeverityWarning
	s0      = "MeasureReport.group[0].stratifier[0]"
	s1      = "MeasureReport.group[0].stratifier[1]"
)

// balanced returns the literal-subject example with its strata made to add
// up to the population count (count 473, TB strata 28+445), so that a rule
// case sees only its own issue.
func balanced(tb testing.TB) *mrpb.MeasureReport {
	tb.Helper()
	r := loadReport(tb, literalReport)
	r.Group[0].Population[0].Count.Value = 473
	r.Group[0].Stratifier[1].Stratum[1].MeasureScore.Value.Value = "445"
	return r
}

func coding(system, code string) *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: system}, Code: &dtpb.Code{Value: code}}}}
}

func stratumOf(r *mrpb.MeasureReport, s, k int) *mrpb.MeasureReport_Group_Stratifier_StratifierGroup {
	return r.Group[0].Stratifier[s].Stratum[k]
}

func TestCheckRules(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		edit  func(r *mrpb.MeasureReport)
		want  []issueShape
		diags []string // substrings of the first issue's diagnostics
	}{
		{name: "balanced report is clean", edit: func(*mrpb.MeasureReport) {}},
		{name: "missing status", edit: func(r *mrpb.MeasureReport) { r.Status = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport"}}, diags: []string{"MeasureReport.status"}},
		{name: "missing type", edit: func(r *mrpb.MeasureReport) { r.Type = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport"}}, diags: []string{"MeasureReport.type"}},
		{name: "missing measure", edit: func(r *mrpb.MeasureReport) { r.Measure = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport"}}, diags: []string{"MeasureReport.measure"}},
		{name: "other measure", edit: func(r *mrpb.MeasureReport) { r.Measure.Value = "http://ohie.org/Measure/other" },
			want: []issueShape{{fatal, oo.BusinessRule, "MeasureReport.measure"}}},
		{name: "other measure version", edit: func(r *mrpb.MeasureReport) { r.Measure.Value += "|9.9" },
			want: []issueShape{{fatal, oo.BusinessRule, "MeasureReport.measure"}}},
		{name: "same measure version", edit: func(r *mrpb.MeasureReport) { r.Measure.Value += "|0.0.1" }},
		{name: "missing period", edit: func(r *mrpb.MeasureReport) { r.Period = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport"}}, diags: []string{"MeasureReport.period"}},
		{name: "missing period end", edit: func(r *mrpb.MeasureReport) { r.Period.End = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport.period"}}, diags: []string{"period.end"}},
		{name: "one-day period", edit: func(r *mrpb.MeasureReport) { r.Period.End = r.Period.Start }},
		{name: "end a second before start", edit: func(r *mrpb.MeasureReport) {
			r.Period.End = &dtpb.DateTime{ValueUs: r.Period.Start.ValueUs - 1e6, Timezone: "UTC", Precision: dtpb.DateTime_SECOND}
		}, want: []issueShape{{fatal, oo.Invariant, "MeasureReport.period"}}},
		{name: "month-precision start within end day", edit: func(r *mrpb.MeasureReport) {
			r.Period.Start.Precision = dtpb.DateTime_MONTH
			r.Period.End = &dtpb.DateTime{ValueUs: r.Period.Start.ValueUs + 10*86400e6, Timezone: "UTC", Precision: dtpb.DateTime_DAY}
		}},
		{name: "no group", edit: func(r *mrpb.MeasureReport) { r.Group = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport"}}, diags: []string{"MeasureReport.group"}},
		{name: "group without code", edit: func(r *mrpb.MeasureReport) { r.Group[0].Code = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport.group[0]"}}},
		{name: "group reported twice", edit: func(r *mrpb.MeasureReport) {
			r.Group = append(r.Group, proto.Clone(r.Group[0]).(*mrpb.MeasureReport_Group))
		}, want: []issueShape{{fatal, oo.Duplicate, "MeasureReport.group[1].code"}}},
		{name: "population without count", edit: func(r *mrpb.MeasureReport) { r.Group[0].Population[0].Count = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport.group[0].population[0]"}}, diags: []string{"count"}},
		{name: "population reported twice", edit: func(r *mrpb.MeasureReport) {
			g := r.Group[0]
			g.Population = append(g.Population, proto.Clone(g.Population[0]).(*mrpb.MeasureReport_Group_Population))
		}, want: []issueShape{{fatal, oo.Duplicate, "MeasureReport.group[0].population[1].code"}}},
		{name: "no population", edit: func(r *mrpb.MeasureReport) { r.Group[0].Population = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport.group[0]"}}},
		{name: "stratum without measureScore", edit: func(r *mrpb.MeasureReport) { stratumOf(r, 0, 3).MeasureScore = nil },
			want: []issueShape{{fatal, oo.Required, s0 + ".stratum[3]"}}},
		{name: "measureScore without value", edit: func(r *mrpb.MeasureReport) { stratumOf(r, 0, 3).MeasureScore.Value = nil },
			want: []issueShape{{fatal, oo.Required, s0 + ".stratum[3].measureScore"}}},
		{name: "negative measureScore", edit: func(r *mrpb.MeasureReport) { stratumOf(r, 0, 3).MeasureScore.Value.Value = "-2" },
			want: []issueShape{{fatal, oo.Value, s0 + ".stratum[3].measureScore.value"}}},
		{name: "decimal measureScore adds up", edit: func(r *mrpb.MeasureReport) {
			stratumOf(r, 0, 0).MeasureScore.Value.Value = "9.5"
			stratumOf(r, 0, 1).MeasureScore.Value.Value = "9.50"
			stratumOf(r, 0, 2).MeasureScore.Value.Value = "0.0"
		}},
		{name: "strata do not add up", edit: func(r *mrpb.MeasureReport) { stratumOf(r, 1, 0).MeasureScore.Value.Value = "29" },
			want: []issueShape{{warning, oo.BusinessRule, s1}}, diags: []string{"add up to 474", "count is 473"}},
		{name: "unknown stratifier", edit: func(r *mrpb.MeasureReport) {
			r.Group[0].Stratifier[1].Id.Value = "other"
			stratumOf(r, 1, 0).Component[0].Code = coding("http://ihe.net/qrph/madx/hiv-stratifiers-example", "district")
		}, want: []issueShape{{fatal, oo.CodeInvalid, s1}}, diags: []string{"'other' (components district)", "group-stratifier2-id"}},
		{name: "stratifier matched by components without id", edit: func(r *mrpb.MeasureReport) {
			r.Group[0].Stratifier[0].Id = nil
			r.Group[0].Stratifier[1].Id = nil
		}},
		{name: "unknown component code", edit: func(r *mrpb.MeasureReport) {
			stratumOf(r, 0, 2).Component[0].Code = coding("http://ihe.net/qrph/madx/hiv-stratifiers-example", "district")
		}, want: []issueShape{
			{fatal, oo.CodeInvalid, s0 + ".stratum[2].component[0].code"},
			{fatal, oo.Required, s0 + ".stratum[2]"},
		}, diags: []string{"district", "group-stratifier1-id"}},
		{name: "component missing", edit: func(r *mrpb.MeasureReport) {
			st := stratumOf(r, 0, 2)
			st.Component = st.Component[:1]
		}, want: []issueShape{{fatal, oo.Required, s0 + ".stratum[2]"}}, diags: []string{"lacks", "'gender'"}},
		{name: "component twice", edit: func(r *mrpb.MeasureReport) {
			st := stratumOf(r, 0, 2)
			st.Component[1] = proto.Clone(st.Component[0]).(*mrpb.MeasureReport_Group_Stratifier_StratifierGroup_Component)
		}, want: []issueShape{
			{fatal, oo.Duplicate, s0 + ".stratum[2].component[1].code"},
			{fatal, oo.Required, s0 + ".stratum[2]"},
		}},
		{name: "component without value", edit: func(r *mrpb.MeasureReport) { stratumOf(r, 0, 2).Component[1].Value = nil },
			want: []issueShape{{fatal, oo.Required, s0 + ".stratum[2].component[1]"}}},
		{name: "stratum without components", edit: func(r *mrpb.MeasureReport) { stratumOf(r, 1, 1).Component = nil },
			want: []issueShape{{fatal, oo.Required, s1 + ".stratum[1]"}}},
		{name: "duplicate stratum", edit: func(r *mrpb.MeasureReport) {
			st := stratumOf(r, 0, 7)
			st.Component[1].Value = coding("http://hl7.org/fhir/administrative-gender", "male") // = stratum[6]
		}, want: []issueShape{{fatal, oo.Duplicate, s0 + ".stratum[7]"}}, diags: []string{"stratum[7] repeats", "stratum[6]", "gender=http://hl7.org/fhir/administrative-gender|male"}},
		{name: "duplicate stratum with components in another order", edit: func(r *mrpb.MeasureReport) {
			st := stratumOf(r, 0, 7)
			st.Component[1].Value = coding("http://hl7.org/fhir/administrative-gender", "male")
			st.Component[0], st.Component[1] = st.Component[1], st.Component[0]
		}, want: []issueShape{{fatal, oo.Duplicate, s0 + ".stratum[7]"}}},
		{name: "value with a translation coding", edit: func(r *mrpb.MeasureReport) {
			v := stratumOf(r, 0, 0).Component[1].Value
			v.Coding = append([]*dtpb.Coding{{System: &dtpb.Uri{Value: "http://local/sex"}, Code: &dtpb.Code{Value: "M"}}}, v.Coding...)
		}},
		{name: "age group outside the fragment", edit: func(r *mrpb.MeasureReport) {
			stratumOf(r, 0, 0).Component[0].Value.Coding[0].Code.Value = "P1Y--P5Y"
		}, want: []issueShape{{warning, oo.CodeInvalid, s0 + ".stratum[0].component[0].value"}}, diags: []string{"neither confirm nor rule out", "accepted"}},
		{name: "age group outside the fragment, strict", opts: Options{StrictTerminology: true}, edit: func(r *mrpb.MeasureReport) {
			stratumOf(r, 0, 0).Component[0].Value.Coding[0].Code.Value = "P1Y--P5Y"
		}, want: []issueShape{{fatal, oo.CodeInvalid, s0 + ".stratum[0].component[0].value"}}, diags: []string{"strict"}},
		{name: "improvementNotation differs", edit: func(r *mrpb.MeasureReport) {
			r.ImprovementNotation = coding("http://terminology.hl7.org/CodeSystem/measure-improvement-notation", "decrease")
		}, want: []issueShape{{warning, oo.BusinessRule, "MeasureReport.improvementNotation"}}},
		{name: "subject check skipped", opts: Options{SkipSubjectCheck: true}, edit: func(r *mrpb.MeasureReport) {
			r.Subject.Reference = &dtpb.Reference_LocationId{LocationId: &dtpb.ReferenceId{Value: "HealthPost99"}}
		}},
		{name: "subject presence still required when skipped", opts: Options{SkipSubjectCheck: true}, edit: func(r *mrpb.MeasureReport) { r.Subject = nil },
			want: []issueShape{{fatal, oo.Required, "MeasureReport"}}},
		{name: "every issue in one pass", edit: func(r *mrpb.MeasureReport) {
			r.Subject.Reference = &dtpb.Reference_LocationId{LocationId: &dtpb.ReferenceId{Value: "HealthPost99"}}
			r.Group[0].Population[0].Count.Value = -1
			stratumOf(r, 0, 4).Component[1].Value.Coding[0].Code.Value = "F"
			stratumOf(r, 1, 0).Component[0].Value.Coding[0].Code.Value = "TBsuspected"
		}, want: []issueShape{
			{fatal, oo.NotFound, "MeasureReport.subject"},
			{fatal, oo.Value, "MeasureReport.group[0].population[0].count"},
			{fatal, oo.CodeInvalid, s0 + ".stratum[4].component[1].value"},
			{fatal, oo.CodeInvalid, s1 + ".stratum[0].component[0].value"},
		}},
	}
	defs := map[Options]*Definition{}
	term, reg := fixtures(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := defs[tc.opts]
			if !ok {
				d, _ = compileWith(t, term, tc.opts)
				defs[tc.opts] = d
			}
			r := balanced(t)
			tc.edit(r)
			issues := d.Check(r, reg)
			assertWellFormed(t, issues)
			if diff := cmp.Diff(tc.want, shapes(issues)); diff != "" {
				t.Fatalf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
			for _, sub := range tc.diags {
				if !strings.Contains(issues[0].Diagnostics, sub) {
					t.Errorf("diagnostics %q lack %q", issues[0].Diagnostics, sub)
				}
			}
		})
	}
}

func compileWith(tb testing.TB, term Terminology, opts Options) (*Definition, []oo.Issue) {
	tb.Helper()
	d, issues, err := Compile(t_ctx, loadMeasure(tb), term, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return d, issues
}
