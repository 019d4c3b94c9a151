package measures

import "sort"

// ComponentSystems answers, for a code sent without a system (an ADX
// disaggregation value), the code systems in which it is certainly a member
// of the value set of component k of stratifier s of group g (indexes into
// the compiled Measure's group, stratifier and component lists), sorted, and
// the text saying what was expected there, for a refusal. It returns no
// systems when the indexes name no component, the component's value set is
// not stored, or code is not a certain member (including codes of systems
// the set leaves open: a system cannot be guessed).
func (d *Definition) ComponentSystems(g, s, k int, code string) (systems []string, expected string) {
	if g < 0 || g >= len(d.groups) {
		return nil, "no such Measure.group"
	}
	gd := d.groups[g]
	if s < 0 || s >= len(gd.stratifiers) {
		return nil, "no such Measure.group.stratifier"
	}
	sd := gd.stratifiers[s]
	if k < 0 || k >= len(sd.components) {
		return nil, "no such Measure.group.stratifier.component"
	}
	cd := sd.components[k]
	if cd.set == nil {
		return nil, cd.expected
	}
	for key := range cd.set.codes {
		if key.code == code {
			systems = append(systems, key.system)
		}
	}
	sort.Strings(systems)
	return systems, cd.expected
}
