package adx

import (
	"fmt"
	"strings"
	"time"
)

// Period is an ADX period mapped to MeasureReport.period: Start and End
// are dates, End inclusive.
type Period struct {
	Start, End time.Time
}

// periodStarts lists, for each duration madx reads, where a period of it
// may start: DHIS2's period types (Daily; Weekly, WeeklyWednesday,
// WeeklyThursday, WeeklySaturday, WeeklySunday; Monthly; BiMonthly;
// Quarterly; SixMonthly, SixMonthlyApril; Yearly, FinancialApril,
// FinancialJuly, FinancialOct, FinancialNov).
var periodStarts = map[string]struct {
	days, months int
	ok           func(time.Time) bool
	expected     string
}{
	"P1D": {days: 1, ok: func(time.Time) bool { return true }, expected: "any date"},
	"P7D": {days: 7, ok: func(t time.Time) bool {
		switch t.Weekday() {
		case time.Monday, time.Wednesday, time.Thursday, time.Saturday, time.Sunday:
			return true
		}
		return false
	}, expected: "a Monday (ISO week), Wednesday, Thursday, Saturday or Sunday"},
	"P1M": {months: 1, ok: func(t time.Time) bool { return t.Day() == 1 }, expected: "the first day of a month"},
	"P2M": {months: 2, ok: func(t time.Time) bool { return t.Day() == 1 && t.Month()%2 == 1 }, expected: "the first day of January, March, May, July, September or November"},
	"P3M": {months: 3, ok: func(t time.Time) bool { return t.Day() == 1 && (t.Month()-1)%3 == 0 }, expected: "the first day of January, April, July or October"},
	"P6M": {months: 6, ok: func(t time.Time) bool { return t.Day() == 1 && (t.Month()-1)%3 == 0 }, expected: "the first day of January or July (or April or October: six months from April)"},
	"P1Y": {months: 12, ok: func(t time.Time) bool {
		switch t.Month() {
		case time.January, time.April, time.July, time.October, time.November:
			return t.Day() == 1
		}
		return false
	}, expected: "the first day of January (calendar year), or of April, July, October or November (financial years)"},
}

// ParsePeriod reads an ADX period, "start/duration" (ISO 8601, as the ADX
// profile and DHIS2 write it: 2015-06-01/P1M). The error says what was
// expected.
func ParsePeriod(s string) (Period, error) {
	startText, dur, ok := strings.Cut(s, "/")
	if !ok {
		return Period{}, fmt.Errorf("period %q is not start/duration; expected e.g. 2015-06-01/P1M", s)
	}
	start, err := time.Parse("2006-01-02", startText)
	if err != nil {
		return Period{}, fmt.Errorf("period %q starts with %q, which is not a date YYYY-MM-DD", s, startText)
	}
	pt, ok := periodStarts[dur]
	if !ok {
		return Period{}, fmt.Errorf("period %q has duration %q; expected one of P1D, P7D, P1M, P2M, P3M, P6M, P1Y", s, dur)
	}
	if !pt.ok(start) {
		return Period{}, fmt.Errorf("period %q starts on %s (a %s), but a %s period starts on %s", s, startText, start.Weekday(), dur, pt.expected)
	}
	end := start.AddDate(0, pt.months, pt.days).AddDate(0, 0, -1)
	return Period{Start: start, End: end}, nil
}

// String writes the period back as ADX does.
func (p Period) String() string {
	d := p.End.AddDate(0, 0, 1)
	switch {
	case d.Sub(p.Start) == 24*time.Hour:
		return p.Start.Format("2006-01-02") + "/P1D"
	case d.Sub(p.Start) == 7*24*time.Hour:
		return p.Start.Format("2006-01-02") + "/P7D"
	}
	months := (d.Year()-p.Start.Year())*12 + int(d.Month()-p.Start.Month())
	if months == 12 {
		return p.Start.Format("2006-01-02") + "/P1Y"
	}
	return fmt.Sprintf("%s/P%dM", p.Start.Format("2006-01-02"), months)
}
