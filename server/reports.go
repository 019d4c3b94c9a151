package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
)

type snapshotKey struct{}

// withSnapshot fixes the definitions snapshot for everything done with
// ctx, so a Bundle of 1,000 reports checks stamps once, not 1,000 times.
func (s *Server) withSnapshot(ctx context.Context) (context.Context, error) {
	sn, err := s.defs.snapshot(ctx)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, snapshotKey{}, sn), nil
}

func (s *Server) snapshotOf(ctx context.Context) (*snapshot, error) {
	if sn, ok := ctx.Value(snapshotKey{}).(*snapshot); ok {
		return sn, nil
	}
	return s.defs.snapshot(ctx)
}

// validate applies the business rules of p's type and refines p.index with
// what they resolve (the report's subject and business key). Issues of
// severity fatal or error reject the resource.
func (s *Server) validate(ctx context.Context, p *prepared) ([]oo.Issue, error) {
	switch r := p.res.(type) {
	case *mpb.Measure:
		// QRPH-59 2:3.59.4.2.2: the Content Data Structure Creator side.
		return measures.ValidateMeasure(r), nil
	case *mrpb.MeasureReport:
		return s.checkReport(ctx, r, p)
	}
	return nil, nil
}

// checkReport checks a MeasureReport against the Measure it names and the
// Registry of facilities (QRPH-58 2:3.58.4.1.2), all issues in one pass.
func (s *Server) checkReport(ctx context.Context, r *mrpb.MeasureReport, p *prepared) ([]oo.Issue, error) {
	sn, err := s.snapshotOf(ctx)
	if err != nil {
		return nil, err
	}
	subject, subjectIssues := sn.registry.ResolveSubject(r)
	if s.opts.Validation.SkipSubjectCheck {
		subject, subjectIssues = measures.SubjectRef{}, nil
		if r.GetSubject() == nil {
			subjectIssues = []oo.Issue{oo.Issuef(oo.SeverityFatal, oo.Required, "MeasureReport", "MeasureReport.subject is required but is missing.")}
		}
	}
	if err := s.authorizeSubject(ctx, sn, r, subject); err != nil {
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
	issues := cm.def.Check(r, sn.registry)
	if s.opts.Validation.StrictTerminology {
		issues = append(issues, oo.Problems(cm.issues)...)
	}
	if subject.Reference != "" {
		p.index.Subject = subject.Reference
	}
	p.index.ReportKey = measures.ReportKey(r, subject)
	return issues, nil
}

// claimReportKey applies the resubmission rule (docs/validation.md): a
// report is identified by (measure, subject, period). A create whose key is
// already held becomes an update of the holder (same id, new version); an
// update of another id for a held key answers 409 naming the holder.
func (s *Server) claimReportKey(ctx context.Context, p *prepared, create bool) (bool, error) {
	if p.index.ReportKey == "" {
		return false, nil
	}
	holders, err := s.opts.Store.ReportKeyHolders(ctx, []string{p.index.ReportKey})
	if err != nil {
		return false, err
	}
	return applyReportKey(p, holders, create)
}

// applyReportKey is the resubmission rule given the holders of the keys
// (store.ReportKeyHolders), so a Bundle looks up all its keys at once. It
// reports whether p now updates an existing report.
func applyReportKey(p *prepared, holders map[string]string, create bool) (bool, error) {
	holder, held := holders[p.index.ReportKey]
	if p.index.ReportKey == "" || !held {
		return false, nil
	}
	if create {
		p.id = holder
		setID(p.res, holder)
		return true, nil
	}
	if holder != p.id {
		return false, reportKeyConflict(p, holder)
	}
	return false, nil
}

func reportKeyConflict(p *prepared, holder string) error {
	return oo.Errorf(http.StatusConflict, oo.Duplicate, "MeasureReport",
		"A report for the same measure, subject and period (%s) is already stored as MeasureReport/%s; send corrections to that id (PUT MeasureReport/%s) instead of a new one.",
		strings.ReplaceAll(p.index.ReportKey, " ", ", "), holder, holder)
}
