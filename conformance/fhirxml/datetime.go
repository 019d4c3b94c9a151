package fhirxml

import (
	"regexp"
	"strings"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
)

// The date and time rules below mirror google/fhir's jsonformat
// (date_time.go and internal/jsonpbhelper, which cannot be imported), so that
// a value decoded from XML is the very proto its JSON twin decodes to:
// same regular expressions, layouts, precisions and timezone strings.
var (
	dateRegex     = regexp.MustCompile(`^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1]))?)?$`)
	dateTimeRegex = regexp.MustCompile(`^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	instantRegex  = regexp.MustCompile(`^-?[0-9]{4}-(0[1-9]|1[0-2])-(0[0-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
	timeRegex     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?$`)
	subMilliRegex = regexp.MustCompile(`([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}[0-9]+`)
	subSecRegex   = regexp.MustCompile(`([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]+`)
)

const (
	// utcZone is how google/fhir records an explicit "Z".
	utcZone = "Z"
)

// subSecondPrecision tells second, millisecond or microsecond precision
// from the fraction written after the seconds (after "T" for date-times).
func subSecondPrecision(s string, afterT bool) int {
	if afterT {
		if i := strings.IndexByte(s, 'T'); i >= 0 {
			s = s[i+1:]
		} else {
			return 0
		}
	}
	switch {
	case subMilliRegex.MatchString(s):
		return 3
	case subSecRegex.MatchString(s):
		return 2
	}
	return 1
}

func parseDate(s string, loc *time.Location, d *dpb.Date) bool {
	if !dateRegex.MatchString(s) {
		return false
	}
	for _, l := range []struct {
		layout string
		prec   dpb.Date_Precision
	}{{fhirtime.LayoutDay, dpb.Date_DAY}, {fhirtime.LayoutMonth, dpb.Date_MONTH}, {fhirtime.LayoutYear, dpb.Date_YEAR}} {
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			d.ValueUs, d.Timezone, d.Precision = fhirtime.Micros(t), loc.String(), l.prec
			return true
		}
	}
	return false
}

func parseDateTime(s string, loc *time.Location, d *dpb.DateTime) bool {
	if !dateTimeRegex.MatchString(s) {
		return false
	}
	prec := [...]dpb.DateTime_Precision{0, dpb.DateTime_SECOND, dpb.DateTime_MILLISECOND, dpb.DateTime_MICROSECOND}[subSecondPrecision(s, true)]
	if t, err := time.Parse(fhirtime.LayoutSeconds, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = fhirtime.Micros(t), fhirtime.ZoneOffset(t), prec
		return true
	}
	if t, err := time.Parse(fhirtime.LayoutSecondsUTC, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = fhirtime.Micros(t), utcZone, prec
		return true
	}
	for _, l := range []struct {
		layout string
		prec   dpb.DateTime_Precision
	}{{fhirtime.LayoutDay, dpb.DateTime_DAY}, {fhirtime.LayoutMonth, dpb.DateTime_MONTH}, {fhirtime.LayoutYear, dpb.DateTime_YEAR}} {
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			d.ValueUs, d.Timezone, d.Precision = fhirtime.Micros(t), loc.String(), l.prec
			return true
		}
	}
	return false
}

func parseInstant(s string, d *dpb.Instant) bool {
	if !instantRegex.MatchString(s) {
		return false
	}
	prec := [...]dpb.Instant_Precision{0, dpb.Instant_SECOND, dpb.Instant_MILLISECOND, dpb.Instant_MICROSECOND}[subSecondPrecision(s, true)]
	if t, err := time.Parse(fhirtime.LayoutSecondsUTC, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = fhirtime.Micros(t), utcZone, prec
		return true
	}
	if t, err := time.Parse(fhirtime.LayoutSeconds, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = fhirtime.Micros(t), fhirtime.ZoneOffset(t), prec
		return true
	}
	return false
}

func parseTime(s string, d *dpb.Time) bool {
	if !timeRegex.MatchString(s) {
		return false
	}
	t, err := time.Parse(fhirtime.LayoutTime, s)
	if err != nil {
		return false
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	d.ValueUs = t.Sub(midnight).Microseconds()
	d.Precision = [...]dpb.Time_Precision{0, dpb.Time_SECOND, dpb.Time_MILLISECOND, dpb.Time_MICROSECOND}[subSecondPrecision(s, false)]
	return true
}
