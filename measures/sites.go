package measures

import (
	"fmt"
	"sort"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/concept_map_go_proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

// siteMaps is the jurisdiction's explicit map of senders' facility codes
// to its Locations (OpenHIE "Export Aggregate Data", steps 3-4), read from
// ConceptMaps: group.source is the sender's identifier system, each
// element.code one of its codes, and element.target.code the Location: its
// id when group.target is absent, else its identifier value in the system
// group.target names.
type siteMaps struct {
	codes   map[identKey][]siteTarget
	systems map[string][]string // sender system -> ConceptMap/<id> that map it
}

// siteTarget is where a map sends one code: the Location id it resolved to
// ("" when none carries the target), and what the map wrote, for
// diagnostics.
type siteTarget struct {
	id, via, target string
}

// addSiteMaps indexes maps against the Locations already in reg. A
// retired ConceptMap maps nothing; a target of equivalence unmatched or
// disjoint says that the code has no Location.
func (reg *Registry) addSiteMaps(maps []*cmpb.ConceptMap) {
	reg.sites = siteMaps{codes: map[identKey][]siteTarget{}, systems: map[string][]string{}}
	for _, cm := range maps {
		if cm.GetStatus().GetValue() == cpb.PublicationStatusCode_RETIRED {
			continue
		}
		via := "ConceptMap/" + cm.GetId().GetValue()
		for _, g := range cm.GetGroup() {
			src, tsys := g.GetSource().GetValue(), g.GetTarget().GetValue()
			if src == "" {
				continue
			}
			if s := reg.sites.systems[src]; len(s) == 0 || s[len(s)-1] != via {
				reg.sites.systems[src] = append(s, via)
			}
			for _, e := range g.GetElement() {
				k := identKey{src, e.GetCode().GetValue()}
				for _, t := range e.GetTarget() {
					switch t.GetEquivalence().GetValue() {
					case cpb.ConceptMapEquivalenceCode_UNMATCHED, cpb.ConceptMapEquivalenceCode_DISJOINT:
						continue
					}
					reg.sites.codes[k] = append(reg.sites.codes[k], reg.siteTarget(via, tsys, t.GetCode().GetValue()))
				}
			}
		}
	}
}

func (reg *Registry) siteTarget(via, system, code string) siteTarget {
	st := siteTarget{via: via}
	if system == "" {
		id := strings.TrimPrefix(code, "Location/")
		st.target = "Location/" + id
		if _, ok := reg.locations.ids[id]; ok {
			st.id = id
		}
		return st
	}
	st.target = system + "|" + code
	if ids := reg.locations.idents[identKey{system, code}]; len(ids) == 1 {
		st.id = ids[0]
	}
	return st
}

// site resolves a sender's code through the site maps. ok is false when
// no map names the code; issue is the refusal when the maps name it
// wrongly (to no known Location, or to several), or when its system is
// mapped but the code is not.
func (reg *Registry) site(k identKey, expr string) (id string, issue string, ok bool) {
	targets := reg.sites.codes[k]
	if len(targets) == 0 {
		if maps := reg.sites.systems[k.system]; len(maps) > 0 {
			return "", fmt.Sprintf("%s identifier %s|%s: the code %q of %s is not mapped to a Location; expected a code that the site map of %s (%s) maps (the jurisdiction adds it there)",
				expr, k.system, k.value, k.value, k.system, k.system, strings.Join(maps, ", ")), true
		}
		return "", "", false
	}
	ids := map[string]bool{}
	var unknown []string
	for _, t := range targets {
		if t.id == "" {
			unknown = append(unknown, fmt.Sprintf("%s (by %s)", t.target, t.via))
			continue
		}
		ids[t.id] = true
	}
	switch {
	case len(ids) == 1:
		for id := range ids {
			return id, "", true
		}
	case len(ids) > 1:
		var list []string
		for id := range ids {
			list = append(list, "Location/"+id)
		}
		sort.Strings(list)
		return "", fmt.Sprintf("%s identifier %s|%s is mapped to several Locations (%s); the site maps must send a code to one Location", expr, k.system, k.value, strings.Join(list, ", ")), true
	}
	return "", fmt.Sprintf("%s identifier %s|%s is mapped to %s, which is no known reporting Location (or is carried by several)", expr, k.system, k.value, strings.Join(unknown, ", ")), true
}

// CheckSiteMap reports, as warnings, what in a ConceptMap about to be
// stored would map a sender's code to no known Location: a target Location
// id that is not stored, or an identifier (of a system some Location
// uses) that no Location, or several, carry. Reports naming those codes
// would be refused; the map is still stored, since its Locations may be
// loaded after it. Groups whose target system no Location uses are maps of
// other codes, and are not checked.
func (reg *Registry) CheckSiteMap(cm *cmpb.ConceptMap) []oo.Issue {
	if reg == nil {
		reg = NewRegistry(nil, nil, nil)
	}
	var issues []oo.Issue
	for gi, g := range cm.GetGroup() {
		tsys := g.GetTarget().GetValue()
		if g.GetSource().GetValue() == "" || (tsys != "" && !reg.locSystems[tsys]) {
			continue
		}
		for ei, e := range g.GetElement() {
			for ti, t := range e.GetTarget() {
				switch t.GetEquivalence().GetValue() {
				case cpb.ConceptMapEquivalenceCode_UNMATCHED, cpb.ConceptMapEquivalenceCode_DISJOINT:
					continue
				}
				if st := reg.siteTarget("", tsys, t.GetCode().GetValue()); st.id == "" {
					issues = append(issues, oo.Issuef(oo.SeverityWarning, oo.NotFound,
						fmt.Sprintf("ConceptMap.group[%d].element[%d].target[%d].code", gi, ei, ti),
						"%s|%s is mapped to %s, which is no stored Location (or is carried by several); reports naming this code are refused until the Location is stored", g.GetSource().GetValue(), e.GetCode().GetValue(), st.target))
				}
			}
		}
	}
	return issues
}
