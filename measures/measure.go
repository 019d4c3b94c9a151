package measures

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

// ValidateMeasure checks m against the elements QRPH-59 2:3.59.4.2.2 and the
// mADX-Measure profile require, and returns one fatal issue per violation
// (nil when m conforms): url, version, title, publisher, description and
// subjectCodeableConcept.coding.code present; at least one group, each with
// a code unique within the Measure, a description and populations with
// codes; every stratifier with components, every component with a code, and
// for every component code a relatedArtifact of type depends-on labelled
// with that code and carrying a url (or resource). improvementNotation is
// not required: QRPH-59 makes it optional and the IHE example omits it.
func ValidateMeasure(m *mpb.Measure) []oo.Issue {
	var issues []oo.Issue
	missing := func(expr, elem string) {
		issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Required, expr,
			"%s is required by QRPH-59 2:3.59.4.2.2 (mADX-Measure) but is missing", elem))
	}
	for _, f := range []struct {
		name    string
		present bool
	}{
		{"Measure.url", m.GetUrl().GetValue() != ""},
		{"Measure.version", m.GetVersion().GetValue() != ""},
		{"Measure.title", m.GetTitle().GetValue() != ""},
		{"Measure.publisher", m.GetPublisher().GetValue() != ""},
		{"Measure.description", m.GetDescription().GetValue() != ""},
	} {
		if !f.present {
			missing("Measure", f.name)
		}
	}
	switch scc := m.GetSubject().GetCodeableConcept(); {
	case scc == nil:
		missing("Measure", "Measure.subjectCodeableConcept")
	case !hasCode(scc):
		missing("Measure.subjectCodeableConcept", "Measure.subjectCodeableConcept.coding.code")
	}
	if len(m.GetGroup()) == 0 {
		missing("Measure", "Measure.group")
	}

	artifacts := artifactsByLabel(m)
	groupCodes := map[codeKey]int{}
	for gi, g := range m.GetGroup() {
		gp := measureGroupPath(gi)
		switch {
		case g.GetCode() == nil:
			missing(gp, gp+".code")
		case !hasCode(g.GetCode()):
			missing(gp+".code", gp+".code.coding.code")
		}
		for _, c := range g.GetCode().GetCoding() {
			k := keyOf(c)
			if first, dup := groupCodes[k]; dup && first != gi {
				issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Duplicate, gp+".code",
					"group code %s is also the code of Measure.group[%d]; QRPH-59 2:3.59.4.2.2 requires a code unique within the Measure", k, first))
			} else if !dup {
				groupCodes[k] = gi
			}
		}
		if g.GetDescription().GetValue() == "" {
			missing(gp, gp+".description")
		}
		if len(g.GetPopulation()) == 0 {
			missing(gp, gp+".population")
		}
		for pi, p := range g.GetPopulation() {
			pp := idx(gp, "population", pi)
			switch {
			case p.GetCode() == nil:
				missing(pp, pp+".code")
			case !hasCode(p.GetCode()):
				missing(pp+".code", pp+".code.coding.code")
			}
		}
		for si, s := range g.GetStratifier() {
			sp := idx(gp, "stratifier", si)
			if len(s.GetComponent()) == 0 {
				missing(sp, sp+".component")
			}
			for ci, c := range s.GetComponent() {
				cp := idx(sp, "component", ci)
				if !hasCode(c.GetCode()) {
					missing(cp, cp+".code")
					continue
				}
				issues = append(issues, artifactIssues(artifacts, firstCode(c.GetCode()), cp+".code")...)
			}
		}
	}
	_, scheduleIssues := ParseSchedule(m)
	return append(issues, scheduleIssues...)
}

// labelled is a relatedArtifact with its index in Measure.relatedArtifact.
type labelled struct {
	index int
	ra    *dtpb.RelatedArtifact
}

// artifactsByLabel indexes Measure.relatedArtifact by label; the first
// depends-on artifact with a label wins over later ones.
func artifactsByLabel(m *mpb.Measure) map[string]labelled {
	out := map[string]labelled{}
	for i, ra := range m.GetRelatedArtifact() {
		label := ra.GetLabel().GetValue()
		if label == "" {
			continue
		}
		prev, ok := out[label]
		if !ok || (!isDependsOn(prev.ra) && isDependsOn(ra)) {
			out[label] = labelled{index: i, ra: ra}
		}
	}
	return out
}

func isDependsOn(ra *dtpb.RelatedArtifact) bool {
	return ra.GetType().GetValue() == cpb.RelatedArtifactTypeCode_DEPENDS_ON
}

// artifactURL is where a relatedArtifact points: url, else resource.
func artifactURL(ra *dtpb.RelatedArtifact) string {
	if u := ra.GetUrl().GetValue(); u != "" {
		return u
	}
	return ra.GetResource().GetValue()
}

// artifactIssues checks that the component code label has a usable
// depends-on relatedArtifact (QRPH-59 2:3.59.4.2.2: "There must be a
// relatedArtifact ... for each disaggregation set").
func artifactIssues(artifacts map[string]labelled, label, componentExpr string) []oo.Issue {
	a, ok := artifacts[label]
	switch {
	case !ok:
		return []oo.Issue{oo.Issuef(oo.SeverityFatal, oo.Required, componentExpr,
			"stratifier component code '%s' has no Measure.relatedArtifact with label '%s'; QRPH-59 2:3.59.4.2.2 requires one of type depends-on pointing at the value set of its values", label, label)}
	case !isDependsOn(a.ra):
		return []oo.Issue{oo.Issuef(oo.SeverityFatal, oo.Value, idx("Measure", "relatedArtifact", a.index)+".type",
			"relatedArtifact '%s' has type %s; expected depends-on (QRPH-59 2:3.59.4.2.2)", label, typeName(a.ra))}
	case artifactURL(a.ra) == "":
		return []oo.Issue{oo.Issuef(oo.SeverityFatal, oo.Required, idx("Measure", "relatedArtifact", a.index),
			"relatedArtifact '%s' has no url (or resource); QRPH-59 2:3.59.4.2.2 requires the URL of the value set of the component's values", label)}
	}
	return nil
}

func typeName(ra *dtpb.RelatedArtifact) string {
	if ra.GetType() == nil {
		return "(none)"
	}
	return contentNameOf(ra.GetType().GetValue().String())
}
