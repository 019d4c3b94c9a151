package measures

import (
	"path/filepath"
	"strings"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/concept_map_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	"github.com/google/go-cmp/cmp"

	oo "github.com/madx-project/madx/operationoutcome"
)

// siteMap is a ConceptMap of one group from source to target ("" for
// Location ids), with codes[i] mapped to codes[i+1].
func siteMap(id, source, target string, codes ...string) *cmpb.ConceptMap {
	g := &cmpb.ConceptMap_Group{Source: &dtpb.Uri{Value: source}}
	if target != "" {
		g.Target = &dtpb.Uri{Value: target}
	}
	for i := 0; i+1 < len(codes); i += 2 {
		g.Element = append(g.Element, &cmpb.ConceptMap_Group_SourceElement{Code: &dtpb.Code{Value: codes[i]},
			Target: []*cmpb.ConceptMap_Group_SourceElement_TargetElement{{Code: &dtpb.Code{Value: codes[i+1]},
				Equivalence: &cmpb.ConceptMap_Group_SourceElement_TargetElement_EquivalenceCode{Value: cpb.ConceptMapEquivalenceCode_EQUIVALENT}}}})
	}
	return &cmpb.ConceptMap{Id: &dtpb.Id{Value: id}, Group: []*cmpb.ConceptMap_Group{g}}
}

func registryWithMaps(tb testing.TB, maps ...*cmpb.ConceptMap) *Registry {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(definitionsDir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var locs []*locpb.Location
	var orgs []*orgpb.Organization
	for _, f := range files {
		switch r := unwrap(load(tb, f)).(type) {
		case *locpb.Location:
			locs = append(locs, r)
		case *orgpb.Organization:
			orgs = append(orgs, r)
		}
	}
	return NewRegistry(locs, orgs, maps)
}

// TestSiteMaps: a sender's facility codes reach the jurisdiction's
// Locations through ConceptMaps (docs/validation.md, Site codes).
func TestSiteMaps(t *testing.T) {
	const emr, other = "http://emr.example.org/facility", "http://other.example.org/site"
	reg := registryWithMaps(t,
		siteMap("emr-sites", emr, "", "E1", "HealthPost1", "E2", "Location/HealthPost2", "E9", "Nowhere"),
		siteMap("emr-by-code", emr, "http://example.org/fhir/sid/facility-code", "E3", "HP-003"),
		siteMap("clash", other, "", "X", "HealthPost1"),
		siteMap("clash-2", other, "", "X", "HealthPost2"),
	)
	tests := []struct {
		name, system, value string
		want                SubjectRef
		diag                string
	}{
		{name: "to a Location id", system: emr, value: "E1", want: SubjectRef{"Location/HealthPost1", "site map"}},
		{name: "to Location/id", system: emr, value: "E2", want: SubjectRef{"Location/HealthPost2", "site map"}},
		{name: "to the jurisdiction's identifier", system: emr, value: "E3", want: SubjectRef{"Location/HealthPost3", "site map"}},
		{name: "a Location's own identifier still wins", system: "http://example.org/fhir/sid/facility-code", value: "HP-001",
			want: SubjectRef{"Location/HealthPost1", "identifier"}},
		{name: "unmapped code of a mapped system", system: emr, value: "E4",
			diag: `the code "E4" of ` + emr + ` is not mapped to a Location; expected a code that the site map of ` + emr + ` (ConceptMap/emr-sites, ConceptMap/emr-by-code) maps`},
		{name: "mapped to no known Location", system: emr, value: "E9", diag: "is mapped to Location/Nowhere (by ConceptMap/emr-sites), which is no known"},
		{name: "mapped to two Locations", system: other, value: "X", diag: "is mapped to several Locations (Location/HealthPost1, Location/HealthPost2)"},
		{name: "unknown system", system: "http://unknown.example.org", value: "E1", diag: "matches no known reporting Location"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subject := `{"identifier":{"system":"` + tc.system + `","value":"` + tc.value + `"}}`
			r := editJSON(t, literalReport, withSubject(t, subject, "", "")...).GetMeasureReport()
			got, issues := reg.ResolveSubject(r)
			assertWellFormed(t, issues)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SubjectRef (-want +got):\n%s", diff)
			}
			if tc.diag == "" {
				if len(issues) > 0 {
					t.Fatalf("issues: %+v", issues)
				}
				return
			}
			if diff := cmp.Diff([]issueShape{{fatal, oo.NotFound, "MeasureReport.subject"}}, shapes(issues)); diff != "" {
				t.Fatalf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
			if !strings.Contains(issues[0].Diagnostics, tc.diag) {
				t.Errorf("diagnostics %q lack %q", issues[0].Diagnostics, tc.diag)
			}
		})
	}
}

// TestSiteMapRetired: a retired ConceptMap maps nothing.
func TestSiteMapRetired(t *testing.T) {
	cm := siteMap("old", "http://emr.example.org/facility", "", "E1", "HealthPost1")
	cm.Status = &cmpb.ConceptMap_StatusCode{Value: cpb.PublicationStatusCode_RETIRED}
	reg := registryWithMaps(t, cm)
	r := editJSON(t, literalReport, withSubject(t, `{"identifier":{"system":"http://emr.example.org/facility","value":"E1"}}`, "", "")...).GetMeasureReport()
	if got, _ := reg.ResolveSubject(r); got.Reference != "" {
		t.Errorf("a retired map resolved %s", got.Reference)
	}
}

// TestCheckSiteMap: what a site map sends to no stored Location is
// warned about when it is written; maps of other codes are not checked.
func TestCheckSiteMap(t *testing.T) {
	reg := registryWithMaps(t)
	emr := "http://emr.example.org/facility"
	cm := siteMap("m", emr, "", "E1", "HealthPost1", "E2", "Nowhere")
	cm.Group = append(cm.Group,
		siteMap("", emr, "http://example.org/fhir/sid/facility-code", "E3", "HP-003", "E4", "HP-404").Group[0],
		siteMap("", "http://loinc.org", "http://snomed.info/sct", "1-8", "404").Group[0])
	issues := reg.CheckSiteMap(cm)
	// (assertWellFormed knows only Measure and MeasureReport roots.)
	want := []issueShape{{oo.SeverityWarning, oo.NotFound, "ConceptMap.group[0].element[1].target[0].code"},
		{oo.SeverityWarning, oo.NotFound, "ConceptMap.group[1].element[1].target[0].code"}}
	if diff := cmp.Diff(want, shapes(issues)); diff != "" {
		t.Fatalf("issues (-want +got):\n%s\nall: %+v", diff, issues)
	}
	if !strings.Contains(issues[1].Diagnostics, "http://example.org/fhir/sid/facility-code|HP-404") {
		t.Errorf("diagnostics: %s", issues[1].Diagnostics)
	}
}
