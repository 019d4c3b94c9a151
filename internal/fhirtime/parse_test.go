package fhirtime

import (
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"github.com/google/go-cmp/cmp"
)

// The patterns jsonformat (v0.7.4) validates with; the hand-written
// matchers must agree with them on every string.
var (
	jfDate     = regexp.MustCompile(`^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1]))?)?$`)
	jfDateTime = regexp.MustCompile(`^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	jfTime     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?$`)
	jfInstant  = regexp.MustCompile(`^-?[0-9]{4}-(0[1-9]|1[0-2])-(0[0-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
)

// mutations returns seeds and n random edits of them over alphabet.
func mutations(seeds []string, alphabet string, n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := append([]string(nil), seeds...)
	for range n {
		b := []byte(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			c := alphabet[r.IntN(len(alphabet))]
			switch i := r.IntN(len(b) + 1); r.IntN(3) {
			case 0:
				b = append(b[:i], append([]byte{c}, b[i:]...)...)
			case 1:
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			default:
				if i < len(b) {
					b[i] = c
				}
			}
		}
		out = append(out, string(b))
	}
	return out
}

func TestMatchersAgreeWithJSONFormatPatterns(t *testing.T) {
	seeds := []string{"2025", "2025-02", "2025-02-05", "-2025-02-05", "2025-02-05T10:11:12Z",
		"2025-02-05T10:11:12.123+14:00", "2025-02-05T23:59:59.1-13:59", "10:11:12", "10:11:12.5", "0000-00-00T00:00:00-00:00"}
	tests := []struct {
		name string
		got  func(string) bool
		want *regexp.Regexp
	}{
		{"date", DateOK, jfDate},
		{"dateTime", DateTimeOK, jfDateTime},
		{"instant", InstantOK, jfInstant},
		{"time", TimeOK, jfTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range mutations(seeds, "0123456789-T:.Z+ x", 100000) {
				if got, want := tc.got(s), tc.want.MatchString(s); got != want {
					t.Errorf("%q: matcher says %v, pattern says %v", s, got, want)
				}
			}
		})
	}
}

// TestParse pins what each parser makes of every precision; Format must
// write the same text back.
func TestParse(t *testing.T) {
	kigali := time.FixedZone("Africa/Kigali", 2*3600)
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMicro()
	}
	type res struct {
		US   int64
		Prec int32
		TZ   string
		OK   bool
	}
	tests := []struct {
		kind, in string
		loc      *time.Location
		want     res
	}{
		{"date", "2025", time.UTC, res{at("2025-01-01T00:00:00Z"), int32(dpb.Date_YEAR), "UTC", true}},
		{"date", "2025-02", time.UTC, res{at("2025-02-01T00:00:00Z"), int32(dpb.Date_MONTH), "UTC", true}},
		{"date", "2025-02-05", kigali, res{at("2025-02-04T22:00:00Z"), int32(dpb.Date_DAY), "Africa/Kigali", true}},
		{"date", "2025-02-30", time.UTC, res{}},
		{"date", "-2025-02-05", time.UTC, res{}},
		{"dateTime", "2025-02", time.UTC, res{at("2025-02-01T00:00:00Z"), int32(dpb.DateTime_MONTH), "UTC", true}},
		{"dateTime", "2025-02-05T10:11:12Z", time.UTC, res{at("2025-02-05T10:11:12Z"), int32(dpb.DateTime_SECOND), "Z", true}},
		{"dateTime", "2025-02-05T10:11:12.5+02:00", time.UTC, res{at("2025-02-05T08:11:12.5Z"), int32(dpb.DateTime_MILLISECOND), "+02:00", true}},
		{"dateTime", "2025-02-05T10:11:12.1234-01:00", time.UTC, res{at("2025-02-05T11:11:12.1234Z"), int32(dpb.DateTime_MICROSECOND), "-01:00", true}},
		{"dateTime", "2025-02-05T10:11Z", time.UTC, res{}},
		{"instant", "2025-02-05T10:11:12.123Z", nil, res{at("2025-02-05T10:11:12.123Z"), int32(dpb.Instant_MILLISECOND), "Z", true}},
		{"instant", "2025-02-05", nil, res{}},
		{"time", "10:11:12.123456", nil, res{(10*3600+11*60+12)*1e6 + 123456, int32(dpb.Time_MICROSECOND), "", true}},
		{"time", "24:00:00", nil, res{}},
	}
	for _, tc := range tests {
		t.Run(tc.kind+" "+tc.in, func(t *testing.T) {
			var got res
			switch tc.kind {
			case "date":
				us, p, tz, ok := ParseDate(tc.in, tc.loc)
				got = res{us, int32(p), tz, ok}
			case "dateTime":
				us, p, tz, ok := ParseDateTime(tc.in, tc.loc)
				got = res{us, int32(p), tz, ok}
			case "instant":
				us, p, tz, ok := ParseInstant(tc.in)
				got = res{us, int32(p), tz, ok}
			case "time":
				us, p, ok := ParseTime(tc.in)
				got = res{us, int32(p), "", ok}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}
