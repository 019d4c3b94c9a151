package adx

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	oo "github.com/madx-project/madx/operationoutcome"
)

func isRefusal(err error) bool {
	var e *oo.Error
	return errors.As(err, &e) && e.Status < 500
}

// element is one dataElement of a group as it is being mapped.
type element struct {
	mg         int // index in Measure.group
	rg         *mrpb.MeasureReport_Group
	count      string // the plain value, "" if none
	countAt    int    // its dataValue, 1-based
	strats     map[int]*mrpb.MeasureReport_Group_Stratifier
	stratOrder []int
	strata     map[int][]int    // dataValue of each stratum
	seen       map[string]int   // stratum values -> dataValue, per stratifier
	sums       map[int]*big.Rat // per stratifier: its fractional values
	ints       map[int]int64    // per stratifier: its whole values
}

// values maps the dataValues of g into rep, or adds conflicts to r.
func (mp *mapper) values(gi int, g *Group, mm *measureMatch, rep *mrpb.MeasureReport, r *Report) {
	conflict := func(obj, format string, args ...any) {
		r.Conflicts = append(r.Conflicts, Conflict{Object: obj, Value: fmt.Sprintf(format, args...)})
	}
	byElement := map[string]*element{}
	var order []*element
	for vi := range g.Values {
		dv := &g.Values[vi]
		vw := fmt.Sprintf("%s/dataValue[%d]", where(gi), vi+1)
		mg, refusal := mp.dataElement(mm.m, dv.DataElement)
		if refusal != "" {
			conflict(vw+"/@dataElement", "%s", refusal)
			continue
		}
		value, ok := decimal(dv.Value)
		if !ok {
			conflict(vw+"/@value", "value %q is not a number; expected a decimal (for example 32)", dv.Value)
			continue
		}
		if strings.HasPrefix(value, "-") {
			conflict(vw+"/@value", "value is %s; an aggregate count cannot be negative", value)
			continue
		}
		el := byElement[dv.DataElement]
		if el == nil {
			el = &element{mg: mg, rg: &mrpb.MeasureReport_Group{Code: clone(mm.m.GetGroup()[mg].GetCode())},
				strats: map[int]*mrpb.MeasureReport_Group_Stratifier{}, strata: map[int][]int{}, seen: map[string]int{},
				sums: map[int]*big.Rat{}, ints: map[int]int64{}}
			byElement[dv.DataElement] = el
			order = append(order, el)
		}
		if len(dv.Disaggs) == 0 {
			if el.countAt != 0 {
				conflict(vw, "dataElement %s has a value without disaggregation at dataValue[%d] already; send it once", dv.DataElement, el.countAt)
				continue
			}
			if !isWhole(value) {
				conflict(vw+"/@value", "value is %s; the value of a dataElement without disaggregation is a population count, a whole number", value)
				continue
			}
			whole, _, _ := strings.Cut(value, ".")
			el.count, el.countAt = whole, vi+1
			continue
		}
		mp.stratum(mm, el, dv, vi, vw, value, conflict)
	}
	if len(r.Conflicts) > 0 {
		return
	}
	for _, el := range order {
		mp.finishElement(gi, mm, el, r, conflict)
		rep.Group = append(rep.Group, el.rg)
		r.origin = append(r.origin, el.countAt)
		var ss [][]int
		for _, si := range el.stratOrder {
			el.rg.Stratifier = append(el.rg.Stratifier, el.strats[si])
			ss = append(ss, el.strata[si])
		}
		r.strata = append(r.strata, ss)
	}
}

// stratum adds one disaggregated dataValue to its element.
func (mp *mapper) stratum(mm *measureMatch, el *element, dv *DataValue, vi int, vw, value string, conflict func(string, string, ...any)) {
	mgroup := mm.m.GetGroup()[el.mg]
	si, expected := mp.stratifierFor(mm, el.mg, dv.Disaggs)
	if si < 0 {
		conflict(vw, "%s", fmt.Sprintf("dataElement %s is disaggregated by %s; expected %s", dv.DataElement, expected[0], expected[1]))
		return
	}
	ms := mgroup.GetStratifier()[si]
	st := &mrpb.MeasureReport_Group_Stratifier_StratifierGroup{
		MeasureScore: &dtpb.Quantity{Value: &dtpb.Decimal{Value: value}},
	}
	key := make([]string, len(ms.GetComponent()))
	ok := true
	for k, c := range ms.GetComponent() {
		name := firstCode(c.GetCode())
		var val string
		for _, a := range dv.Disaggs {
			if a.Name == name {
				val = a.Value
			}
		}
		key[k] = val
		ans := mp.componentCode(mm, el.mg, si, k, val)
		switch len(ans.systems) {
		case 0:
			conflict(vw+"/@"+name, "%s is %q; expected %s", name, val, ans.expected)
			ok = false
			continue
		case 1:
		default:
			conflict(vw+"/@"+name, "%s is %q, a code of several systems of its value set (%s): it is ambiguous without a system", name, val, strings.Join(ans.systems, ", "))
			ok = false
			continue
		}
		st.Component = append(st.Component, &mrpb.MeasureReport_Group_Stratifier_StratifierGroup_Component{
			Code:  mp.componentCodeConcept(mm, el.mg, si, k, c.GetCode()),
			Value: ans.value,
		})
	}
	if !ok {
		return
	}
	sk := fmt.Sprintf("%d\x00%s", si, strings.Join(key, "\x00"))
	if prev, dup := el.seen[sk]; dup {
		conflict(vw, "dataElement %s has the same disaggregation as dataValue[%d]; send each value once", dv.DataElement, prev)
		return
	}
	el.seen[sk] = vi + 1
	s := el.strats[si]
	if s == nil {
		s = &mrpb.MeasureReport_Group_Stratifier{}
		if ms.GetCode() != nil {
			s.Code = []*dtpb.CodeableConcept{clone(ms.GetCode())}
		}
		if id := ms.GetId().GetValue(); id != "" {
			s.Id = &dtpb.String{Value: id}
		}
		el.strats[si] = s
		el.stratOrder = append(el.stratOrder, si)
		el.sums[si] = new(big.Rat)
	}
	s.Stratum = append(s.Stratum, st)
	el.strata[si] = append(el.strata[si], vi+1)
	// Counts are whole numbers: add them as integers, and only fractions
	// (or sums past int64) as rationals.
	if n, err := strconv.ParseInt(value, 10, 64); err == nil && el.ints[si] <= math.MaxInt64-n {
		el.ints[si] += n
		return
	}
	v, _ := new(big.Rat).SetString(value)
	el.sums[si].Add(el.sums[si], v)
}

// stratifierFor finds the stratifier of Measure group mg whose component
// codes are exactly the attribute names, once per message and set of names;
// when none is, it returns -1 and what was found and expected.
func (mp *mapper) stratifierFor(mm *measureMatch, mg int, attrs []Attr) (int, [2]string) {
	names := make([]string, len(attrs))
	for i, a := range attrs {
		names[i] = a.Name
	}
	sort.Strings(names)
	key := stratKey{m: mm, mg: mg, names: strings.Join(names, "\x00")}
	if si, ok := mp.strats[key]; ok {
		return si, [2]string{"(" + strings.Join(names, ", ") + ")", mp.stratExpected[key]}
	}
	mgroup := mm.m.GetGroup()[mg]
	si := -1
	var sets []string
	for i, s := range mgroup.GetStratifier() {
		comps := componentCodes(s)
		sets = append(sets, "("+strings.Join(comps, ", ")+")")
		sort.Strings(comps)
		if strings.Join(comps, "\x00") == key.names {
			si = i
		}
	}
	expected := "the attributes of one of the Measure group's stratifiers: " + strings.Join(sets, ", ")
	if len(sets) == 0 {
		expected = "no disaggregation: the Measure group has no stratifier"
	}
	if si < 0 {
		expected = "which matches no stratifier; expected " + expected
	}
	mp.strats[key], mp.stratExpected[key] = si, expected
	return si, [2]string{"(" + strings.Join(names, ", ") + ")", expected}
}

type stratKey struct {
	m     *measureMatch
	mg    int
	names string
}

// finishElement sets the population count. Sent, it is the plain value;
// otherwise it is the total of the strata, which every stratifier sent must
// agree on (each stratifier partitions the whole population).
func (mp *mapper) finishElement(gi int, mm *measureMatch, el *element, r *Report, conflict func(string, string, ...any)) {
	mgroup := mm.m.GetGroup()[el.mg]
	count := el.count
	if count == "" {
		first := -1
		for _, si := range el.stratOrder {
			sum := new(big.Rat).Add(el.sums[si], new(big.Rat).SetInt64(el.ints[si]))
			if !sum.IsInt() {
				conflict(fmt.Sprintf("%s/dataValue[%d]", where(gi), el.strata[si][0]),
					"dataElement %s is sent without a total, and its disaggregated values add up to %s, not a whole number: the population count cannot be derived; send the total as a dataValue without disaggregation", firstCode(mgroup.GetCode()), sum.FloatString(6))
				return
			}
			if first < 0 {
				first, count = si, sum.Num().String()
				continue
			}
			if sum.Num().String() != count {
				conflict(fmt.Sprintf("%s/dataValue[%d]", where(gi), el.strata[si][0]),
					"dataElement %s is sent without a total, and its values disaggregated by %s add up to %s but those by %s to %s: the population count is ambiguous; send the total as a dataValue without disaggregation",
					firstCode(mgroup.GetCode()), strings.Join(componentCodes(mgroup.GetStratifier()[si]), "+"), sum.Num().String(),
					strings.Join(componentCodes(mgroup.GetStratifier()[first]), "+"), count)
				return
			}
		}
	}
	n, err := strconv.ParseInt(count, 10, 32)
	if err != nil {
		conflict(fmt.Sprintf("%s/dataValue[%d]", where(gi), el.countAt), "the population count %s of dataElement %s is larger than FHIR's integer allows", count, firstCode(mgroup.GetCode()))
		return
	}
	pi := populationFor(mgroup)
	if pi < 0 {
		conflict(where(gi), "dataElement %s is Measure group %s, which has no population to count", firstCode(mgroup.GetCode()), firstCode(mgroup.GetCode()))
		return
	}
	el.rg.Population = []*mrpb.MeasureReport_Group_Population{{
		Code:  clone(mgroup.GetPopulation()[pi].GetCode()),
		Count: &dtpb.Integer{Value: int32(n)},
	}}
}

// populationFor is the population an ADX value counts: initial-population
// when the Measure group has it, else its first.
func populationFor(g *mpb.Measure_Group) int {
	for i, p := range g.GetPopulation() {
		for _, c := range p.GetCode().GetCoding() {
			if c.GetCode().GetValue() == "initial-population" {
				return i
			}
		}
	}
	if len(g.GetPopulation()) > 0 {
		return 0
	}
	return -1
}

// dataElement resolves a dataElement to a Measure.group index.
func (mp *mapper) dataElement(m *mpb.Measure, de string) (int, string) {
	var found []int
	for i, g := range m.GetGroup() {
		if mp.opts.DataElement == UID {
			if g.GetId().GetValue() == de {
				found = append(found, i)
			}
			continue
		}
		for _, c := range g.GetCode().GetCoding() {
			if c.GetCode().GetValue() == de {
				found = append(found, i)
				break
			}
		}
	}
	switch {
	case len(found) == 1:
		return found[0], ""
	case len(found) > 1:
		return -1, fmt.Sprintf("dataElement %q is ambiguous: it is the code of Measure groups %v of %s", de, found, m.GetUrl().GetValue())
	}
	var labels []string
	for _, g := range m.GetGroup() {
		if mp.opts.DataElement == UID {
			labels = append(labels, g.GetId().GetValue())
		} else {
			labels = append(labels, firstCode(g.GetCode()))
		}
	}
	what := "a Measure.group code"
	if mp.opts.DataElement == UID {
		what = "a Measure.group id (dataElementIdScheme=uid)"
	}
	return -1, fmt.Sprintf("dataElement %q is not a group of Measure %s; expected %s, one of: %s", de, m.GetUrl().GetValue(), what, strings.Join(labels, ", "))
}

func (mp *mapper) componentCode(mm *measureMatch, g, s, k int, code string) codeAnswer {
	ask := codeAsk{def: mm.def, g: g, s: s, k: k, code: code}
	if a, ok := mp.codes[ask]; ok {
		return a
	}
	systems, expected := mm.def.ComponentSystems(g, s, k, code)
	a := codeAnswer{systems: systems, expected: expected}
	if len(systems) == 1 {
		a.value = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: systems[0]}, Code: &dtpb.Code{Value: code}}}}
	}
	mp.codes[ask] = a
	return a
}

// componentCodeConcept is the Measure component's code, copied once per
// message: the strata of a message's reports share it (read-only), and
// none shares the catalog's Measure.
func (mp *mapper) componentCodeConcept(mm *measureMatch, g, s, k int, cc *dtpb.CodeableConcept) *dtpb.CodeableConcept {
	ask := codeAsk{def: mm.def, g: g, s: s, k: k}
	if c, ok := mp.concepts[ask]; ok {
		return c
	}
	c := clone(cc)
	mp.concepts[ask] = c
	return c
}

func componentCodes(s *mpb.Measure_Group_Stratifier) []string {
	var out []string
	for _, c := range s.GetComponent() {
		out = append(out, firstCode(c.GetCode()))
	}
	return out
}

func firstCode(cc *dtpb.CodeableConcept) string {
	for _, c := range cc.GetCoding() {
		if v := c.GetCode().GetValue(); v != "" {
			return v
		}
	}
	return ""
}

var decimalRE = regexp.MustCompile(`^([+-]?)([0-9]*)(?:\.([0-9]*))?$`)

// decimal reads an xs:decimal (ADX's value type) and writes it as a FHIR
// decimal, keeping its precision: "+032.50" is 32.50, ".5" is 0.5.
func decimal(s string) (string, bool) {
	m := decimalRE.FindStringSubmatch(s)
	if m == nil || (m[2] == "" && m[3] == "") || len(s) > 40 {
		return "", false
	}
	intPart := strings.TrimLeft(m[2], "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if m[3] != "" {
		out += "." + m[3]
	}
	if m[1] == "-" && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, true
}

func isWhole(dec string) bool {
	_, frac, ok := strings.Cut(dec, ".")
	return !ok || strings.Trim(frac, "0") == ""
}
