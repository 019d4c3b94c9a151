package measures

import (
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

func TestValidateMeasure(t *testing.T) {
	required := func(expr string) []issueShape { return []issueShape{{fatal, oo.Required, expr}} }
	tests := []struct {
		name string
		edit func(m *mpb.Measure)
		want []issueShape
	}{
		{"IHE example conforms", func(*mpb.Measure) {}, nil},
		{"url", func(m *mpb.Measure) { m.Url = nil }, required("Measure")},
		{"version", func(m *mpb.Measure) { m.Version = nil }, required("Measure")},
		{"title", func(m *mpb.Measure) { m.Title = nil }, required("Measure")},
		{"publisher", func(m *mpb.Measure) { m.Publisher = nil }, required("Measure")},
		{"description", func(m *mpb.Measure) { m.Description = nil }, required("Measure")},
		{"subjectCodeableConcept", func(m *mpb.Measure) { m.Subject = nil }, required("Measure")},
		{"subjectCodeableConcept.coding.code", func(m *mpb.Measure) {
			m.Subject.GetCodeableConcept().Coding[0].Code = nil
		}, required("Measure.subjectCodeableConcept")},
		{"group", func(m *mpb.Measure) { m.Group = nil }, required("Measure")},
		{"group.code", func(m *mpb.Measure) { m.Group[0].Code = nil }, required("Measure.group[0]")},
		{"group.code.coding.code", func(m *mpb.Measure) { m.Group[0].Code.Coding[0].Code = nil }, required("Measure.group[0].code")},
		{"group.description", func(m *mpb.Measure) { m.Group[0].Description = nil }, required("Measure.group[0]")},
		{"group.population", func(m *mpb.Measure) { m.Group[0].Population = nil }, required("Measure.group[0]")},
		{"group.population.code", func(m *mpb.Measure) { m.Group[0].Population[0].Code = nil }, required("Measure.group[0].population[0]")},
		{"group.stratifier.component", func(m *mpb.Measure) { m.Group[0].Stratifier[1].Component = nil }, required("Measure.group[0].stratifier[1]")},
		{"group.stratifier.component.code", func(m *mpb.Measure) {
			m.Group[0].Stratifier[1].Component[0].Code = nil
		}, required("Measure.group[0].stratifier[1].component[0]")},
		{"relatedArtifact for a component", func(m *mpb.Measure) {
			m.RelatedArtifact = append(m.RelatedArtifact[:1], m.RelatedArtifact[2:]...) // drop 'gender'
		}, required("Measure.group[0].stratifier[0].component[1].code")},
		{"relatedArtifact.url", func(m *mpb.Measure) { m.RelatedArtifact[1].Url = nil }, required("Measure.relatedArtifact[1]")},
		{"relatedArtifact.resource stands for url", func(m *mpb.Measure) {
			m.RelatedArtifact[1].Resource = &dtpb.Canonical{Value: m.RelatedArtifact[1].Url.Value}
			m.RelatedArtifact[1].Url = nil
		}, nil},
		{"relatedArtifact.type", func(m *mpb.Measure) { m.RelatedArtifact[1].Type.Value = 1 },
			[]issueShape{{fatal, oo.Value, "Measure.relatedArtifact[1].type"}}},
		{"group code unique", func(m *mpb.Measure) {
			m.Group = append(m.Group, proto.Clone(m.Group[0]).(*mpb.Measure_Group))
		}, []issueShape{{fatal, oo.Duplicate, "Measure.group[1].code"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadMeasure(t)
			tc.edit(m)
			issues := ValidateMeasure(m)
			assertWellFormed(t, issues)
			if diff := cmp.Diff(tc.want, shapes(issues)); diff != "" {
				t.Errorf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
		})
	}
}

// TestCheckUnresolvedArtifact: values of a component whose relatedArtifact
// resolves to nothing are accepted unchecked with one warning per
// stratifier, or rejected once per stratifier in strict mode.
func TestCheckUnresolvedArtifact(t *testing.T) {
	full, reg := fixtures(t)
	withoutTB := fakeTerminology{}
	for k, v := range full {
		if k != "http://ihe.net/qrph/madx/TBdiagnosisResult-stratifiers-example" {
			withoutTB[k] = v
		}
	}
	for _, tc := range []struct {
		opts Options
		want []issueShape
	}{
		{Options{}, []issueShape{{warning, oo.NotFound, s1 + ".stratum[0].component[0].value"}}},
		{Options{StrictTerminology: true}, []issueShape{{fatal, oo.NotFound, s1 + ".stratum[0].component[0].value"}}},
	} {
		d, _ := compileWith(t, withoutTB, tc.opts)
		r := balanced(t)
		stratumOf(r, 1, 0).Component[0].Value.Coding[0].Code.Value = "anything" // unchecked
		issues := d.Check(r, reg)
		assertWellFormed(t, issues)
		if diff := cmp.Diff(tc.want, shapes(issues)); diff != "" {
			t.Errorf("strict=%v: issues (-want +got):\n%s\nall: %+v", tc.opts.StrictTerminology, diff, issues)
		}
	}
}
