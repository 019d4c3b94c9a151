package measures

import (
	"fmt"
	"strconv"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
	oo "github.com/madx-project/madx/operationoutcome"
)

// ScheduleURL is madx's extension on Measure that publishes when reports
// are due (docs/reporting.md). Its parts are extensions of their own:
// periodType (code: week, month, quarter, year), yearStart (positiveInt,
// the first month of the year for quarter and year: 4 for a financial year
// from April), firstPeriod (date, the start of the first period), due and
// lock (Duration in days or weeks after the period's last day) and
// reporters (Reference to the Location, Organization or Group that owes
// the reports).
const ScheduleURL = "https://github.com/madx-project/madx/fhir/StructureDefinition/reporting-schedule"

// TimelinessSystem is the code system of the meta.tag madx puts on a
// report received after its period's due date (code "late").
const TimelinessSystem = "https://github.com/madx-project/madx/fhir/CodeSystem/timeliness"

// Schedule is a Measure's reporting schedule. Dates are civil days (UTC
// midnight): a period is [Start, Last], both inclusive.
type Schedule struct {
	Every     string     // week, month, quarter or year
	YearStart time.Month // first month of a quarter or year cycle
	First     time.Time  // start of the first period
	Due       int        // days after a period's last day that a report is on time
	Lock      int        // days after the last day that the period closes; -1: never
	Reporters string     // who owes reports: Location/x, Organization/x or Group/x; "" unknown
}

// ParseSchedule reads m's schedule: nil when m has none, and issues (at
// the extension's FHIRPath) when it is malformed.
func ParseSchedule(m *mpb.Measure) (*Schedule, []oo.Issue) {
	for i, ext := range m.GetExtension() {
		if ext.GetUrl().GetValue() == ScheduleURL {
			return parseSchedule(ext, fmt.Sprintf("Measure.extension[%d]", i))
		}
	}
	return nil, nil
}

func parseSchedule(ext *dpb.Extension, at string) (*Schedule, []oo.Issue) {
	s := &Schedule{YearStart: time.January, Lock: -1}
	var issues []oo.Issue
	bad := func(expr, format string, args ...any) {
		issues = append(issues, oo.Issuef(oo.SeverityError, oo.Invalid, expr, format, args...))
	}
	var hasFirst bool
	for j, part := range ext.GetExtension() {
		expr := fmt.Sprintf("%s.extension[%d]", at, j)
		v := part.GetValue()
		switch name := part.GetUrl().GetValue(); name {
		case "periodType":
			s.Every = v.GetCode().GetValue()
			switch s.Every {
			case "week", "month", "quarter", "year":
			default:
				bad(expr, "The reporting schedule's periodType is %q; expected a code: week, month, quarter or year.", s.Every)
			}
		case "yearStart":
			n := v.GetPositiveInt().GetValue()
			if n < 1 || n > 12 {
				bad(expr, "The reporting schedule's yearStart is %d; expected the first month of the year as a positiveInt from 1 to 12 (4 for a financial year from April).", n)
				continue
			}
			s.YearStart = time.Month(n)
		case "firstPeriod":
			d := v.GetDate()
			if d == nil || d.GetPrecision() != dpb.Date_DAY {
				bad(expr, "The reporting schedule's firstPeriod must be a full date (YYYY-MM-DD): the start of the first period.")
				continue
			}
			t, err := fhirtime.TimeIn(d.GetValueUs(), d.GetTimezone())
			if err != nil {
				bad(expr, "The reporting schedule's firstPeriod cannot be read: %v.", err)
				continue
			}
			s.First, hasFirst = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
		case "due", "lock":
			days, ok := durationDays(v.GetDuration())
			if !ok {
				bad(expr, "The reporting schedule's %s must be a Duration in days or weeks (code d or wk, UCUM) of 0 or more, after the period's last day.", name)
				continue
			}
			if name == "due" {
				s.Due = days
			} else {
				s.Lock = days
			}
		case "reporters":
			s.Reporters = v.GetReference().GetUri().GetValue()
			if ref := v.GetReference(); s.Reporters == "" && ref != nil {
				s.Reporters = referenceText(ref)
			}
		default:
			bad(expr, "The reporting schedule has a part %q this server does not know; expected periodType, yearStart, firstPeriod, due, lock or reporters.", name)
		}
	}
	if s.Every == "" {
		bad(at, "The reporting schedule has no periodType; expected week, month, quarter or year.")
	}
	if !hasFirst {
		bad(at, "The reporting schedule has no firstPeriod; expected the date its first period starts.")
	}
	if len(issues) == 0 {
		if start, _, ok := s.PeriodOf(s.First); !ok || !start.Equal(s.First) {
			bad(at, "The reporting schedule's firstPeriod %s is not the start of a %s period%s; expected a date where such a period starts.",
				s.First.Format(time.DateOnly), s.Every, yearStartNote(s))
		}
	}
	if s.Lock >= 0 && s.Lock < s.Due {
		bad(at, "The reporting schedule closes periods (lock, %d days) before reports are due (due, %d days); expected lock at or after due.", s.Lock, s.Due)
	}
	if len(issues) > 0 {
		return nil, issues
	}
	return s, nil
}

func yearStartNote(s *Schedule) string {
	if s.Every == "quarter" || s.Every == "year" {
		return fmt.Sprintf(" of a cycle starting in %s", s.YearStart)
	}
	return ""
}

func referenceText(ref *dpb.Reference) string {
	switch {
	case ref.GetLocationId() != nil:
		return "Location/" + ref.GetLocationId().GetValue()
	case ref.GetOrganizationId() != nil:
		return "Organization/" + ref.GetOrganizationId().GetValue()
	case ref.GetGroupId() != nil:
		return "Group/" + ref.GetGroupId().GetValue()
	}
	return ""
}

func durationDays(d *dpb.Duration) (int, bool) {
	if d == nil {
		return 0, false
	}
	n, err := strconv.Atoi(d.GetValue().GetValue())
	if err != nil || n < 0 {
		return 0, false
	}
	switch d.GetCode().GetValue() {
	case "d":
		return n, true
	case "wk":
		return 7 * n, true
	}
	return 0, false
}

// PeriodOf returns the schedule's period that contains day d (its start
// and last day), false when d is before the first period.
func (s *Schedule) PeriodOf(d time.Time) (start, last time.Time, ok bool) {
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	switch s.Every {
	case "week":
		days := int(d.Sub(s.First).Hours() / 24)
		if d.Before(s.First) {
			days -= 6 // floor division for days before First
		}
		start = s.First.AddDate(0, 0, 7*(days/7))
	case "month":
		start = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	case "quarter", "year":
		size := 3
		if s.Every == "year" {
			size = 12
		}
		months := (d.Year()*12 + int(d.Month()) - 1) - int(s.YearStart-1)
		months -= ((months % size) + size) % size
		start = time.Date(months/12, time.Month(months%12+1)+s.YearStart-1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Time{}, time.Time{}, false
	}
	return start, s.next(start).AddDate(0, 0, -1), !start.Before(s.First)
}

// next is the start of the period after the one starting at start.
func (s *Schedule) next(start time.Time) time.Time {
	switch s.Every {
	case "week":
		return start.AddDate(0, 0, 7)
	case "month":
		return start.AddDate(0, 1, 0)
	case "quarter":
		return start.AddDate(0, 3, 0)
	}
	return start.AddDate(1, 0, 0)
}

// DueBy is the last instant a report for the period ending on last is on
// time (the end of the due day, UTC); ClosesAt the instant the period
// locks, zero when it never does.
func (s *Schedule) DueBy(last time.Time) time.Time {
	return last.AddDate(0, 0, s.Due+1)
}

// ClosesAt is when the period ending on last closes; zero when never.
func (s *Schedule) ClosesAt(last time.Time) time.Time {
	if s.Lock < 0 {
		return time.Time{}
	}
	return last.AddDate(0, 0, s.Lock+1)
}
