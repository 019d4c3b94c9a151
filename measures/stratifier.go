package measures

import (
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

// scratch is per-Check working memory, pooled in the Definition so that
// duplicate detection allocates nothing on the valid path.
type scratch struct{ strata []stratumHash }

// stratumHash is the hash of a stratum's component values; strata with
// equal hashes are compared value by value before a duplicate is reported.
type stratumHash struct {
	h uint64
	k int // stratum index
}

type stratum = mrpb.MeasureReport_Group_Stratifier_StratifierGroup

func (c *checker) stratifier(gi, si int, s *mrpb.MeasureReport_Group_Stratifier, gd *groupDef, total int64, totalOK bool) {
	sp := func() string { return stratifierPath(gi, si) } // built only for an issue
	var sd *stratDef
	if gd != nil {
		if sd = gd.matchStratifier(s); sd == nil {
			c.fatal(oo.CodeInvalid, sp(),
				"stratifier %s matches no stratifier of group %s in Measure %s|%s (by id, code or the component codes of its first stratum); expected one of: %s",
				reportStratifierLabel(s), gd.label, c.d.url, c.d.version, gd.stratifierLabels())
		}
	}
	if len(s.GetStratum()) == 0 {
		c.required(sp(), sp()+".stratum", "mADX-MeasureReport group.stratifier.stratum 1..*")
		return
	}
	sc := c.d.scratch.Get().(*scratch)
	sc.strata = sc.strata[:0]
	defer c.d.scratch.Put(sc)

	var sum float64
	sumOK := sd != nil && totalOK
	var unresolvedSeen uint64 // components whose unresolvable value set was already reported
	for ki, st := range s.GetStratum() {
		score, ok := c.score(gi, si, ki, st, gd)
		sum += score
		sumOK = sumOK && ok
		if sd == nil {
			continue
		}
		if h, ok := c.components(gi, si, ki, st, sd, &unresolvedSeen); ok {
			sc.strata = append(sc.strata, stratumHash{h: h, k: ki})
		} else {
			sumOK = false
		}
	}
	if sd != nil {
		c.duplicates(gi, si, s, sd, sc.strata)
	}
	// The IHE example's age x gender strata add up to 473 against a count of
	// 426, so a mismatch can only be a warning (testdata/README.md).
	if sumOK && sum != float64(total) {
		c.add(oo.SeverityWarning, oo.BusinessRule, sp(),
			"the measureScore values of the %d strata of stratifier %s add up to %s, but the group's population count is %d; the strata of a stratifier over the whole population are expected to add up to it (accepted)",
			len(s.GetStratum()), sd.label, strconv.FormatFloat(sum, 'f', -1, 64), total)
	}
}

// score checks stratum.measureScore (QRPH-58 2:3.58.4.1.2: measureScore.value
// is the reported number) and any stratum.population. ok is false when the
// score cannot take part in the sum, including when the stratum counts its
// own populations (it then does not partition the group's population).
func (c *checker) score(gi, si, ki int, st *stratum, gd *groupDef) (float64, bool) {
	kp := func() string { return stratumPath(gi, si, ki) }
	ok := len(st.GetPopulation()) == 0
	for pi, p := range st.GetPopulation() {
		pp := func() string { return idx(kp(), "population", pi) }
		if gd != nil && hasCode(p.GetCode()) {
			if _, known := gd.population(p.GetCode()); !known {
				c.fatal(oo.CodeInvalid, pp()+".code", "stratum population code %s is not a population of group %s; expected one of: %s",
					codingsText(p.GetCode()), gd.label, strings.Join(gd.popLabels, ", "))
			}
		}
		if p.GetCount().GetValue() < 0 {
			c.fatal(oo.Value, pp()+".count", "stratum population count is %d; a count cannot be negative", p.GetCount().GetValue())
		}
	}
	ms := st.GetMeasureScore()
	switch {
	case ms == nil:
		c.required(kp(), kp()+".measureScore", semantics+": stratum.measureScore")
		return 0, false
	case ms.GetValue() == nil:
		c.required(kp()+".measureScore", kp()+".measureScore.value", semantics+": stratum.measureScore.value")
		return 0, false
	}
	v, err := strconv.ParseFloat(ms.GetValue().GetValue(), 64)
	switch {
	case err != nil:
		c.fatal(oo.Value, kp()+".measureScore.value", "measureScore.value %q is not a number", ms.GetValue().GetValue())
		return 0, false
	case v < 0:
		c.fatal(oo.Value, kp()+".measureScore.value", "measureScore.value is %s; an aggregate count cannot be negative", ms.GetValue().GetValue())
		return 0, false
	}
	return v, ok
}

// components checks that a stratum's component codes are exactly the
// stratifier's and that every value is a code of its component's value
// set. It returns the hash of the values and whether all were valid.
func (c *checker) components(gi, si, ki int, st *stratum, sd *stratDef, unresolvedSeen *uint64) (uint64, bool) {
	kp := func() string { return stratumPath(gi, si, ki) }
	if len(st.GetComponent()) == 0 {
		c.required(kp(), kp()+".component", semantics+": a disaggregated indicator reports stratum.component code and value")
		return 0, false
	}
	var seen firstSeen
	var h uint64
	ok := true
	for ci, comp := range st.GetComponent() {
		cp := func() string { return componentPath(gi, si, ki, ci) }
		if !hasCode(comp.GetCode()) {
			c.required(cp(), cp()+".code", semantics+": stratum.component.code")
			ok = false
			continue
		}
		k := sd.componentIndex(comp.GetCode())
		if k < 0 {
			c.fatal(oo.CodeInvalid, cp()+".code", "stratum component code %s is not a component of stratifier %s",
				codingsText(comp.GetCode()), sd.label)
			ok = false
			continue
		}
		if prev, dup := seen.see(k, ci); dup {
			c.fatal(oo.Duplicate, cp()+".code", "stratum component '%s' appears twice in this stratum: component[%d] has the same code",
				sd.components[k].label, prev)
			ok = false
			continue
		}
		v := comp.GetValue()
		if len(v.GetCoding()) == 0 {
			if v == nil {
				c.required(cp(), cp()+".value", semantics+": stratum.component.value")
			} else {
				c.required(cp()+".value", cp()+".value.coding", "a component value is a code of the component's value set")
			}
			ok = false
			continue
		}
		vk, valid := c.value(cp, sd.components[k], k, v, unresolvedSeen)
		ok = ok && valid
		h += mixComponent(c.d.seed, k, vk)
	}
	for k, cd := range sd.components {
		if _, present := seen.see(k, -1); !present {
			c.required(kp(), kp()+".component", "stratifier "+sd.label+" has component '"+cd.label+"', which this stratum lacks")
			ok = false
		}
	}
	return h, ok
}

// value checks one component value (IHE mADX Test Case 2) and returns the
// coding that identifies it for duplicate detection. Any coding of the
// CodeableConcept may carry the valid code (the others are translations).
func (c *checker) value(cp func() string, cd *componentDef, k int, v *dtpb.CodeableConcept, unresolvedSeen *uint64) (codeKey, bool) {
	if cd.set == nil {
		// Compile already reported the unresolvable artifact; say once per
		// stratifier which values went unchecked (or, strict, are refused).
		if k >= 64 || *unresolvedSeen&(1<<k) == 0 {
			if k < 64 {
				*unresolvedSeen |= 1 << k
			}
			sev, what := oo.SeverityWarning, "accepted unchecked"
			if c.d.opts.StrictTerminology {
				sev, what = oo.SeverityFatal, "rejected (strict terminology)"
			}
			c.add(sev, oo.NotFound, cp()+".value", "values of stratum component '%s' cannot be checked and are %s: expected %s",
				cd.label, what, cd.expected)
		}
		return keyOf(v.GetCoding()[0]), !c.d.opts.StrictTerminology
	}
	best, bestKey := notMember, keyOf(v.GetCoding()[0])
	for _, co := range v.GetCoding() {
		key := keyOf(co)
		if m := cd.set.lookup(key); m == member {
			return key, true
		} else if m == unverified && best == notMember {
			best, bestKey = m, key
		}
	}
	if best == unverified {
		sev, what := oo.SeverityWarning, "accepted"
		if c.d.opts.StrictTerminology {
			sev, what = oo.SeverityFatal, "rejected (strict terminology)"
		}
		c.add(sev, oo.CodeInvalid, cp()+".value",
			"stratum component '%s' has value %s, which the stored terminology can neither confirm nor rule out (%s); expected %s",
			cd.label, bestKey, what, cd.expected)
		return bestKey, !c.d.opts.StrictTerminology
	}
	c.fatal(oo.CodeInvalid, cp()+".value", "stratum component '%s' has value %s; expected %s", cd.label, codingsText(v), cd.expected)
	return bestKey, false
}

// duplicates reports a stratum whose component values repeat an earlier
// stratum's in the same stratifier: the report would count the cell twice.
func (c *checker) duplicates(gi, si int, s *mrpb.MeasureReport_Group_Stratifier, sd *stratDef, hs []stratumHash) {
	slices.SortFunc(hs, func(a, b stratumHash) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return a.k - b.k
	})
	for i := 1; i < len(hs); i++ {
		for j := i - 1; j >= 0 && hs[j].h == hs[i].h; j-- {
			a, b := s.GetStratum()[hs[j].k], s.GetStratum()[hs[i].k]
			if sameValues(sd, a, b) {
				c.fatal(oo.Duplicate, stratumPath(gi, si, hs[i].k),
					"stratum[%d] repeats the component values of stratum[%d] (%s) in stratifier %s; each combination may be reported once",
					hs[i].k, hs[j].k, valuesText(b), sd.label)
				break
			}
		}
	}
}

func sameValues(sd *stratDef, a, b *stratum) bool {
	for _, ca := range a.GetComponent() {
		k := sd.componentIndex(ca.GetCode())
		found := false
		for _, cb := range b.GetComponent() {
			if sd.componentIndex(cb.GetCode()) == k {
				found = sd.valueKey(k, ca.GetValue()) == sd.valueKey(k, cb.GetValue())
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(a.GetComponent()) == len(b.GetComponent())
}

// valueKey is the coding of v that identifies it: the first one that is a
// member of the component's value set, else the first one.
func (sd *stratDef) valueKey(k int, v *dtpb.CodeableConcept) codeKey {
	if set := sd.components[k].set; set != nil {
		for _, co := range v.GetCoding() {
			if set.lookup(keyOf(co)) != notMember {
				return keyOf(co)
			}
		}
	}
	if len(v.GetCoding()) == 0 {
		return codeKey{}
	}
	return keyOf(v.GetCoding()[0])
}

func valuesText(st *stratum) string {
	parts := make([]string, 0, len(st.GetComponent()))
	for _, comp := range st.GetComponent() {
		parts = append(parts, firstCode(comp.GetCode())+"="+codingsText(comp.GetValue()))
	}
	return strings.Join(parts, ", ")
}

// mixComponent hashes one component value (maphash over system and code,
// then a splitmix64 finaliser keyed by the component index); the stratum
// hash is the sum, so component order does not matter. Equal hashes are
// confirmed value by value before a duplicate is reported.
func mixComponent(seed maphash.Seed, k int, key codeKey) uint64 {
	h := maphash.String(seed, key.system)*31 ^ maphash.String(seed, key.code)
	h ^= uint64(k+1) * 0x9e3779b97f4a7c15
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// matchStratifier finds the Measure stratifier a report stratifier stands
// for: by id, else by stratifier.code, else by the set of component codes
// of its first stratum.
func (gd *groupDef) matchStratifier(s *mrpb.MeasureReport_Group_Stratifier) *stratDef {
	if id := s.GetId().GetValue(); id != "" {
		for _, sd := range gd.stratifiers {
			if sd.id == id {
				return sd
			}
		}
	}
	for _, cc := range s.GetCode() {
		for _, co := range cc.GetCoding() {
			for _, sd := range gd.stratifiers {
				if _, ok := sd.codes[keyOf(co)]; ok {
					return sd
				}
			}
		}
	}
	if len(s.GetStratum()) == 0 {
		return nil
	}
	comps := s.GetStratum()[0].GetComponent()
	for _, sd := range gd.stratifiers {
		if len(sd.components) != len(comps) {
			continue
		}
		var seen firstSeen
		all := true
		for ci, comp := range comps {
			k := sd.componentIndex(comp.GetCode())
			if k < 0 {
				all = false
				break
			}
			if _, dup := seen.see(k, ci); dup {
				all = false
				break
			}
		}
		if all {
			return sd
		}
	}
	return nil
}

func (sd *stratDef) componentIndex(cc *dtpb.CodeableConcept) int {
	for _, co := range cc.GetCoding() {
		if k, ok := sd.byCode[keyOf(co)]; ok {
			return k
		}
	}
	return -1
}

func (gd *groupDef) stratifierLabels() string {
	labels := make([]string, len(gd.stratifiers))
	for i, sd := range gd.stratifiers {
		labels[i] = sd.label
	}
	return strings.Join(labels, "; ")
}

func reportStratifierLabel(s *mrpb.MeasureReport_Group_Stratifier) string {
	var comps []string
	if len(s.GetStratum()) > 0 {
		for _, comp := range s.GetStratum()[0].GetComponent() {
			comps = append(comps, firstCode(comp.GetCode()))
		}
	}
	return "'" + s.GetId().GetValue() + "' (components " + strings.Join(comps, ", ") + ")"
}
