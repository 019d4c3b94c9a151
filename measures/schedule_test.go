package measures

import (
	"strings"
	"testing"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSchedulePeriods(t *testing.T) {
	for _, tc := range []struct {
		s               Schedule
		d, start, last  string
		beforeFirstTime bool
	}{
		{Schedule{Every: "month", First: day("2024-01-01")}, "2025-02-14", "2025-02-01", "2025-02-28", false},
		{Schedule{Every: "month", First: day("2024-01-01")}, "2023-12-31", "2023-12-01", "2023-12-31", true},
		{Schedule{Every: "week", First: day("2024-12-30")}, "2025-01-08", "2025-01-06", "2025-01-12", false},
		{Schedule{Every: "quarter", YearStart: time.January, First: day("2024-01-01")}, "2025-05-20", "2025-04-01", "2025-06-30", false},
		{Schedule{Every: "quarter", YearStart: time.February, First: day("2024-02-01")}, "2025-01-15", "2024-11-01", "2025-01-31", false},
		{Schedule{Every: "year", YearStart: time.April, First: day("2020-04-01")}, "2025-03-31", "2024-04-01", "2025-03-31", false},
		{Schedule{Every: "year", YearStart: time.July, First: day("2020-07-01")}, "2025-07-01", "2025-07-01", "2026-06-30", false},
	} {
		start, last, ok := tc.s.PeriodOf(day(tc.d))
		if start.Format(time.DateOnly) != tc.start || last.Format(time.DateOnly) != tc.last || ok == tc.beforeFirstTime {
			t.Errorf("%s from %s, day %s: %s..%s (in %v), want %s..%s (in %v)", tc.s.Every, tc.s.First.Format(time.DateOnly), tc.d,
				start.Format(time.DateOnly), last.Format(time.DateOnly), ok, tc.start, tc.last, !tc.beforeFirstTime)
		}
	}
}

func scheduleMeasure(parts ...*dpb.Extension) *mpb.Measure {
	return &mpb.Measure{Extension: []*dpb.Extension{{Url: &dpb.Uri{Value: ScheduleURL}, Extension: parts}}}
}

func part(name string, v *dpb.Extension_ValueX) *dpb.Extension {
	return &dpb.Extension{Url: &dpb.Uri{Value: name}, Value: v}
}

func code(s string) *dpb.Extension_ValueX {
	return &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_Code{Code: &dpb.Code{Value: s}}}
}

func date(s string) *dpb.Extension_ValueX {
	return &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_Date{Date: &dpb.Date{ValueUs: day(s).UnixMicro(), Timezone: "UTC", Precision: dpb.Date_DAY}}}
}

func days(n string) *dpb.Extension_ValueX {
	return &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_Duration{Duration: &dpb.Duration{Value: &dpb.Decimal{Value: n}, Code: &dpb.Code{Value: "d"}}}}
}

func TestParseScheduleRefusesWhatItCannotRead(t *testing.T) {
	if s, issues := ParseSchedule(scheduleMeasure(part("periodType", code("month")), part("firstPeriod", date("2024-01-01")), part("due", days("10")))); len(issues) > 0 || s.Due != 10 || s.Lock != -1 {
		t.Fatalf("a valid schedule: %+v %v", s, issues)
	}
	for _, tc := range []struct {
		name string
		m    *mpb.Measure
		want string
	}{
		{"unknown period type", scheduleMeasure(part("periodType", code("fortnight")), part("firstPeriod", date("2024-01-01"))), `periodType is "fortnight"`},
		{"first period not a period start", scheduleMeasure(part("periodType", code("month")), part("firstPeriod", date("2024-01-15"))), "not the start of a month period"},
		{"no first period", scheduleMeasure(part("periodType", code("month"))), "no firstPeriod"},
		{"lock before due", scheduleMeasure(part("periodType", code("month")), part("firstPeriod", date("2024-01-01")), part("due", days("30")), part("lock", days("10"))), "before reports are due"},
		{"a part it does not know", scheduleMeasure(part("periodType", code("month")), part("firstPeriod", date("2024-01-01")), part("deadline", days("3"))), `part "deadline"`},
	} {
		s, issues := ParseSchedule(tc.m)
		if s != nil || len(issues) == 0 || !strings.Contains(issues[0].Diagnostics, tc.want) || len(issues[0].Expression) == 0 {
			t.Errorf("%s: %+v %v, want an issue saying %q", tc.name, s, issues, tc.want)
		}
	}
}
