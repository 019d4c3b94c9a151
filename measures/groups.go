package measures

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

const semantics = "QRPH-58 2:3.58.4.1.2"

func (c *checker) groups(r *mrpb.MeasureReport) {
	if len(r.GetGroup()) == 0 {
		c.required("MeasureReport", "MeasureReport.group", "mADX-MeasureReport group 1..*")
		return
	}
	var seen firstSeen
	for gi, g := range r.GetGroup() {
		gd := c.group(gi, g)
		if gd == nil {
			continue
		}
		if prev, dup := seen.see(gd.index, gi); dup {
			c.fatal(oo.Duplicate, groupPath(gi)+".code",
				"group %s is reported twice: MeasureReport.group[%d] has the same code", gd.label, prev)
		}
	}
}

// group checks one report group and returns the Measure group it matches.
func (c *checker) group(gi int, g *mrpb.MeasureReport_Group) *groupDef {
	var gd *groupDef
	switch {
	case g.GetCode() == nil:
		c.required(groupPath(gi), groupPath(gi)+".code", semantics+": group.code.coding.code")
	case !hasCode(g.GetCode()):
		c.required(groupPath(gi)+".code", groupPath(gi)+".code.coding.code", semantics)
	default:
		if gd = c.d.matchGroup(g.GetCode()); gd == nil {
			c.fatal(oo.CodeInvalid, groupPath(gi)+".code",
				"group code %s is not a group of Measure %s|%s; expected one of: %s",
				codingsText(g.GetCode()), c.d.url, c.d.version, c.d.groupLabels())
		}
	}
	total, totalOK := c.populations(gi, g, gd)
	for si, s := range g.GetStratifier() {
		c.stratifier(gi, si, s, gd, total, totalOK)
	}
	return gd
}

func (d *Definition) matchGroup(cc *dtpb.CodeableConcept) *groupDef {
	for _, co := range cc.GetCoding() {
		if i, ok := d.groupByCode[keyOf(co)]; ok {
			return d.groups[i]
		}
	}
	return nil
}

func (d *Definition) groupLabels() string {
	labels := make([]string, len(d.groups))
	for i, g := range d.groups {
		labels[i] = g.label
	}
	return strings.Join(labels, ", ")
}

// populations checks group.population and returns the count the strata of
// a stratifier are expected to add up to: the only population's, or the
// initial-population's.
func (c *checker) populations(gi int, g *mrpb.MeasureReport_Group, gd *groupDef) (total int64, totalOK bool) {
	if len(g.GetPopulation()) == 0 {
		c.required(groupPath(gi), groupPath(gi)+".population", semantics+": group.population")
		return 0, false
	}
	var seen firstSeen
	for pi, p := range g.GetPopulation() {
		pp := func() string { return populationPath(gi, pi) } // built only for an issue
		switch {
		case p.GetCode() == nil:
			c.required(pp(), pp()+".code", semantics+": group.population.code")
		case !hasCode(p.GetCode()):
			c.required(pp()+".code", pp()+".code.coding.code", semantics)
		case gd != nil:
			pd, ok := gd.population(p.GetCode())
			if !ok {
				c.fatal(oo.CodeInvalid, pp()+".code",
					"population code %s is not a population of group %s in Measure %s|%s; expected one of: %s",
					codingsText(p.GetCode()), gd.label, c.d.url, c.d.version, strings.Join(gd.popLabels, ", "))
			} else if prev, dup := seen.see(pd, pi); dup {
				c.fatal(oo.Duplicate, pp()+".code",
					"population %s is reported twice in this group: population[%d] has the same code", gd.popLabels[pd], prev)
			}
		}
		switch {
		case p.GetCount() == nil:
			c.required(pp(), pp()+".count", semantics+": group.population.count")
		case p.GetCount().GetValue() < 0:
			c.fatal(oo.Value, pp()+".count", "population count is %d; a count cannot be negative", p.GetCount().GetValue())
		case len(g.GetPopulation()) == 1 || isInitialPopulation(p.GetCode()):
			total, totalOK = int64(p.GetCount().GetValue()), true
		}
	}
	return total, totalOK
}

func (gd *groupDef) population(cc *dtpb.CodeableConcept) (int, bool) {
	for _, co := range cc.GetCoding() {
		if i, ok := gd.populations[keyOf(co)]; ok {
			return i, true
		}
	}
	return 0, false
}

func isInitialPopulation(cc *dtpb.CodeableConcept) bool {
	for _, co := range cc.GetCoding() {
		if co.GetCode().GetValue() == "initial-population" {
			return true
		}
	}
	return false
}
