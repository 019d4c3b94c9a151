package fhirxml

import (
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
)

// The date and time rules are internal/fhirtime's, the ones the JSON codec
// uses, so that a value decoded from XML is the very proto its JSON twin
// decodes to: same patterns, layouts, precisions and timezone strings. A
// date without a zone is read in loc (Decoder.TimeZone, UTC by default).

func parseDate(s string, loc *time.Location, d *dpb.Date) bool {
	us, prec, tz, ok := fhirtime.ParseDate(s, loc)
	if ok {
		d.ValueUs, d.Precision, d.Timezone = us, prec, tz
	}
	return ok
}

func parseDateTime(s string, loc *time.Location, d *dpb.DateTime) bool {
	us, prec, tz, ok := fhirtime.ParseDateTime(s, loc)
	if ok {
		d.ValueUs, d.Precision, d.Timezone = us, prec, tz
	}
	return ok
}

func parseInstant(s string, d *dpb.Instant) bool {
	us, prec, tz, ok := fhirtime.ParseInstant(s)
	if ok {
		d.ValueUs, d.Precision, d.Timezone = us, prec, tz
	}
	return ok
}

func parseTime(s string, d *dpb.Time) bool {
	us, prec, ok := fhirtime.ParseTime(s)
	if ok {
		d.ValueUs, d.Precision = us, prec
	}
	return ok
}
