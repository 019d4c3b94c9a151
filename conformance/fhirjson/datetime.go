package fhirjson

import (
	"reflect"
	"time"
	"unsafe"

	"github.com/madx-project/madx/operationoutcome"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
)

// temporal sets a date, dateTime, instant or time, parsed by fhirtime as
// jsonformat parses them. A date without a zone is read in UTC, as
// jsonformat's default unmarshaller does.
func (d *decoder) temporal(m unsafe.Pointer, cm *msgInfo, text []byte) bool {
	s := string(text)
	switch cm.prim {
	case primDate:
		if v, ok := asGo[dpb.Date](m, cm, dateType); ok {
			if us, prec, tz, ok := fhirtime.ParseDate(s, time.UTC); ok {
				v.ValueUs, v.Precision, v.Timezone = us, prec, tz
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected a date (YYYY, YYYY-MM or YYYY-MM-DD, a real calendar day), found %s", quote(text))
	case primDateTime:
		if v, ok := asGo[dpb.DateTime](m, cm, dateTimeType); ok {
			if us, prec, tz, ok := fhirtime.ParseDateTime(s, time.UTC); ok {
				v.ValueUs, v.Precision, v.Timezone = us, prec, tz
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected a dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.f] with Z or ±hh:mm), found %s", quote(text))
	case primInstant:
		if v, ok := asGo[dpb.Instant](m, cm, instantType); ok {
			if us, prec, tz, ok := fhirtime.ParseInstant(s); ok {
				v.ValueUs, v.Precision, v.Timezone = us, prec, tz
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected an instant (YYYY-MM-DDThh:mm:ss[.f] with Z or ±hh:mm), found %s", quote(text))
	case primTime:
		if v, ok := asGo[dpb.Time](m, cm, timeType); ok {
			if us, prec, ok := fhirtime.ParseTime(s); ok {
				v.ValueUs, v.Precision = us, prec
				return true
			}
		}
		d.addf(operationoutcome.Value, false, "expected a time (hh:mm:ss[.f]), found %s", quote(text))
	}
	return false
}

// asGo returns the message at p as a *T when cm is the generated type T.
func asGo[T any](p unsafe.Pointer, cm *msgInfo, t reflect.Type) (*T, bool) {
	if cm.goType != t {
		return nil, false
	}
	return (*T)(p), true
}
