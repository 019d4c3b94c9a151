package fhirtime

import (
	"testing"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
)

func TestTimeInAndBack(t *testing.T) {
	tests := []struct {
		tz         string
		wantOffset string
		wantErr    bool
	}{
		{"Z", "+00:00", false},
		{"UTC", "+00:00", false},
		{"+05:30", "+05:30", false},
		{"-03:00", "-03:00", false},
		{"Africa/Kigali", "+02:00", false},
		{"+5", "", true},
		{"Not/AZone", "", true},
	}
	us := time.Date(2025, 1, 31, 12, 0, 0, 123456000, time.UTC).UnixMicro()
	for _, tc := range tests {
		t.Run(tc.tz, func(t *testing.T) {
			got, err := TimeIn(us, tc.tz)
			if (err != nil) != tc.wantErr {
				t.Fatalf("TimeIn(%q): err=%v, want error %v", tc.tz, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if off := ZoneOffset(got); off != tc.wantOffset {
				t.Errorf("offset %s, want %s", off, tc.wantOffset)
			}
			if Micros(got) != us {
				t.Errorf("Micros(TimeIn(us)) = %d, want %d", Micros(got), us)
			}
			again, _ := Location(tc.tz)
			if first, _ := Location(tc.tz); first != again {
				t.Errorf("Location(%q) is not cached", tc.tz)
			}
		})
	}
}

// TestFormat writes every precision of every temporal type, in "Z" and in
// an offset zone, as jsonformat does.
func TestFormat(t *testing.T) {
	at := time.Date(2025, 2, 3, 4, 5, 6, 789012000, time.UTC)
	us := at.UnixMicro()
	tests := []struct {
		m    proto.Message
		want string
	}{
		{&dpb.Date{ValueUs: us, Timezone: "Z", Precision: dpb.Date_DAY}, "2025-02-03"},
		{&dpb.Date{ValueUs: us, Timezone: "Z", Precision: dpb.Date_MONTH}, "2025-02"},
		{&dpb.Date{ValueUs: us, Timezone: "Z", Precision: dpb.Date_YEAR}, "2025"},
		{&dpb.DateTime{ValueUs: us, Timezone: "Z", Precision: dpb.DateTime_SECOND}, "2025-02-03T04:05:06Z"},
		{&dpb.DateTime{ValueUs: us, Timezone: "+02:00", Precision: dpb.DateTime_MILLISECOND}, "2025-02-03T06:05:06.789+02:00"},
		{&dpb.DateTime{ValueUs: us, Timezone: "UTC", Precision: dpb.DateTime_MICROSECOND}, "2025-02-03T04:05:06.789012+00:00"},
		{&dpb.DateTime{ValueUs: us, Timezone: "Z", Precision: dpb.DateTime_DAY}, "2025-02-03"},
		{&dpb.Instant{ValueUs: us, Timezone: "Z", Precision: dpb.Instant_MICROSECOND}, "2025-02-03T04:05:06.789012Z"},
		{&dpb.Instant{ValueUs: us, Timezone: "-03:00", Precision: dpb.Instant_SECOND}, "2025-02-03T01:05:06-03:00"},
		{&dpb.Time{ValueUs: (4*3600 + 5*60 + 6) * 1e6, Precision: dpb.Time_SECOND}, "04:05:06"},
	}
	for _, tc := range tests {
		got, err := Format(tc.m)
		if err != nil || got != tc.want {
			t.Errorf("Format(%v) = %q, %v; want %q", tc.m, got, err, tc.want)
		}
	}
	if _, err := Format(&dpb.Date{ValueUs: us}); err == nil {
		t.Error("a Date without precision formatted without error")
	}
}
