package adx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
	"github.com/madx-project/madx/measures"
	"google.golang.org/protobuf/proto"
)

// Definitions is what Map needs of the stored definitions;
// server/pipeline.Catalog is one. Compiled returns the compiled Measure a
// canonical resolves to, as the write pipeline checks reports against it.
type Definitions interface {
	Measures() []*mpb.Measure
	Locations() []*locpb.Location
	Compiled(ctx context.Context, canonical string) (*measures.Definition, error)
}

// Scheme is how an ADX identifier names a definition (DHIS2's idScheme).
type Scheme uint8

const (
	// Code matches identifiers (and, for dataSet, names): DHIS2's default.
	Code Scheme = iota
	// UID matches resource ids (DHIS2's uid and id, which madx treats alike).
	UID
)

// ParseScheme reads an idScheme parameter: "" or code, uid, id (any case).
func ParseScheme(s string) (Scheme, error) {
	switch strings.ToLower(s) {
	case "", "code":
		return Code, nil
	case "uid", "id":
		return UID, nil
	}
	return Code, fmt.Errorf("idScheme %q is not supported; expected code, uid or id", s)
}

func (s Scheme) String() string {
	if s == UID {
		return "uid"
	}
	return "code"
}

// Options are the identifier schemes of one import.
type Options struct {
	DataSet, DataElement, OrgUnit Scheme
	// OrgUnitSystem is the identifier system of the sender's facility
	// codes (its token's madx_site_system), used when OrgUnit is Code: the
	// report's subject is then the identifier {OrgUnitSystem, orgUnit},
	// which the write pipeline resolves to a Location (a Location's own
	// identifier in that system, or the site maps), as it does a FHIR
	// report's subject.identifier. Empty: orgUnit is matched here against
	// Location identifier values in any system.
	OrgUnitSystem string
}

// Conflict is one reason a group is refused, in DHIS2's ImportConflict
// terms: Object says where (an XPath-like location in the message), Value
// what was found and what was expected.
type Conflict struct {
	Object string `json:"object" xml:"object,attr"`
	Value  string `json:"value" xml:"value,attr"`
}

// Report is one ADX group mapped: Report is nil when the group is refused
// (Conflicts says why). Values is the number of dataValues of the group,
// the unit DHIS2 counts imports in.
type Report struct {
	Group     int // index in Message.Groups
	Report    *mrpb.MeasureReport
	Conflicts []Conflict
	Values    int
	// origin[i] is the dataValue (1-based) of report group i's plain value
	// (0 if none); strata[i][j][k] is that of stratum k of its stratifier j.
	origin []int
	strata [][][]int
	key    string
}

// Map maps every group of m (see docs/adx.md for the table). Refusals are
// in each Report's Conflicts; the error is non-nil only when defs fails.
// Groups that map to the same report (measure, Location, period) are all
// refused: neither may overwrite the other.
func Map(ctx context.Context, defs Definitions, m *Message, opts Options) ([]Report, error) {
	mp := newMapper(defs, opts)
	out := make([]Report, len(m.Groups))
	for i := range m.Groups {
		r, err := mp.group(ctx, i, &m.Groups[i])
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	byKey := map[string][]int{}
	for i := range out {
		if out[i].Report != nil {
			byKey[out[i].key] = append(byKey[out[i].key], i)
		}
	}
	for _, is := range byKey {
		if len(is) < 2 {
			continue
		}
		names := make([]string, len(is))
		for j, i := range is {
			names[j] = fmt.Sprintf("group[%d]", i+1)
		}
		for _, i := range is {
			out[i].Report = nil
			out[i].Conflicts = append(out[i].Conflicts, Conflict{Object: where(i),
				Value: fmt.Sprintf("groups %s map to the same report (dataSet, orgUnit and period); none of them is imported: send each report once", strings.Join(names, ", "))})
		}
	}
	return out, nil
}

func newMapper(defs Definitions, opts Options) *mapper {
	return &mapper{defs: defs, opts: opts, compiled: map[string]*measureMatch{}, codes: map[codeAsk]codeAnswer{},
		concepts: map[codeAsk]*dtpb.CodeableConcept{}, strats: map[stratKey]int{}, stratExpected: map[stratKey]string{}}
}

func where(gi int) string { return fmt.Sprintf("/adx/group[%d]", gi+1) }

type mapper struct {
	defs          Definitions
	opts          Options
	compiled      map[string]*measureMatch // by dataSet
	codes         map[codeAsk]codeAnswer
	concepts      map[codeAsk]*dtpb.CodeableConcept // component codes, by codeAsk without code
	strats        map[stratKey]int
	stratExpected map[stratKey]string
}

type measureMatch struct {
	m         *mpb.Measure
	def       *measures.Definition
	canonical string
	refusal   string
}

type codeAsk struct {
	def     *measures.Definition
	g, s, k int
	code    string
}

type codeAnswer struct {
	systems  []string
	expected string
	value    *dtpb.CodeableConcept // the stratum component value, shared by the message's strata
}

func (mp *mapper) group(ctx context.Context, gi int, g *Group) (Report, error) {
	r := Report{Group: gi, Values: len(g.Values)}
	gw := where(gi)
	conflict := func(obj, format string, args ...any) {
		r.Conflicts = append(r.Conflicts, Conflict{Object: obj, Value: fmt.Sprintf(format, args...)})
	}
	for _, a := range g.Attrs {
		conflict(gw+"/@"+a.Name, "group attribute %s=%q is not mapped: madx maps orgUnit, period, dataSet and completeDate of a group (attribute option combinations are not supported); remove it", a.Name, a.Value)
	}
	mm, err := mp.measure(ctx, g.DataSet)
	if err != nil {
		return r, err
	}
	if mm.refusal != "" {
		conflict(gw+"/@dataSet", "%s", mm.refusal)
	}
	var subject *dtpb.Reference
	locKey := g.OrgUnit
	if sys := mp.opts.OrgUnitSystem; sys != "" && mp.opts.OrgUnit == Code {
		subject = &dtpb.Reference{Identifier: &dtpb.Identifier{System: &dtpb.Uri{Value: sys}, Value: &dtpb.String{Value: g.OrgUnit}}}
		locKey = sys + "|" + g.OrgUnit
	} else if locID, refusal := mp.location(g.OrgUnit); refusal != "" {
		conflict(gw+"/@orgUnit", "%s", refusal)
	} else {
		subject = &dtpb.Reference{Reference: &dtpb.Reference_LocationId{LocationId: &dtpb.ReferenceId{Value: locID}}}
		locKey = "Location/" + locID
	}
	per, err := ParsePeriod(g.Period)
	if err != nil {
		conflict(gw+"/@period", "%s", err.Error())
	}
	rep := &mrpb.MeasureReport{
		Status: &mrpb.MeasureReport_StatusCode{Value: cpb.MeasureReportStatusCode_COMPLETE},
		Type:   &mrpb.MeasureReport_TypeCode{Value: cpb.MeasureReportTypeCode_SUMMARY},
	}
	if g.CompleteDate != "" {
		us, prec, tz, ok := fhirtime.ParseDateTime(g.CompleteDate, time.UTC)
		if !ok {
			conflict(gw+"/@completeDate", "completeDate %q is not a date (YYYY-MM-DD) or date-time", g.CompleteDate)
		} else {
			rep.Date = &dtpb.DateTime{ValueUs: us, Precision: prec, Timezone: tz}
		}
	}
	if mm.def == nil {
		// Without the Measure, no dataValue can be mapped: the conflicts
		// above say why.
		return r, nil
	}
	mp.values(gi, g, mm, rep, &r)
	if len(r.Conflicts) > 0 {
		return r, nil
	}
	rep.Measure = &dtpb.Canonical{Value: mm.canonical}
	rep.Subject = subject
	rep.Period = &dtpb.Period{Start: day(per.Start.UnixMicro()), End: day(per.End.UnixMicro())}
	r.Report = rep
	r.key = mm.canonical + "|" + locKey + "|" + g.Period
	return r, nil
}

func day(us int64) *dtpb.DateTime {
	return &dtpb.DateTime{ValueUs: us, Precision: dtpb.DateTime_DAY, Timezone: "UTC"}
}

// measure resolves a dataSet, once per message.
func (mp *mapper) measure(ctx context.Context, dataSet string) (*measureMatch, error) {
	if mm, ok := mp.compiled[dataSet]; ok {
		return mm, nil
	}
	mm := &measureMatch{}
	mp.compiled[dataSet] = mm
	var found []*mpb.Measure
	how := "id"
	if mp.opts.DataSet == UID {
		for _, m := range mp.defs.Measures() {
			if m.GetId().GetValue() == dataSet {
				found = append(found, m)
			}
		}
	} else {
		how = "identifier value"
		for _, m := range mp.defs.Measures() {
			for _, id := range m.GetIdentifier() {
				if id.GetValue().GetValue() == dataSet {
					found = append(found, m)
					break
				}
			}
		}
		if len(found) == 0 {
			how = "name"
			for _, m := range mp.defs.Measures() {
				if m.GetName().GetValue() == dataSet {
					found = append(found, m)
				}
			}
		}
	}
	urls := map[string]bool{}
	var list []string
	for _, m := range found {
		u := m.GetUrl().GetValue()
		if !urls[u] {
			urls[u] = true
			list = append(list, fmt.Sprintf("Measure/%s (%s)", m.GetId().GetValue(), u))
		}
	}
	sort.Strings(list)
	switch {
	case len(found) == 0 && mp.opts.DataSet == UID:
		mm.refusal = fmt.Sprintf("dataSet %q: no Measure has that id (idScheme=uid); expected the id of a stored Measure", dataSet)
		return mm, nil
	case len(found) == 0:
		mm.refusal = fmt.Sprintf("dataSet %q: no Measure has that identifier value or name (idScheme=code); expected a Measure.identifier value, or a Measure.name", dataSet)
		return mm, nil
	case len(urls) > 1:
		mm.refusal = fmt.Sprintf("dataSet %q is ambiguous: the %s of %d Measures: %s; give one Measure that %s, or import with idScheme=uid", dataSet, how, len(urls), strings.Join(list, ", "), how)
		return mm, nil
	case found[0].GetUrl().GetValue() == "":
		mm.refusal = fmt.Sprintf("dataSet %q is Measure/%s, which has no url: a report cannot name it", dataSet, found[0].GetId().GetValue())
		return mm, nil
	}
	mm.canonical = found[0].GetUrl().GetValue()
	def, err := mp.defs.Compiled(ctx, mm.canonical)
	if err != nil {
		// A Measure that cannot be resolved by its canonical (not active,
		// say) is a refusal the pipeline would make too; the store's
		// failures are not.
		if isRefusal(err) {
			mm.refusal = fmt.Sprintf("dataSet %q is the Measure %s, which cannot be used: %s", dataSet, mm.canonical, err.Error())
			return mm, nil
		}
		return nil, err
	}
	u, v := def.Measure()
	for _, m := range mp.defs.Measures() {
		if m.GetUrl().GetValue() == u && m.GetVersion().GetValue() == v {
			mm.m = m
			break
		}
	}
	if mm.m == nil {
		mm.refusal = fmt.Sprintf("dataSet %q is the Measure %s|%s, which changed while the message was read; send it again", dataSet, u, v)
		return mm, nil
	}
	mm.def = def
	return mm, nil
}

// location resolves an orgUnit to a Location id, or says why not.
func (mp *mapper) location(orgUnit string) (string, string) {
	ids := map[string]bool{}
	for _, l := range mp.defs.Locations() {
		if mp.opts.OrgUnit == UID {
			if l.GetId().GetValue() == orgUnit {
				ids[l.GetId().GetValue()] = true
			}
			continue
		}
		for _, id := range l.GetIdentifier() {
			if id.GetValue().GetValue() == orgUnit {
				ids[l.GetId().GetValue()] = true
			}
		}
	}
	var list []string
	for id := range ids {
		list = append(list, "Location/"+id)
	}
	sort.Strings(list)
	switch {
	case len(list) == 1:
		return list[0][len("Location/"):], ""
	case len(list) > 1:
		return "", fmt.Sprintf("orgUnit %q is ambiguous: it is an identifier value of %s; give it to one Location only, or import with orgUnitIdScheme=uid", orgUnit, strings.Join(list, ", "))
	case mp.opts.OrgUnit == UID:
		return "", fmt.Sprintf("orgUnit %q: no Location has that id (orgUnitIdScheme=uid); expected the id of a stored Location", orgUnit)
	}
	return "", fmt.Sprintf("orgUnit %q: no Location has an identifier with that value (orgUnitIdScheme=code); expected a Location.identifier value", orgUnit)
}

func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }
