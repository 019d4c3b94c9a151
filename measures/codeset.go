package measures

import "strings"

// membership is the answer of a codeSet lookup.
type membership int

const (
	notMember  membership = iota
	member                // certainly in the set
	unverified            // possibly in the set: part of its definition could not be evaluated
)

// codeSet is an expanded value set. Terminology is often incomplete (a
// fragment CodeSystem, an include of a system the server does not hold, a
// filter this package cannot evaluate), so besides the codes that are
// certainly members it records where membership is unknown, and a lookup
// answers member, unverified or notMember. Sets are built at Compile time and
// only read afterwards.
type codeSet struct {
	codes         map[codeKey]struct{} // certainly members
	maybe         map[codeKey]struct{} // listed, but a part of the definition that could not be evaluated may remove them
	open          map[string]struct{}  // any code of these systems may be a member
	openAll       bool                 // any code of any system may be a member
	except        map[codeKey]struct{} // excluded: never members, even of an open system
	exceptSystems map[string]struct{}  // whole systems excluded
	fold          map[string]struct{}  // systems whose codes compare case-insensitively (CodeSystem.caseSensitive false)
}

func newCodeSet() *codeSet {
	return &codeSet{
		codes:         map[codeKey]struct{}{},
		maybe:         map[codeKey]struct{}{},
		open:          map[string]struct{}{},
		except:        map[codeKey]struct{}{},
		exceptSystems: map[string]struct{}{},
		fold:          map[string]struct{}{},
	}
}

// openSet is a set about which nothing is known for system ("" = any system).
func openSet(system string) *codeSet {
	s := newCodeSet()
	if system == "" {
		s.openAll = true
	} else {
		s.open[system] = struct{}{}
	}
	return s
}

// lookup is on the hot path of Check: a valid code costs one map probe
// with a struct key and no allocation. codes never holds an excluded code
// (union, intersect, subtract and subtractSystem keep codes disjoint from
// except and exceptSystems), so the member answer needs no exclusion check.
func (s *codeSet) lookup(k codeKey) membership {
	if _, ok := s.codes[k]; ok {
		return member
	}
	if _, ok := s.exceptSystems[k.system]; ok {
		return notMember
	}
	if _, ok := s.except[k]; ok {
		return notMember
	}
	if _, ok := s.fold[k.system]; ok {
		for c := range s.codes {
			if c.system == k.system && strings.EqualFold(c.code, k.code) {
				return member
			}
		}
	}
	if _, ok := s.maybe[k]; ok {
		return unverified
	}
	if _, ok := s.open[k.system]; ok || s.openAll {
		return unverified
	}
	return notMember
}

// complete reports whether every membership question has a definite answer.
func (s *codeSet) complete() bool { return len(s.maybe) == 0 && len(s.open) == 0 && !s.openAll }

// union returns a ∪ b (compose.include entries are united).
func union(a, b *codeSet) *codeSet {
	out := newCodeSet()
	// An exclusion survives only where the other operand cannot contain the code.
	for k := range a.except {
		if b.lookup(k) == notMember {
			out.except[k] = struct{}{}
		}
	}
	for k := range b.except {
		if a.lookup(k) == notMember {
			out.except[k] = struct{}{}
		}
	}
	for sys := range a.exceptSystems {
		if _, ok := b.exceptSystems[sys]; ok {
			out.exceptSystems[sys] = struct{}{}
		}
	}
	for _, s := range []*codeSet{a, b} {
		for k := range s.codes {
			out.codes[k] = struct{}{}
		}
		for k := range s.maybe {
			out.maybe[k] = struct{}{}
		}
		for sys := range s.open {
			out.open[sys] = struct{}{}
		}
		for sys := range s.fold {
			out.fold[sys] = struct{}{}
		}
		out.openAll = out.openAll || s.openAll
	}
	for k := range out.codes {
		delete(out.maybe, k)
		delete(out.except, k)
	}
	return out
}

// intersect returns a ∩ b (the parts of one compose.include: system,
// concepts or filters, and each valueSet, are intersected, R4 ValueSet
// compose.include.valueSet).
func intersect(a, b *codeSet) *codeSet {
	out := newCodeSet()
	add := func(from, other *codeSet) {
		for _, m := range []map[codeKey]struct{}{from.codes, from.maybe} {
			for k := range m {
				mine := from.lookup(k)
				theirs := other.lookup(k)
				switch {
				case mine == member && theirs == member:
					out.codes[k] = struct{}{}
				case mine != notMember && theirs != notMember:
					out.maybe[k] = struct{}{}
				}
			}
		}
	}
	add(a, b)
	add(b, a)
	for k := range out.codes {
		delete(out.maybe, k)
	}
	for sys := range a.open {
		if _, ok := b.open[sys]; ok || b.openAll {
			out.open[sys] = struct{}{}
		}
	}
	if a.openAll {
		for sys := range b.open {
			out.open[sys] = struct{}{}
		}
	}
	out.openAll = a.openAll && b.openAll
	for _, s := range []*codeSet{a, b} {
		for k := range s.except {
			out.except[k] = struct{}{}
		}
		for sys := range s.exceptSystems {
			out.exceptSystems[sys] = struct{}{}
		}
		for sys := range s.fold {
			out.fold[sys] = struct{}{}
		}
	}
	return out
}

// subtract removes b from a in place (compose.exclude). What b may contain
// but cannot list stays possible: such codes of a become unverified.
func (a *codeSet) subtract(b *codeSet) {
	for _, m := range []map[codeKey]struct{}{a.codes, a.maybe} {
		for k := range m {
			switch b.lookup(k) {
			case member:
				delete(a.codes, k)
				delete(a.maybe, k)
			case unverified:
				delete(a.codes, k)
				a.maybe[k] = struct{}{}
			}
		}
	}
	for k := range b.codes {
		a.except[k] = struct{}{}
	}
}

// subtractSystem removes every code of system from a (an exclude naming a
// whole system removes all its codes, whether or not they can be listed).
func (a *codeSet) subtractSystem(system string) {
	for _, m := range []map[codeKey]struct{}{a.codes, a.maybe} {
		for k := range m {
			if k.system == system {
				delete(m, k)
			}
		}
	}
	delete(a.open, system)
	a.exceptSystems[system] = struct{}{}
}
