package fhirtime

import (
	"testing"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

func TestSearchRange(t *testing.T) {
	tests := []struct {
		in, lo, hi string // hi "" means an error
	}{
		{"2025", "2025-01-01T00:00:00Z", "2025-12-31T23:59:59.999999Z"},
		{"2025-02", "2025-02-01T00:00:00Z", "2025-02-28T23:59:59.999999Z"},
		{"2024-02-29", "2024-02-29T00:00:00Z", "2024-02-29T23:59:59.999999Z"},
		{"2025-02-05T10:11", "2025-02-05T10:11:00Z", "2025-02-05T10:11:59.999999Z"},
		{"2025-02-05T10:11:12+02:00", "2025-02-05T08:11:12Z", "2025-02-05T08:11:12.999999Z"},
		{"2025-02-05T10:11:12.5Z", "2025-02-05T10:11:12.5Z", "2025-02-05T10:11:12.599999Z"},
		// Below a microsecond (the stores' resolution) the range is one instant.
		{"2025-02-05T10:11:12.1234567Z", "2025-02-05T10:11:12.1234567Z", "2025-02-05T10:11:12.1234567Z"},
		{"2025-02-30", "", ""},
		{"25-02", "", ""},
		{"2025-02-05T10", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			lo, hi, err := SearchRange(tc.in)
			if tc.hi == "" {
				if err == nil {
					t.Fatalf("SearchRange(%q) = %v, %v; want an error", tc.in, lo, hi)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := lo.Format(time.RFC3339Nano); got != tc.lo {
				t.Errorf("lo %s, want %s", got, tc.lo)
			}
			if got := hi.Format(time.RFC3339Nano); got != tc.hi {
				t.Errorf("hi %s, want %s", got, tc.hi)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	dt := func(s string) *dpb.DateTime {
		us, p, tz, ok := ParseDateTime(s, time.UTC)
		if !ok {
			t.Fatalf("ParseDateTime(%q) failed", s)
		}
		return &dpb.DateTime{ValueUs: us, Precision: p, Timezone: tz}
	}
	tests := []struct{ in, first, last string }{
		{"2025", "2025-01-01", "2025-12-31"},
		{"2025-02", "2025-02-01", "2025-02-28"},
		{"2025-02-05", "2025-02-05", "2025-02-05"},
		// The calendar is the value's own zone, not UTC.
		{"2025-02-05T23:30:00+05:00", "2025-02-05", "2025-02-05"},
		{"2025-02-05T00:30:00-03:00", "2025-02-05", "2025-02-05"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d := dt(tc.in)
			lo, hi := Span(d)
			if got := Day(lo, d.GetTimezone()); got != tc.first {
				t.Errorf("first day %s, want %s", got, tc.first)
			}
			if got := Day(hi-1, d.GetTimezone()); got != tc.last {
				t.Errorf("last day %s, want %s", got, tc.last)
			}
		})
	}
	for tz, want := range map[string]int{"Z": 0, "UTC": 0, "+05:30": 19800, "-03:00": -10800, "Africa/Kigali": 0, "+5:30": 0} {
		if got := Offset(tz); got != want {
			t.Errorf("Offset(%q) = %d, want %d", tz, got, want)
		}
	}
}
