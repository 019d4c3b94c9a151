package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/concept_map_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/value_set_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/madx-project/madx/internal/fhirtime"
	"github.com/madx-project/madx/measures"
	"github.com/madx-project/madx/store"
)

// ExtractIndex pulls the lookup fields out of a resource. It never fails:
// a field that is absent is simply not indexed.
func ExtractIndex(res proto.Message) store.Index {
	var x store.Index
	switch r := res.(type) {
	case *mpb.Measure:
		x.URL, x.Version, x.Status = r.GetUrl().GetValue(), r.GetVersion().GetValue(), EnumCode(r.GetStatus())
		x.Tokens = appendString(x.Tokens, "name", r.GetName().GetValue())
		x.Tokens = appendString(x.Tokens, "title", r.GetTitle().GetValue())
		x.Tokens = appendString(x.Tokens, "publisher", r.GetPublisher().GetValue())
		x.Tokens = appendIdentifiers(x.Tokens, r.GetIdentifier())
	case *vspb.ValueSet:
		x.URL, x.Version, x.Status = r.GetUrl().GetValue(), r.GetVersion().GetValue(), EnumCode(r.GetStatus())
		x.Tokens = appendString(x.Tokens, "name", r.GetName().GetValue())
	case *cspb.CodeSystem:
		x.URL, x.Version, x.Status = r.GetUrl().GetValue(), r.GetVersion().GetValue(), EnumCode(r.GetStatus())
		x.Tokens = appendString(x.Tokens, "name", r.GetName().GetValue())
	case *cmpb.ConceptMap:
		x.URL, x.Version, x.Status = r.GetUrl().GetValue(), r.GetVersion().GetValue(), EnumCode(r.GetStatus())
		x.Tokens = appendString(x.Tokens, "name", r.GetName().GetValue())
	case *locpb.Location:
		x.Tokens = appendIdentifiers(x.Tokens, r.GetIdentifier())
		x.Tokens = appendString(x.Tokens, "name", r.GetName().GetValue())
		x.Tokens = appendRef(x.Tokens, "partof", r.GetPartOf())
		x.Tokens = appendRef(x.Tokens, "organization", r.GetManagingOrganization())
		x.Tokens = appendCodes(x.Tokens, "type", r.GetType()...)
	case *orgpb.Organization:
		x.Tokens = appendIdentifiers(x.Tokens, r.GetIdentifier())
		x.Tokens = appendString(x.Tokens, "name", r.GetName().GetValue())
		x.Tokens = appendRef(x.Tokens, "partof", r.GetPartOf())
		x.Tokens = appendCodes(x.Tokens, "type", r.GetType()...)
	case *mrpb.MeasureReport:
		// meta.tag, for _tag; the timeliness tag is the server's, indexed
		// by the rule that sets it (checkSchedule). None on most reports,
		// so no token rows.
		for _, t := range r.GetMeta().GetTag() {
			if sys := t.GetSystem().GetValue(); sys != measures.TimelinessSystem {
				x.Tokens = appendSystemValue(x.Tokens, "_tag", sys, t.GetCode().GetValue())
			}
		}
		x.Measure = r.GetMeasure().GetValue()
		x.Subject = referenceString(r.GetSubject())
		x.Status = EnumCode(r.GetStatus())
		x.PeriodStart, _ = dateTimeRange(r.GetPeriod().GetStart())
		_, x.PeriodEnd = dateTimeRange(r.GetPeriod().GetEnd())
		// An open end is unbounded (search.html#date), indexed as such so
		// that every engine compares plain values.
		if x.PeriodStart.IsZero() != x.PeriodEnd.IsZero() {
			if x.PeriodStart.IsZero() {
				x.PeriodStart = store.DistantPast
			} else {
				x.PeriodEnd = store.DistantFuture
			}
		}
		x.DateStart, x.DateEnd = dateTimeRange(r.GetDate())
		x.Tokens = appendRef(x.Tokens, "reporter", r.GetReporter())
		x.Tokens = appendIdentifiers(x.Tokens, r.GetIdentifier())
		if id := r.GetSubject().GetIdentifier(); id != nil {
			x.Tokens = appendSystemValue(x.Tokens, "subject:identifier", id.GetSystem().GetValue(), id.GetValue().GetValue())
		}
	}
	return x
}

// contentHash identifies a resource's content apart from meta.versionId and
// meta.lastUpdated, for idempotent loads.
func contentHash(res proto.Message, encode func(proto.Message) ([]byte, error)) string {
	c := proto.Clone(res)
	clearVersion(c)
	b, err := encode(c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// EnumCode returns the FHIR code of a google/fhir code-typed field such as
// MeasureReport.status: its enum value name, lower-cased with dashes.
func EnumCode(m proto.Message) string {
	if m == nil {
		return ""
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return ""
	}
	fd := r.Descriptor().Fields().ByName("value")
	if fd == nil || fd.Kind() != protoreflect.EnumKind {
		return ""
	}
	ev := fd.Enum().Values().ByNumber(r.Get(fd).Enum())
	if ev == nil {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(string(ev.Name()), "_", "-"))
}

// appendString indexes a string for FHIR string search: "name=" with the
// normalised value (default and :contains) and "name:exact=" with the value
// as written (:exact).
func appendString(toks []string, name, v string) []string {
	if v == "" {
		return toks
	}
	return append(toks, name+"="+NormalizeString(v), name+":exact="+v)
}

func appendIdentifiers(toks []string, ids []*dpb.Identifier) []string {
	for _, id := range ids {
		toks = appendSystemValue(toks, "identifier", id.GetSystem().GetValue(), id.GetValue().GetValue())
	}
	return toks
}

// appendSystemValue indexes a token: "name=system|value" for searches
// with a system (or "|value": none), "name.value=value" for searches by
// value in any system (search.html#token).
func appendSystemValue(toks []string, name, system, value string) []string {
	if value == "" {
		return toks
	}
	return append(toks, name+"="+system+"|"+value, name+".value="+value)
}

func appendCodes(toks []string, name string, ccs ...*dpb.CodeableConcept) []string {
	for _, cc := range ccs {
		for _, c := range cc.GetCoding() {
			toks = appendSystemValue(toks, name, c.GetSystem().GetValue(), c.GetCode().GetValue())
		}
	}
	return toks
}

func appendRef(toks []string, name string, ref *dpb.Reference) []string {
	if s := referenceString(ref); s != "" {
		toks = append(toks, name+"="+s)
	}
	return toks
}

// referenceString renders a google/fhir Reference as FHIR JSON would write
// Reference.reference: "Location/x", "#frag", or the URI; for an
// identifier-only reference, "identifier:system|value".
func referenceString(ref *dpb.Reference) string {
	if ref == nil {
		return ""
	}
	m := ref.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("reference")
	if od != nil {
		if fd := m.WhichOneof(od); fd != nil {
			v := m.Get(fd).Message()
			switch name := string(fd.Name()); name {
			case "uri":
				return v.Interface().(*dpb.String).GetValue()
			case "fragment":
				return "#" + v.Interface().(*dpb.String).GetValue()
			default:
				rid, ok := v.Interface().(*dpb.ReferenceId)
				if !ok {
					return ""
				}
				s := snakeToType(strings.TrimSuffix(name, "_id")) + "/" + rid.GetValue()
				if h := rid.GetHistory().GetValue(); h != "" {
					s += "/_history/" + h
				}
				return s
			}
		}
	}
	if id := ref.GetIdentifier(); id != nil && id.GetValue().GetValue() != "" {
		return "identifier:" + id.GetSystem().GetValue() + "|" + id.GetValue().GetValue()
	}
	return ""
}

// snakeToType turns "measure_report" into "MeasureReport".
func snakeToType(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// dateTimeRange returns the instants a FHIR dateTime covers at its
// precision, both ends included: 2025-01-31 covers the whole day (FHIR R4
// search.html#date). The calendar arithmetic is fhirtime.Span's, which
// needs no time zone database.
func dateTimeRange(dt *dpb.DateTime) (lo, hi time.Time) {
	if dt == nil || (dt.GetValueUs() == 0 && dt.GetPrecision() == dpb.DateTime_PRECISION_UNSPECIFIED) {
		return time.Time{}, time.Time{}
	}
	l, h := fhirtime.Span(dt)
	return time.UnixMicro(l).UTC(), time.UnixMicro(h - 1).UTC()
}
