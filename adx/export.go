package adx

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
	oo "github.com/madx-project/madx/operationoutcome"
)

// Exporter turns stored reports back into ADX, and ADX identifiers into
// the report keys that find them, with the identifier schemes of one
// request.
type Exporter struct {
	mp *mapper
}

// NewExporter returns an Exporter over defs.
func NewExporter(defs Definitions, opts Options) *Exporter {
	return &Exporter{mp: newMapper(defs, opts)}
}

// DataSet returns the canonical url of the Measure an ADX dataSet names,
// or the conflict saying why it names none. The error is the Definitions'
// failure.
func (e *Exporter) DataSet(ctx context.Context, dataSet string) (string, []Conflict, error) {
	mm, err := e.mp.measure(ctx, dataSet)
	if err != nil {
		return "", nil, err
	}
	if mm.refusal != "" {
		return "", []Conflict{{Object: "?dataSet=" + dataSet, Value: mm.refusal}}, nil
	}
	return mm.canonical, nil, nil
}

// OrgUnits returns the id of the Location an ADX orgUnit names and, with
// children, the ids of every Location below it through Location.partOf, at
// any depth (DHIS2's children=true); or the conflict saying why it names
// none. A partOf cycle ends where it closes.
func (e *Exporter) OrgUnits(orgUnit string, children bool) ([]string, []Conflict) {
	id, refusal := e.mp.location(orgUnit)
	if refusal != "" {
		return nil, []Conflict{{Object: "?orgUnit=" + orgUnit, Value: refusal}}
	}
	out := []string{id}
	if !children {
		return out, nil
	}
	below := map[string][]string{}
	for _, l := range e.mp.defs.Locations() {
		if parent := l.GetPartOf().GetLocationId().GetValue(); parent != "" {
			below[parent] = append(below[parent], l.GetId().GetValue())
		}
	}
	seen := map[string]bool{id: true}
	for i := 0; i < len(out); i++ {
		for _, c := range below[out[i]] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// Group is the ADX group of a stored report: dataSet, orgUnit and
// dataElement written in the Exporter's schemes (under code, the Measure's
// first identifier value, else its name; the Location's first identifier
// value; the Measure group's code), the population count as a value without
// disaggregation, each stratum as a value with one attribute per
// component. Importing it gives the same report back. A report that ADX
// cannot name (its Measure or Location has nothing to name it by in the
// scheme, it has no period) is a 406 *operationoutcome.Error.
func (e *Exporter) Group(ctx context.Context, r *mrpb.MeasureReport) (Group, error) {
	var g Group
	url, _, _ := strings.Cut(r.GetMeasure().GetValue(), "|")
	def, err := e.mp.defs.Compiled(ctx, url)
	if err != nil {
		return g, err
	}
	u, v := def.Measure()
	for _, m := range e.mp.defs.Measures() {
		if m.GetUrl().GetValue() != u || m.GetVersion().GetValue() != v {
			continue
		}
		switch {
		case e.mp.opts.DataSet == UID:
			g.DataSet = m.GetId().GetValue()
		case len(m.GetIdentifier()) > 0:
			g.DataSet = m.GetIdentifier()[0].GetValue().GetValue()
		default:
			g.DataSet = m.GetName().GetValue()
		}
	}
	locID := r.GetSubject().GetLocationId().GetValue()
	g.OrgUnit = locID
	if e.mp.opts.OrgUnit == Code {
		g.OrgUnit = ""
		for _, l := range e.mp.defs.Locations() {
			if l.GetId().GetValue() == locID && len(l.GetIdentifier()) > 0 {
				g.OrgUnit = l.GetIdentifier()[0].GetValue().GetValue()
			}
		}
	}
	if g.DataSet == "" || g.OrgUnit == "" {
		return g, oo.Errorf(http.StatusNotAcceptable, oo.NotSupported, "",
			"MeasureReport/%s cannot be written as ADX: under idScheme=code its Measure (%s) needs an identifier or a name and its Location (%s) an identifier; export it with idScheme=uid, or as FHIR.",
			r.GetId().GetValue(), url, locID)
	}
	start, end := r.GetPeriod().GetStart(), r.GetPeriod().GetEnd()
	lo, _ := fhirtime.Span(start)
	_, hi := fhirtime.Span(end)
	s, err1 := time.Parse("2006-01-02", fhirtime.Day(lo, start.GetTimezone()))
	t, err2 := time.Parse("2006-01-02", fhirtime.Day(hi-1, end.GetTimezone()))
	if err1 != nil || err2 != nil {
		return g, oo.Errorf(http.StatusNotAcceptable, oo.NotSupported, "",
			"MeasureReport/%s cannot be written as ADX: it has no period with a start and an end.", r.GetId().GetValue())
	}
	g.Period = Period{Start: s, End: t}.String()
	if d := r.GetDate(); d != nil {
		lo, _ := fhirtime.Span(d)
		g.CompleteDate = fhirtime.Day(lo, d.GetTimezone())
	}
	for _, rg := range r.GetGroup() {
		de := firstCode(rg.GetCode())
		if e.mp.opts.DataElement == UID {
			de = rg.GetId().GetValue()
		}
		for _, p := range rg.GetPopulation() {
			if p.GetCount() != nil {
				g.Values = append(g.Values, DataValue{DataElement: de, Value: strconv.Itoa(int(p.GetCount().GetValue()))})
				break
			}
		}
		for _, st := range rg.GetStratifier() {
			for _, k := range st.GetStratum() {
				dv := DataValue{DataElement: de, Value: k.GetMeasureScore().GetValue().GetValue()}
				for _, c := range k.GetComponent() {
					dv.Disaggs = append(dv.Disaggs, Attr{Name: firstCode(c.GetCode()), Value: firstCode(c.GetValue())})
				}
				g.Values = append(g.Values, dv)
			}
		}
	}
	return g, nil
}

// Marshal writes m as ADX, exported at the given time.
func Marshal(m *Message) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	root := xml.StartElement{Name: xml.Name{Local: "adx"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}, {Name: xml.Name{Local: "exported"}, Value: m.Exported}}}
	if err := enc.EncodeToken(root); err != nil {
		return nil, err
	}
	for _, g := range m.Groups {
		attrs := []xml.Attr{{Name: xml.Name{Local: "dataSet"}, Value: g.DataSet}, {Name: xml.Name{Local: "orgUnit"}, Value: g.OrgUnit}, {Name: xml.Name{Local: "period"}, Value: g.Period}}
		if g.CompleteDate != "" {
			attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "completeDate"}, Value: g.CompleteDate})
		}
		for _, a := range g.Attrs {
			attrs = append(attrs, xml.Attr{Name: xml.Name{Local: a.Name}, Value: a.Value})
		}
		ge := xml.StartElement{Name: xml.Name{Local: "group"}, Attr: attrs}
		if err := enc.EncodeToken(ge); err != nil {
			return nil, err
		}
		for _, v := range g.Values {
			attrs := []xml.Attr{{Name: xml.Name{Local: "dataElement"}, Value: v.DataElement}}
			for _, a := range v.Disaggs {
				attrs = append(attrs, xml.Attr{Name: xml.Name{Local: a.Name}, Value: a.Value})
			}
			attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "value"}, Value: v.Value})
			dv := xml.StartElement{Name: xml.Name{Local: "dataValue"}, Attr: attrs}
			if err := enc.EncodeToken(dv); err != nil {
				return nil, err
			}
			if err := enc.EncodeToken(dv.End()); err != nil {
				return nil, err
			}
		}
		if err := enc.EncodeToken(ge.End()); err != nil {
			return nil, err
		}
	}
	if err := enc.EncodeToken(root.End()); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
