package measures

import (
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
)

// ReportKey returns the business key that identifies a report across
// resubmissions: a second report with the same key is a correction of the
// first, whatever its id. The key is
//
//	<measure url without |version> <subject> <first day> <last day>
//
// separated by single spaces, e.g. "http://ohie.org/Measure/madx-hiv-indicator-example
// Location/HealthPost1 2025-01-01 2025-01-31".
//
//   - The Measure version is left out on purpose: a facility that resends
//     January after the jurisdiction published version 0.0.2 of the same
//     indicator is correcting January, and must not be counted twice.
//   - The subject is subject.Reference (the Registry match, so "#HealthPost1",
//     "Location/HealthPost1" and an identifier reference to it share one
//     key); when subject is zero (subject check skipped) it falls back to
//     the reference as written, or "identifier:<system>|<value>".
//   - The period is reduced to calendar days in its own time zone, honoring
//     precision: "2025-01" and "2025-01-01".."2025-01-31" are the same
//     month; a missing end is rendered as an empty field.
//
// Call it only on a report Check accepted: a report without measure, subject
// or period gets a key with empty fields.
func ReportKey(r *mrpb.MeasureReport, subject SubjectRef) string {
	url, _ := splitCanonical(r.GetMeasure().GetValue())
	subj := subject.Reference
	if subj == "" && r.GetSubject() != nil {
		t := parseReference(r.GetSubject())
		subj = t.text()
		if subj == "" && t.ident != nil {
			subj = "identifier:" + t.ident.GetSystem().GetValue() + "|" + t.ident.GetValue().GetValue()
		}
	}
	var first, last string
	if s := r.GetPeriod().GetStart(); s != nil {
		lo, _ := fhirtime.Span(s)
		first = fhirtime.Day(lo, s.GetTimezone())
	}
	if e := r.GetPeriod().GetEnd(); e != nil {
		_, hi := fhirtime.Span(e)
		last = fhirtime.Day(hi-1, e.GetTimezone())
	}
	return url + " " + subj + " " + first + " " + last
}
