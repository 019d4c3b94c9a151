package measures

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"

	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

// Options tune Compile. The zero value is the conformant default: terminology
// gaps are warnings and subjects are checked against the Registry.
type Options struct {
	// StrictTerminology makes a relatedArtifact that resolves to nothing a
	// fatal Compile issue, and makes Check reject component values that
	// cannot be verified (values of an unresolvable artifact, codes a
	// fragment CodeSystem does not list, codes behind an unsupported
	// filter). By default those are warnings and the values are accepted.
	StrictTerminology bool
	// SkipSubjectCheck turns off matching MeasureReport.subject and
	// reporter against the Registry (a missing subject is still fatal).
	// It is a Skip flag rather than a SubjectCheck flag so that the zero
	// Options check subjects, as IHE Test Case 3 expects.
	SkipSubjectCheck bool
}

// Definition is a Measure compiled for checking reports: its group,
// population and stratifier codes and the expanded value sets of its
// stratifier components, as lookup tables keyed by {system, code}. It is
// immutable and safe for concurrent use.
type Definition struct {
	url, version string
	improvement  []codeKey
	groups       []*groupDef
	groupByCode  map[codeKey]int
	opts         Options
	deps         []string
	schedule     *Schedule    // nil: reports may come for any period, at any time
	scratch      sync.Pool    // *scratch, reused by Check to detect duplicate strata without allocating
	seed         maphash.Seed // for stratum hashes; random, but hashes only order candidate duplicates
}

type groupDef struct {
	index       int    // in Measure.group
	label       string // code, for diagnostics
	populations map[codeKey]int
	popLabels   []string
	stratifiers []*stratDef
}

type stratDef struct {
	index      int // in Measure.group.stratifier
	id         string
	codes      map[codeKey]struct{} // Measure stratifier.code codings
	label      string               // for diagnostics: id and component codes
	components []*componentDef
	byCode     map[codeKey]int // component code coding -> index in components
}

type componentDef struct {
	label    string   // the component code's code = the relatedArtifact label
	artifact string   // relatedArtifact url, "" when the Measure has none
	set      *codeSet // nil: the artifact resolved to nothing
	expected string   // "a code of X (Measure relatedArtifact 'L'), one of: ..."
}

// Compile builds the Definition of m, expanding the value set (or code
// system) each stratifier component's relatedArtifact points at through t.
//
// Issues are about terminology, with Measure expressions: a warning (fatal
// with StrictTerminology) per relatedArtifact that resolves to nothing, and a
// warning per artifact whose expansion is incomplete (fragment CodeSystem,
// system not stored, unsupported filter). Compile does not re-check the
// mADX-Measure profile: that is ValidateMeasure's job; a Measure that
// violates it still compiles as far as it can.
//
// A nil t stores nothing: every artifact is unresolvable.
//
// The error is non-nil only when t fails (wrapped, with the canonical it
// was resolving); the Definition is then nil.
func Compile(ctx context.Context, m *mpb.Measure, t Terminology, opts Options) (*Definition, []oo.Issue, error) {
	d := &Definition{
		url:         m.GetUrl().GetValue(),
		version:     m.GetVersion().GetValue(),
		groupByCode: map[codeKey]int{},
		opts:        opts,
	}
	d.scratch.New = func() any { return new(scratch) }
	d.seed = maphash.MakeSeed()
	d.schedule, _ = ParseSchedule(m) // a malformed one was refused when the Measure was written
	for _, c := range m.GetImprovementNotation().GetCoding() {
		d.improvement = append(d.improvement, keyOf(c))
	}

	e := newExpander(ctx, t)
	artifacts := artifactsByLabel(m)
	components := map[string]*componentDef{} // by label: one expansion and one issue per artifact
	var issues []oo.Issue
	component := func(label, expr string) (*componentDef, error) {
		if cd, ok := components[label]; ok {
			return cd, nil
		}
		cd, is, err := compileComponent(e, artifacts, label, expr, opts)
		if err != nil {
			return nil, err
		}
		components[label] = cd
		issues = append(issues, is...)
		return cd, nil
	}

	for gi, g := range m.GetGroup() {
		gd := &groupDef{index: gi, label: firstCode(g.GetCode()), populations: map[codeKey]int{}}
		for _, c := range g.GetCode().GetCoding() {
			if _, dup := d.groupByCode[keyOf(c)]; !dup {
				d.groupByCode[keyOf(c)] = len(d.groups)
			}
		}
		for pi, p := range g.GetPopulation() {
			for _, c := range p.GetCode().GetCoding() {
				gd.populations[keyOf(c)] = pi
			}
			gd.popLabels = append(gd.popLabels, firstCode(p.GetCode()))
		}
		for si, s := range g.GetStratifier() {
			sd := &stratDef{index: si, id: s.GetId().GetValue(), codes: map[codeKey]struct{}{}, byCode: map[codeKey]int{}}
			for _, c := range s.GetCode().GetCoding() {
				sd.codes[keyOf(c)] = struct{}{}
			}
			var labels []string
			for ci, c := range s.GetComponent() {
				label := firstCode(c.GetCode())
				cd, err := component(label, idx(idx(measureGroupPath(gi), "stratifier", si), "component", ci)+".code")
				if err != nil {
					return nil, nil, fmt.Errorf("measures: compile Measure %s|%s: %w", d.url, d.version, err)
				}
				for _, cc := range c.GetCode().GetCoding() {
					sd.byCode[keyOf(cc)] = len(sd.components)
				}
				sd.components = append(sd.components, cd)
				labels = append(labels, label)
			}
			sd.label = fmt.Sprintf("'%s' (components %s)", sd.id, strings.Join(labels, ", "))
			gd.stratifiers = append(gd.stratifiers, sd)
		}
		d.groups = append(d.groups, gd)
	}
	d.deps = e.dependencies()
	return d, issues, nil
}

// compileComponent expands the artifact labelled label.
func compileComponent(e *expander, artifacts map[string]labelled, label, expr string, opts Options) (*componentDef, []oo.Issue, error) {
	cd := &componentDef{label: label}
	sev := oo.SeverityWarning
	if opts.StrictTerminology {
		sev = oo.SeverityFatal
	}
	a, ok := artifacts[label]
	if !ok || artifactURL(a.ra) == "" {
		cd.expected = "a code of the value set of Measure relatedArtifact '" + label + "', which the Measure does not give"
		return cd, []oo.Issue{oo.Issuef(sev, oo.NotFound, expr,
			"stratifier component code '%s' has no Measure.relatedArtifact with that label and a url: its values cannot be checked", label)}, nil
	}
	cd.artifact = artifactURL(a.ra)
	raExpr := idx("Measure", "relatedArtifact", a.index)
	x, err := e.expand(cd.artifact, 0)
	if err != nil {
		return nil, nil, err
	}
	if !x.found {
		cd.expected = "a code of " + cd.artifact + " (Measure relatedArtifact '" + label + "'), which is not stored"
		consequence := "values of component '" + label + "' are accepted unchecked"
		if opts.StrictTerminology {
			consequence = "reports with values of component '" + label + "' are rejected (strict terminology)"
		}
		return cd, []oo.Issue{oo.Issuef(sev, oo.NotFound, raExpr,
			"relatedArtifact '%s' points at %s, which is neither a stored ValueSet nor a stored CodeSystem; %s", label, cd.artifact, consequence)}, nil
	}
	cd.set = x.set
	cd.expected = "a code of " + cd.artifact + " (Measure relatedArtifact '" + label + "')"
	if codes := e.listed(x.set); len(codes) > 0 {
		cd.expected += ", one of: " + listCodes(codes, 20)
	}
	var issues []oo.Issue
	if !x.set.complete() || len(x.gaps) > 0 {
		consequence := "such codes are accepted with a warning"
		if opts.StrictTerminology {
			consequence = "such codes are rejected (strict terminology)"
		}
		issues = append(issues, oo.Issuef(oo.SeverityWarning, oo.Incomplete, raExpr,
			"the %s %s of relatedArtifact '%s' cannot be fully expanded (%s); %s", x.kind, cd.artifact, label, joinGaps(x.gaps), consequence))
	}
	return cd, issues, nil
}

// Dependencies returns the canonicals of every ValueSet and CodeSystem
// Compile asked the Terminology for, found or not, sorted: storing, changing
// or deleting any of them must invalidate this Definition.
func (d *Definition) Dependencies() []string { return append([]string(nil), d.deps...) }

// Measure returns the canonical url and version of the compiled Measure.
func (d *Definition) Measure() (url, version string) { return d.url, d.version }

// Schedule is the Measure's reporting schedule, nil when it has none.
func (d *Definition) Schedule() *Schedule { return d.schedule }
