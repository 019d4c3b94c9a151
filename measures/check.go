package measures

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"

	"github.com/madx-project/madx/internal/fhirtime"
	oo "github.com/madx-project/madx/operationoutcome"
)

// Check validates r against the mADX-MeasureReport profile and the compiled
// Measure, and returns every issue in one pass (QRPH-58 2:3.58.4.2.3: a
// facility fixing its report should see all its problems at once); nil
// when r is valid and nothing is worth a warning. A report with a fatal
// issue must be rejected; warnings are for accepted reports.
//
// reg is the Registry subject and reporter are matched against (see
// Registry.ResolveSubject); a nil reg knows no facility. Matching is skipped
// with Options.SkipSubjectCheck.
//
// Check does not look up MeasureReport.measure: the caller resolved it to
// the Measure this Definition was compiled from; a report naming another
// Measure gets a fatal issue. On a valid report Check allocates nothing per
// stratum.
func (d *Definition) Check(r *mrpb.MeasureReport, reg *Registry) []oo.Issue {
	c := checker{d: d}
	c.header(r, reg)
	c.groups(r)
	return c.issues
}

// checker accumulates the issues of one Check.
type checker struct {
	d      *Definition
	issues []oo.Issue
}

func (c *checker) add(sev oo.Severity, code oo.IssueType, expr, format string, args ...any) {
	c.issues = append(c.issues, oo.Issuef(sev, code, expr, format, args...))
}

func (c *checker) fatal(code oo.IssueType, expr, format string, args ...any) {
	c.add(oo.SeverityFatal, code, expr, format, args...)
}

func (c *checker) required(expr, elem, why string) {
	c.fatal(oo.Required, expr, "%s is required (%s) but is missing", elem, why)
}

// header checks the report's own elements: measure, status, type, subject,
// reporter, period and improvementNotation.
func (c *checker) header(r *mrpb.MeasureReport, reg *Registry) {
	switch canon := r.GetMeasure().GetValue(); {
	case canon == "":
		c.required("MeasureReport", "MeasureReport.measure", "R4 MeasureReport.measure 1..1")
	default:
		url, version := splitCanonical(canon)
		if url != c.d.url || (version != "" && version != c.d.version) {
			c.fatal(oo.BusinessRule, "MeasureReport.measure",
				"MeasureReport.measure is %s but the report was checked against Measure %s|%s", canon, c.d.url, c.d.version)
		}
	}
	if r.GetStatus().GetValue() == 0 {
		c.required("MeasureReport", "MeasureReport.status", "R4 MeasureReport.status 1..1")
	}
	if r.GetType().GetValue() == 0 {
		c.required("MeasureReport", "MeasureReport.type", "R4 MeasureReport.type 1..1")
	}
	if r.GetSubject() == nil {
		c.required("MeasureReport", "MeasureReport.subject", "mADX-MeasureReport subject 1..1, QRPH-58 2:3.58.4.1.2")
	} else if !c.d.opts.SkipSubjectCheck {
		_, is := reg.subject(r)
		c.issues = append(c.issues, is...)
	}
	if !c.d.opts.SkipSubjectCheck {
		c.issues = append(c.issues, reg.checkReporter(r)...)
	}
	c.period(r.GetPeriod())
	c.improvement(r.GetImprovementNotation())
}

func (c *checker) period(p *dtpb.Period) {
	const why = "mADX-MeasureReport period 1..1, R4 MeasureReport.period 1..1"
	switch {
	case p == nil:
		c.required("MeasureReport", "MeasureReport.period", why)
	case p.GetStart() == nil && p.GetEnd() == nil:
		c.required("MeasureReport.period", "MeasureReport.period.start and .end", "a reporting period has both ends")
	case p.GetStart() == nil:
		c.required("MeasureReport.period", "MeasureReport.period.start", "a reporting period has both ends")
	case p.GetEnd() == nil:
		c.required("MeasureReport.period", "MeasureReport.period.end", "a reporting period has both ends")
	case !periodOrdered(p.GetStart(), p.GetEnd()):
		lo, _ := fhirtime.Span(p.GetStart())
		_, hi := fhirtime.Span(p.GetEnd())
		c.fatal(oo.Invariant, "MeasureReport.period",
			"MeasureReport.period ends (%s) before it starts (%s); FHIR invariant per-1 requires start <= end",
			fhirtime.Day(hi-1, p.GetEnd().GetTimezone()), fhirtime.Day(lo, p.GetStart().GetTimezone()))
	}
}

// improvement warns when the report's improvementNotation contradicts the
// Measure's: QRPH-58 makes it optional in the report, but a report that
// says "decrease" for a Measure defined as "increase" is worth flagging.
func (c *checker) improvement(cc *dtpb.CodeableConcept) {
	if cc == nil {
		return
	}
	for _, co := range cc.GetCoding() {
		for _, k := range c.d.improvement {
			if keyOf(co) == k {
				return
			}
		}
	}
	want := "none"
	if len(c.d.improvement) > 0 {
		parts := make([]string, len(c.d.improvement))
		for i, k := range c.d.improvement {
			parts[i] = k.String()
		}
		want = strings.Join(parts, ", ")
	}
	c.add(oo.SeverityWarning, oo.BusinessRule, "MeasureReport.improvementNotation",
		"MeasureReport.improvementNotation is %s but Measure %s|%s defines %s (accepted: QRPH-58 makes it optional)",
		codingsText(cc), c.d.url, c.d.version, want)
}

// splitCanonical splits "url|version".
func splitCanonical(canon string) (url, version string) {
	if i := strings.LastIndexByte(canon, '|'); i >= 0 {
		return canon[:i], canon[i+1:]
	}
	return canon, ""
}

// firstSeen records where each small index was first seen, without
// allocating for the first 64 indexes (groups, populations and components
// are few).
type firstSeen struct {
	small [64]int32 // position+1, 0 = not seen
	big   map[int]int
}

// see records index at pos and returns the earlier position, if any. A
// negative index is never recorded.
func (f *firstSeen) see(index, pos int) (prev int, dup bool) {
	if index < 0 {
		return 0, false
	}
	if index < len(f.small) {
		if p := f.small[index]; p > 0 {
			return int(p) - 1, true
		}
		f.small[index] = int32(pos) + 1
		return 0, false
	}
	if f.big == nil {
		f.big = map[int]int{}
	}
	if p, ok := f.big[index]; ok {
		return p, true
	}
	f.big[index] = pos
	return 0, false
}
