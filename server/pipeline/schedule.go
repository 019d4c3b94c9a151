package pipeline

import (
	"context"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
)

// ScopeLateWrite lets a client send reports and corrections for a period
// its Measure's reporting schedule has closed (the jurisdiction's data
// manager); every such write is audited like any other, and its answer
// says that the lock was overridden.
const ScopeLateWrite = "madx/late.write"

// checkSchedule applies the reporting schedule of the Measure that checks
// r (docs/reporting.md): the period must be one of the schedule's, must
// have started, and must not be closed unless the caller may override the
// lock; a report after the due date is accepted and tagged late. The
// timeliness tag is the server's to set: one the client sent is dropped.
// Without a schedule, only that.
func (p *Pipeline) checkSchedule(ctx context.Context, def *measures.Definition, r *mrpb.MeasureReport, pr *Prepared) []oo.Issue {
	dropTimeliness(r)
	s := def.Schedule()
	first, last, ok := reportDays(r)
	if s == nil || !ok {
		return nil // no schedule; or a period the Measure's rules already refuse
	}
	start, end, in := s.PeriodOf(first)
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	if !in {
		return []oo.Issue{oo.Issuef(oo.SeverityError, oo.BusinessRule, "MeasureReport.period.start",
			"MeasureReport.period starts on %s, before the Measure's first reporting period (%s): expected a %s period from %s on.",
			day(first), day(s.First), s.Every, day(s.First))}
	}
	if !first.Equal(start) || !last.Equal(end) {
		return []oo.Issue{oo.Issuef(oo.SeverityError, oo.BusinessRule, "MeasureReport.period",
			"MeasureReport.period is %s to %s, which is not one of the Measure's %s reporting periods: expected %s to %s for the period that contains %s.",
			day(first), day(last), s.Every, day(start), day(end), day(first))}
	}
	now := p.opts.Now().UTC()
	if start.After(now) {
		return []oo.Issue{oo.Issuef(oo.SeverityError, oo.BusinessRule, "MeasureReport.period",
			"MeasureReport.period %s to %s has not started yet (today is %s): reports for future periods are refused.", day(start), day(end), day(now))}
	}
	var issues []oo.Issue
	if closes := s.ClosesAt(end); !closes.IsZero() && !now.Before(closes) {
		who, _ := auth.FromContext(ctx)
		if !who.HasScope(ScopeLateWrite) {
			return []oo.Issue{oo.Issuef(oo.SeverityError, oo.BusinessRule, "MeasureReport.period",
				"The reporting period %s to %s closed on %s (%d days after it ended): reports and corrections for it are refused. The jurisdiction can accept one with a client holding the scope %s.",
				day(start), day(end), day(closes), s.Lock, ScopeLateWrite)}
		}
		issues = append(issues, oo.Issuef(oo.SeverityWarning, oo.BusinessRule, "MeasureReport.period",
			"The reporting period %s to %s closed on %s; accepted because the client holds %s (recorded in the audit trail).",
			day(start), day(end), day(closes), ScopeLateWrite))
	}
	if due := s.DueBy(end); !now.Before(due) {
		r.Meta = withLateTag(r.GetMeta())
		pr.Index.Tokens = appendSystemValue(pr.Index.Tokens, "_tag", measures.TimelinessSystem, "late")
		issues = append(issues, oo.Issuef(oo.SeverityInformation, oo.Informational, "MeasureReport.meta.tag",
			"Received after the due date of %s to %s (%s): accepted and tagged late (meta.tag %s|late).",
			day(start), day(end), day(due.AddDate(0, 0, -1)), measures.TimelinessSystem))
	}
	return issues
}

// reportDays are the first and last days of r's period (UTC civil days,
// as the report key reads them).
func reportDays(r *mrpb.MeasureReport) (first, last time.Time, ok bool) {
	s, e := r.GetPeriod().GetStart(), r.GetPeriod().GetEnd()
	if s == nil || e == nil {
		return time.Time{}, time.Time{}, false
	}
	lo, _ := fhirtime.Span(s)
	_, hi := fhirtime.Span(e)
	f, err1 := time.Parse(time.DateOnly, fhirtime.Day(lo, s.GetTimezone()))
	l, err2 := time.Parse(time.DateOnly, fhirtime.Day(hi-1, e.GetTimezone()))
	return f, l, err1 == nil && err2 == nil && !l.Before(f)
}

// dropTimeliness removes the timeliness tags a client sent.
func dropTimeliness(r *mrpb.MeasureReport) {
	m := r.GetMeta()
	if m == nil {
		return
	}
	kept := m.Tag[:0]
	for _, t := range m.Tag {
		if t.GetSystem().GetValue() != measures.TimelinessSystem {
			kept = append(kept, t)
		}
	}
	m.Tag = kept
}

func withLateTag(m *dpb.Meta) *dpb.Meta {
	if m == nil {
		m = &dpb.Meta{}
	}
	m.Tag = append(m.Tag, &dpb.Coding{
		System:  &dpb.Uri{Value: measures.TimelinessSystem},
		Code:    &dpb.Code{Value: "late"},
		Display: &dpb.String{Value: "Received after the due date"},
	})
	return m
}
