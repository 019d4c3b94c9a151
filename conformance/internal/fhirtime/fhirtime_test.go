package fhirtime

import (
	"testing"
	"time"
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
