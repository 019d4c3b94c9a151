package fhirxml

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
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
	layoutYear       = "2006"
	layoutMonth      = "2006-01"
	layoutDay        = "2006-01-02"
	layoutSeconds    = "2006-01-02T15:04:05-07:00"
	layoutMillis     = "2006-01-02T15:04:05.000-07:00"
	layoutMicros     = "2006-01-02T15:04:05.000000-07:00"
	layoutSecondsUTC = "2006-01-02T15:04:05Z"
	layoutMillisUTC  = "2006-01-02T15:04:05.000Z"
	layoutMicrosUTC  = "2006-01-02T15:04:05.000000Z"
	layoutTime       = "15:04:05"
	layoutTimeMillis = "15:04:05.000"
	layoutTimeMicros = "15:04:05.000000"
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
	}{{layoutDay, dpb.Date_DAY}, {layoutMonth, dpb.Date_MONTH}, {layoutYear, dpb.Date_YEAR}} {
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			d.ValueUs, d.Timezone, d.Precision = micros(t), loc.String(), l.prec
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
	if t, err := time.Parse(layoutSeconds, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = micros(t), zoneOffset(t), prec
		return true
	}
	if t, err := time.Parse(layoutSecondsUTC, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = micros(t), utcZone, prec
		return true
	}
	for _, l := range []struct {
		layout string
		prec   dpb.DateTime_Precision
	}{{layoutDay, dpb.DateTime_DAY}, {layoutMonth, dpb.DateTime_MONTH}, {layoutYear, dpb.DateTime_YEAR}} {
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			d.ValueUs, d.Timezone, d.Precision = micros(t), loc.String(), l.prec
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
	if t, err := time.Parse(layoutSecondsUTC, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = micros(t), utcZone, prec
		return true
	}
	if t, err := time.Parse(layoutSeconds, s); err == nil {
		d.ValueUs, d.Timezone, d.Precision = micros(t), zoneOffset(t), prec
		return true
	}
	return false
}

func parseTime(s string, d *dpb.Time) bool {
	if !timeRegex.MatchString(s) {
		return false
	}
	t, err := time.Parse(layoutTime, s)
	if err != nil {
		return false
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	d.ValueUs = t.Sub(midnight).Microseconds()
	d.Precision = [...]dpb.Time_Precision{0, dpb.Time_SECOND, dpb.Time_MILLISECOND, dpb.Time_MICROSECOND}[subSecondPrecision(s, false)]
	return true
}

func formatDate(d *dpb.Date) (string, error) {
	t, err := timeIn(d.GetValueUs(), d.GetTimezone())
	if err != nil {
		return "", err
	}
	switch d.GetPrecision() {
	case dpb.Date_DAY:
		return t.Format(layoutDay), nil
	case dpb.Date_MONTH:
		return t.Format(layoutMonth), nil
	case dpb.Date_YEAR:
		return t.Format(layoutYear), nil
	}
	return "", fmt.Errorf("date has no precision")
}

func formatDateTime(d *dpb.DateTime) (string, error) {
	t, err := timeIn(d.GetValueUs(), d.GetTimezone())
	if err != nil {
		return "", err
	}
	utc := d.GetTimezone() == utcZone
	switch d.GetPrecision() {
	case dpb.DateTime_SECOND:
		return t.Format(pick(utc, layoutSecondsUTC, layoutSeconds)), nil
	case dpb.DateTime_MILLISECOND:
		return t.Format(pick(utc, layoutMillisUTC, layoutMillis)), nil
	case dpb.DateTime_MICROSECOND:
		return t.Format(pick(utc, layoutMicrosUTC, layoutMicros)), nil
	case dpb.DateTime_DAY:
		return t.Format(layoutDay), nil
	case dpb.DateTime_MONTH:
		return t.Format(layoutMonth), nil
	case dpb.DateTime_YEAR:
		return t.Format(layoutYear), nil
	}
	return "", fmt.Errorf("dateTime has no precision")
}

func formatInstant(d *dpb.Instant) (string, error) {
	t, err := timeIn(d.GetValueUs(), d.GetTimezone())
	if err != nil {
		return "", err
	}
	utc := d.GetTimezone() == utcZone
	switch d.GetPrecision() {
	case dpb.Instant_SECOND:
		return t.Format(pick(utc, layoutSecondsUTC, layoutSeconds)), nil
	case dpb.Instant_MILLISECOND:
		return t.Format(pick(utc, layoutMillisUTC, layoutMillis)), nil
	case dpb.Instant_MICROSECOND:
		return t.Format(pick(utc, layoutMicrosUTC, layoutMicros)), nil
	}
	return "", fmt.Errorf("instant has no precision")
}

func formatTime(d *dpb.Time) (string, error) {
	t := time.UnixMicro(d.GetValueUs()).UTC()
	switch d.GetPrecision() {
	case dpb.Time_SECOND:
		return t.Format(layoutTime), nil
	case dpb.Time_MILLISECOND:
		return t.Format(layoutTimeMillis), nil
	case dpb.Time_MICROSECOND:
		return t.Format(layoutTimeMicros), nil
	}
	return "", fmt.Errorf("time has no precision")
}

func pick(utc bool, ifUTC, otherwise string) string {
	if utc {
		return ifUTC
	}
	return otherwise
}

// micros is jsonpbhelper.GetTimestampUsec.
func micros(t time.Time) int64 {
	s := t.Unix()
	if s < math.MaxInt64/int64(time.Second) && s > math.MinInt64/int64(time.Second) {
		return s*1e6 + int64(t.Nanosecond()/1000)
	}
	return s * 1e6
}

// zoneOffset is jsonpbhelper.ExtractTimezone: "+hh:mm" or "-hh:mm".
func zoneOffset(t time.Time) string {
	_, offset := t.Zone()
	sign := "+"
	if offset < 0 {
		sign, offset = "-", -offset
	}
	return fmt.Sprintf("%s%02d:%02d", sign, offset/3600, offset%3600/60)
}

// timeIn is jsonpbhelper.GetTimeFromUsec: tz is "Z", an IANA name (as
// recorded for dates without a zone) or a "+hh:mm" offset.
func timeIn(us int64, tz string) (time.Time, error) {
	loc, err := location(tz)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(us/1e6, (us%1e6)*1000).In(loc), nil
}

func location(tz string) (*time.Location, error) {
	switch tz {
	case utcZone, "UTC", "":
		return time.UTC, nil
	}
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		h, herr := strconv.Atoi(tz[1:3])
		m, merr := strconv.Atoi(tz[4:6])
		if herr != nil || merr != nil {
			return nil, fmt.Errorf("invalid timezone offset %q", tz)
		}
		off := h*3600 + m*60
		if tz[0] == '-' {
			off = -off
		}
		return time.FixedZone(tz, off), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown timezone %q: %w", tz, err)
	}
	return loc, nil
}
