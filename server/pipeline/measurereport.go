package pipeline

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/concept_map_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
)

type snapshotKey struct{}

// WithSnapshot fixes the definitions snapshot for everything done with
// ctx, so a Bundle of 1,000 reports checks stamps once, not 1,000 times.
func (p *Pipeline) WithSnapshot(ctx context.Context) (context.Context, error) {
	sn, err := p.defs.snapshot(ctx)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, snapshotKey{}, sn), nil
}

func (p *Pipeline) snapshotOf(ctx context.Context) (*snapshot, error) {
	switch v := ctx.Value(snapshotKey{}).(type) {
	case *snapshot:
		return v, nil
	case *lazySnapshot:
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.sn == nil {
			sn, err := p.defs.snapshot(ctx)
			if err != nil {
				return nil, err
			}
			v.sn = sn
		}
		return v.sn, nil
	}
	return p.defs.snapshot(ctx)
}

// lazySnapshot is a snapshot taken when first needed and then kept for
// the rest of one request: a single PUT by a facility asked for the stamps
// twice, once to validate and once to check its rights on the stored
// version (a MongoDB round trip each, issue 13), and a write that needs no
// definitions asks for none.
type lazySnapshot struct {
	mu sync.Mutex
	sn *snapshot
}

// oneSnapshot makes everything done with the returned context share one
// snapshot, unless ctx already fixes one.
func oneSnapshot(ctx context.Context) context.Context {
	if ctx.Value(snapshotKey{}) != nil {
		return ctx
	}
	return context.WithValue(ctx, snapshotKey{}, &lazySnapshot{})
}

// validate applies the business rules of pr's type and refines pr.Index with
// what they resolve (the report's subject and business key). Issues of
// severity fatal or error reject the resource.
func (p *Pipeline) validate(ctx context.Context, pr *Prepared) ([]oo.Issue, error) {
	switch r := pr.Res.(type) {
	case *mpb.Measure:
		// QRPH-59 2:3.59.4.2.2: the Content Data Structure Creator side.
		return measures.ValidateMeasure(r), nil
	case *mrpb.MeasureReport:
		return p.checkReport(ctx, r, pr)
	case *cmpb.ConceptMap:
		// A site map whose targets name no Location is stored, with
		// warnings: its Locations may come later (docs/validation.md).
		sn, err := p.snapshotOf(ctx)
		if err != nil {
			return nil, err
		}
		return sn.registry.CheckSiteMap(r), nil
	}
	return nil, nil
}

// checkReport checks a MeasureReport against the Measure it names and the
// Registry of facilities (QRPH-58 2:3.58.4.1.2), all issues in one pass.
func (p *Pipeline) checkReport(ctx context.Context, r *mrpb.MeasureReport, pr *Prepared) ([]oo.Issue, error) {
	sn, err := p.snapshotOf(ctx)
	if err != nil {
		return nil, err
	}
	subject, subjectIssues := sn.registry.ResolveSubject(r)
	if p.opts.Validation.SkipSubjectCheck {
		subject, subjectIssues = measures.SubjectRef{}, nil
		if r.GetSubject() == nil {
			subjectIssues = []oo.Issue{oo.Issuef(oo.SeverityFatal, oo.Required, "MeasureReport", "MeasureReport.subject is required but is missing.")}
		}
	}
	nameLocation(r, subject)
	if err := p.authorizeSubject(ctx, sn, r, subject); err != nil {
		return nil, err
	}
	canonical := r.GetMeasure().GetValue()
	if canonical == "" {
		return append(subjectIssues, oo.Issuef(oo.SeverityFatal, oo.Required, "MeasureReport",
			"MeasureReport.measure is required: expected the canonical url of the Measure this report answers.")), nil
	}
	cm, err := sn.measure(ctx, canonical)
	var oe *oo.Error
	if errors.As(err, &oe) && oe.Status == http.StatusUnprocessableEntity {
		return append(oe.Issues, subjectIssues...), nil
	}
	if err != nil {
		return nil, err
	}
	pr.Index.ReportKey = measures.ReportKey(r, subject)
	issues := cm.def.Check(r, sn.registry)
	if oo.HasProblems(issues) && !strings.Contains(canonical, "|") {
		cm, issues = p.resubmission(ctx, sn, r, pr.Index.ReportKey, cm, issues)
	}
	if p.opts.Validation.StrictTerminology {
		issues = append(issues, oo.Problems(cm.issues)...)
	}
	if subject.Reference != "" {
		pr.Index.Subject = subject.Reference
	}
	// Searchable as a token: validated-against=url|version, or url| for any
	// version. One token row only (each costs the store's writer an index
	// insert per report): a version alone, without its Measure, is no
	// question anyone asks.
	url, version := cm.def.Measure()
	pr.Index.Tokens = append(pr.Index.Tokens, ValidatedAgainst+"="+url+"|"+version)
	return append(issues, p.checkSchedule(ctx, cm.def, r, pr)...), nil
}

// nameLocation makes a subject that a sender named by its own code
// (subject.identifier, an ADX orgUnit) name the jurisdiction's Location it
// resolved to as well: the stored report says which facility it is about
// in the jurisdiction's terms (subject.reference) and keeps the sender's
// code (subject.identifier) beside it. This is done before rights are
// checked and the report is validated, so both see the Location.
func nameLocation(r *mrpb.MeasureReport, subject measures.SubjectRef) {
	id, ok := strings.CutPrefix(subject.Reference, "Location/")
	if !ok || (subject.MatchedBy != "identifier" && subject.MatchedBy != "site map") || r.GetSubject().GetReference() != nil {
		return
	}
	r.Subject.Reference = &dtpb.Reference_LocationId{LocationId: &dtpb.ReferenceId{Value: id}}
}

// ValidatedAgainst is the index token (and search parameter) that pins a
// stored report to the Measure version that validated it: url|version.
const ValidatedAgainst = "validated-against"

// resubmission is the rule for a report that names its Measure without a
// version and fails the current one (docs/validation.md): when it corrects
// a stored report (same measure, subject and period), it is checked against
// the version that validated the stored one, so that publishing a new
// version does not turn away corrections of periods reported under the old
// one. It passes only if that version accepts it, with a warning naming
// both versions; otherwise the current version's issues stand.
func (p *Pipeline) resubmission(ctx context.Context, sn *snapshot, r *mrpb.MeasureReport, key string, cur *compiledMeasure, issues []oo.Issue) (*compiledMeasure, []oo.Issue) {
	pinned, err := p.pinnedMeasure(ctx, key)
	url, version := cur.def.Measure()
	if err != nil || pinned == "" || pinned == url+"|"+version {
		return cur, issues
	}
	old, err := sn.measure(ctx, pinned)
	if err != nil {
		return cur, issues
	}
	oldIssues := old.def.Check(r, sn.registry)
	if oo.HasProblems(oldIssues) {
		return cur, issues
	}
	_, oldVersion := old.def.Measure()
	return old, append(oldIssues, oo.Issuef(oo.SeverityWarning, oo.BusinessRule, "MeasureReport.measure",
		"This report corrects a stored report that version %s of %s validated, so it was checked against that version; it does not meet the current version %s. Name the version in MeasureReport.measure (%s|%s) to choose one.",
		oldVersion, url, version, url, version))
}

// pinnedMeasure is the url|version that validated the stored report
// holding key, or "".
func (p *Pipeline) pinnedMeasure(ctx context.Context, key string) (string, error) {
	holders, err := p.opts.Store.ReportKeyHolders(ctx, []string{key})
	if err != nil || holders[key] == "" {
		return "", err
	}
	cur, err := p.opts.Store.Read(ctx, "MeasureReport", holders[key])
	if err != nil {
		return "", err
	}
	for _, t := range cur.Index.Tokens {
		if v, ok := strings.CutPrefix(t, ValidatedAgainst+"="); ok && strings.Contains(v, "|") {
			return v, nil
		}
	}
	return "", nil
}

// applyReportKey applies the resubmission rule (docs/validation.md) given
// the holders of the keys (store.ReportKeyHolders, one query for a whole
// Bundle): a report is identified by (measure, subject, period). A create
// whose key is already held becomes an update of the holder (same id, new
// version); an update of another id for a held key answers 409 naming the
// holder. It reports whether p now updates an existing report.
func applyReportKey(p *Prepared, holders map[string]string, create bool) (bool, error) {
	holder, held := holders[p.Index.ReportKey]
	if p.Index.ReportKey == "" || !held {
		return false, nil
	}
	if create {
		p.ID = holder
		setID(p.Res, holder)
		return true, nil
	}
	if holder != p.ID {
		return false, reportKeyConflict(p, holder)
	}
	return false, nil
}

func reportKeyConflict(p *Prepared, holder string) error {
	return oo.Errorf(http.StatusConflict, oo.Duplicate, "MeasureReport",
		"A report for the same measure, subject and period (%s) is already stored as MeasureReport/%s; send corrections to that id (PUT MeasureReport/%s) instead of a new one.",
		strings.ReplaceAll(p.Index.ReportKey, " ", ", "), holder, holder)
}
