// Package fhirtime is what madx's JSON and XML codecs share about FHIR
// dates and times as google/fhir/go stores them (value_us, timezone,
// precision): jsonformat's layouts and its conversions between instants
// and zone strings, re-implemented because jsonformat's helpers are
// internal. Both codecs must produce the very protos jsonformat does, so
// this is one copy of that knowledge.
package fhirtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
)

// The layouts jsonformat parses and prints with.
const (
	LayoutYear       = "2006"
	LayoutMonth      = "2006-01"
	LayoutDay        = "2006-01-02"
	LayoutSeconds    = "2006-01-02T15:04:05-07:00"
	LayoutMillis     = "2006-01-02T15:04:05.000-07:00"
	LayoutMicros     = "2006-01-02T15:04:05.000000-07:00"
	LayoutSecondsUTC = "2006-01-02T15:04:05Z"
	LayoutMillisUTC  = "2006-01-02T15:04:05.000Z"
	LayoutMicrosUTC  = "2006-01-02T15:04:05.000000Z"
	LayoutTime       = "15:04:05"
	LayoutTimeMillis = "15:04:05.000"
	LayoutTimeMicros = "15:04:05.000000"
)

// ZoneOffset renders t's UTC offset as ±hh:mm (jsonformat ExtractTimezone).
func ZoneOffset(t time.Time) string {
	_, offset := t.Zone()
	sign := "+"
	if offset < 0 {
		sign, offset = "-", -offset
	}
	return fmt.Sprintf("%s%02d:%02d", sign, offset/3600, offset%3600/60)
}

// Micros is jsonformat's GetTimestampUsec.
func Micros(t time.Time) int64 {
	s := t.Unix()
	if s < math.MaxInt64/int64(time.Second) && s > math.MinInt64/int64(time.Second) {
		return s*1e6 + int64(t.Nanosecond()/1000)
	}
	return s * 1e6
}

// Location resolves a proto timezone the way jsonformat's GetLocation
// does: "Z", an IANA name, or a ±hh:mm offset. Results are cached because
// time.LoadLocation reads the zoneinfo database on every call.
func Location(tz string) (*time.Location, error) {
	switch tz {
	case "Z", "UTC", "":
		return time.UTC, nil
	}
	if l, ok := locations.Load(tz); ok {
		return l.(*time.Location), nil
	}
	var l *time.Location
	if offset, err := offsetSeconds(tz); err == nil {
		l = time.FixedZone(tz, offset)
	} else if l, err = time.LoadLocation(tz); err != nil {
		return nil, fmt.Errorf("unknown timezone %q: %w", tz, err)
	}
	locations.Store(tz, l)
	return l, nil
}

// locations caches Location; it only grows by the zones clients use.
var locations sync.Map // string -> *time.Location

func offsetSeconds(offset string) (int, error) {
	if offset == "" || (offset[0] != '+' && offset[0] != '-') {
		return 0, fmt.Errorf("invalid timezone offset: %v", offset)
	}
	hh, mm, ok := strings.Cut(offset[1:], ":")
	if !ok {
		return 0, fmt.Errorf("invalid timezone offset: %v", offset)
	}
	hour, err := strconv.Atoi(hh)
	if err != nil {
		return 0, fmt.Errorf("invalid hour in timezone offset %v: %v", offset, err)
	}
	minute, err := strconv.Atoi(mm)
	if err != nil {
		return 0, fmt.Errorf("invalid minute in timezone offset %v: %v", offset, err)
	}
	if offset[0] == '-' {
		return -hour*3600 - minute*60, nil
	}
	return hour*3600 + minute*60, nil
}

// TimeIn is jsonformat's GetTimeFromUsec: the instant us in zone tz.
func TimeIn(us int64, tz string) (time.Time, error) {
	l, err := Location(tz)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(us/1e6, (us%1e6)*1000).In(l), nil
}

// Format writes a Date, DateTime, Instant or Time as jsonformat's
// serializers do; the XML codec writes the same text into value="".
func Format(m proto.Message) (string, error) {
	switch v := m.(type) {
	case *dpb.Date:
		t, err := TimeIn(v.GetValueUs(), v.GetTimezone())
		if err != nil {
			return "", err
		}
		switch v.GetPrecision() {
		case dpb.Date_DAY:
			return t.Format(LayoutDay), nil
		case dpb.Date_MONTH:
			return t.Format(LayoutMonth), nil
		case dpb.Date_YEAR:
			return t.Format(LayoutYear), nil
		}
		return "", fmt.Errorf("invalid Date precision %v", v.GetPrecision())
	case *dpb.DateTime:
		t, err := TimeIn(v.GetValueUs(), v.GetTimezone())
		if err != nil {
			return "", err
		}
		switch v.GetPrecision() {
		case dpb.DateTime_SECOND:
			return formatClock(t, v.GetTimezone(), seconds), nil
		case dpb.DateTime_MILLISECOND:
			return formatClock(t, v.GetTimezone(), millis), nil
		case dpb.DateTime_MICROSECOND:
			return formatClock(t, v.GetTimezone(), micros), nil
		case dpb.DateTime_DAY:
			return t.Format(LayoutDay), nil
		case dpb.DateTime_MONTH:
			return t.Format(LayoutMonth), nil
		case dpb.DateTime_YEAR:
			return t.Format(LayoutYear), nil
		}
		return "", fmt.Errorf("invalid DateTime precision %v", v.GetPrecision())
	case *dpb.Instant:
		t, err := TimeIn(v.GetValueUs(), v.GetTimezone())
		if err != nil {
			return "", err
		}
		switch v.GetPrecision() {
		case dpb.Instant_SECOND:
			return formatClock(t, v.GetTimezone(), seconds), nil
		case dpb.Instant_MILLISECOND:
			return formatClock(t, v.GetTimezone(), millis), nil
		case dpb.Instant_MICROSECOND:
			return formatClock(t, v.GetTimezone(), micros), nil
		}
		return "", fmt.Errorf("invalid Instant precision %v", v.GetPrecision())
	case *dpb.Time:
		t := time.UnixMicro(v.GetValueUs()).UTC()
		switch v.GetPrecision() {
		case dpb.Time_SECOND:
			return t.Format(LayoutTime), nil
		case dpb.Time_MILLISECOND:
			return t.Format(LayoutTimeMillis), nil
		case dpb.Time_MICROSECOND:
			return t.Format(LayoutTimeMicros), nil
		}
		return "", fmt.Errorf("invalid Time precision %v", v.GetPrecision())
	}
	return "", fmt.Errorf("unsupported temporal type %T", m)
}

// The sub-second precisions of a dateTime or instant.
const (
	seconds = iota
	millis
	micros
)

// clockLayouts are the layouts of a date with a time of day, by precision:
// with a ±hh:mm offset, and with "Z" for the zone "Z".
var clockLayouts = [2][3]string{
	{LayoutSeconds, LayoutMillis, LayoutMicros},
	{LayoutSecondsUTC, LayoutMillisUTC, LayoutMicrosUTC},
}

func formatClock(t time.Time, tz string, precision int) string {
	if tz == "Z" {
		return t.Format(clockLayouts[1][precision])
	}
	return t.Format(clockLayouts[0][precision])
}
