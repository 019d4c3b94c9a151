package measures

import (
	"context"
	"fmt"
	"sort"
	"strings"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/value_set_go_proto"
	"google.golang.org/protobuf/proto"
)

// Terminology is what Compile needs to expand value sets; the caller (the
// server) implements it over its store. It is the only way this package
// reaches outside its arguments, and only Compile calls it.
type Terminology interface {
	// Resolve returns the stored ValueSet or CodeSystem (a
	// *ValueSet, a *CodeSystem, or a *ContainedResource holding one) whose
	// canonical is canonical: "url" (the implementation picks the current
	// version) or "url|version" (exactly that version). found is false when
	// nothing is stored under it; err is for failures of the store only.
	Resolve(ctx context.Context, canonical string) (res proto.Message, found bool, err error)
}

// maxDepth bounds nested valueSet includes; deeper nesting is reported as a
// gap rather than followed (it is almost certainly a cycle through versions).
const maxDepth = 16

// expander expands canonicals for one Compile, remembering each answer so
// that a system used by several components is read once.
type expander struct {
	ctx      context.Context
	t        Terminology
	deps     map[string]struct{}
	sets     map[string]*expansion
	systems  map[string]*systemIndex
	visiting map[string]bool
}

// expansion is the outcome of expanding one canonical.
type expansion struct {
	set   *codeSet
	found bool
	kind  string   // "ValueSet" or "CodeSystem"
	gaps  []string // why the set is oo.Incomplete, for Compile warnings
}

func newExpander(ctx context.Context, t Terminology) *expander {
	return &expander{
		ctx:      ctx,
		t:        t,
		deps:     map[string]struct{}{},
		sets:     map[string]*expansion{},
		systems:  map[string]*systemIndex{},
		visiting: map[string]bool{},
	}
}

// resolve asks the Terminology and records the canonical as a dependency
// whether or not it is found: storing it later must invalidate the
// Definition.
func (e *expander) resolve(canonical string) (proto.Message, bool, error) {
	e.deps[canonical] = struct{}{}
	if e.t == nil {
		return nil, false, nil
	}
	res, found, err := e.t.Resolve(e.ctx, canonical)
	if err != nil {
		return nil, false, fmt.Errorf("resolve %s: %w", canonical, err)
	}
	if !found || res == nil {
		return nil, false, nil
	}
	if cr, ok := res.(*bcrpb.ContainedResource); ok {
		switch {
		case cr.GetValueSet() != nil:
			return cr.GetValueSet(), true, nil
		case cr.GetCodeSystem() != nil:
			return cr.GetCodeSystem(), true, nil
		default:
			return nil, false, nil
		}
	}
	return res, true, nil
}

// expand expands the ValueSet or CodeSystem at canonical.
func (e *expander) expand(canonical string, depth int) (*expansion, error) {
	if x, ok := e.sets[canonical]; ok {
		return x, nil
	}
	if e.visiting[canonical] || depth > maxDepth {
		return &expansion{set: openSet(""), found: true, kind: "ValueSet",
			gaps: []string{"value set " + canonical + " includes itself (directly or through nested value sets)"}}, nil
	}
	e.visiting[canonical] = true
	defer delete(e.visiting, canonical)

	res, found, err := e.resolve(canonical)
	if err != nil {
		return nil, err
	}
	var x *expansion
	switch r := res.(type) {
	case *vspb.ValueSet:
		x, err = e.valueSet(canonical, r, depth)
		if err != nil {
			return nil, err
		}
	case *cspb.CodeSystem:
		idx := e.indexSystem(canonical, r)
		x = &expansion{set: idx.all(), found: true, kind: "CodeSystem"}
		if gap := idx.gap(); gap != "" {
			x.gaps = append(x.gaps, gap)
		}
	default:
		if found {
			return nil, fmt.Errorf("resolve %s: got %T, want a ValueSet or CodeSystem", canonical, res)
		}
		x = &expansion{found: false}
	}
	e.sets[canonical] = x
	return x, nil
}

// valueSet expands a stored ValueSet: a complete stored expansion wins
// (it is what the publisher computed); otherwise compose.
func (e *expander) valueSet(canonical string, vs *vspb.ValueSet, depth int) (*expansion, error) {
	x := &expansion{found: true, kind: "ValueSet"}
	exp := vs.GetExpansion()
	if len(exp.GetContains()) > 0 {
		set := newCodeSet()
		n := addContains(set, exp.GetContains())
		total := exp.GetTotal()
		if total == nil || int(total.GetValue()) <= n || vs.GetCompose() == nil {
			if total != nil && int(total.GetValue()) > n {
				for k := range set.codes {
					set.open[k.system] = struct{}{}
				}
				x.gaps = append(x.gaps, fmt.Sprintf("the stored expansion of %s lists %d of %d codes", canonical, n, total.GetValue()))
			}
			x.set = set
			return x, nil
		}
	}
	if vs.GetCompose() == nil {
		x.set = openSet("")
		x.gaps = append(x.gaps, "value set "+canonical+" has neither compose nor expansion")
		return x, nil
	}
	set := newCodeSet()
	for _, inc := range vs.GetCompose().GetInclude() {
		part, err := e.conceptSet(inc, depth, &x.gaps)
		if err != nil {
			return nil, err
		}
		set = union(set, part)
	}
	for _, exc := range vs.GetCompose().GetExclude() {
		sys := exc.GetSystem().GetValue()
		if sys != "" && len(exc.GetConcept()) == 0 && len(exc.GetFilter()) == 0 && len(exc.GetValueSet()) == 0 {
			set.subtractSystem(sys)
			continue
		}
		part, err := e.conceptSet(exc, depth, &x.gaps)
		if err != nil {
			return nil, err
		}
		if !part.complete() {
			x.gaps = append(x.gaps, "an exclude of "+canonical+" cannot be fully evaluated: codes it may remove stay accepted")
		}
		set.subtract(part)
	}
	x.set = set
	return x, nil
}

func addContains(set *codeSet, cs []*vspb.ValueSet_Expansion_Contains) int {
	n := 0
	for _, c := range cs {
		if code := c.GetCode().GetValue(); code != "" && !c.GetAbstract().GetValue() {
			set.codes[codeKey{system: c.GetSystem().GetValue(), code: code}] = struct{}{}
			n++
		}
		n += addContains(set, c.GetContains())
	}
	return n
}

// conceptSet evaluates one compose.include or compose.exclude entry: the
// system part (listed concepts, filters, or the whole system) intersected
// with every nested valueSet.
func (e *expander) conceptSet(cs *vspb.ValueSet_Compose_ConceptSet, depth int, gaps *[]string) (*codeSet, error) {
	var parts []*codeSet
	if sys := cs.GetSystem().GetValue(); sys != "" {
		part, err := e.systemPart(cs, gaps)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	for _, ref := range cs.GetValueSet() {
		canon := ref.GetValue()
		x, err := e.expand(canon, depth+1)
		if err != nil {
			return nil, err
		}
		if !x.found {
			*gaps = append(*gaps, "nested value set "+canon+" is not stored")
			parts = append(parts, openSet(cs.GetSystem().GetValue()))
			continue
		}
		*gaps = append(*gaps, x.gaps...)
		parts = append(parts, x.set)
	}
	if len(parts) == 0 {
		return newCodeSet(), nil
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out = intersect(out, p)
	}
	return out, nil
}

func (e *expander) systemPart(cs *vspb.ValueSet_Compose_ConceptSet, gaps *[]string) (*codeSet, error) {
	sys := cs.GetSystem().GetValue()
	canon := sys
	if v := cs.GetVersion().GetValue(); v != "" {
		canon = sys + "|" + v
	}
	if len(cs.GetConcept()) > 0 {
		// Listed concepts are members by the value set's own word; the
		// system is read only to learn whether codes compare case-insensitively.
		set := newCodeSet()
		for _, c := range cs.GetConcept() {
			set.codes[codeKey{system: sys, code: c.GetCode().GetValue()}] = struct{}{}
		}
		idx, err := e.system(canon)
		if err != nil {
			return nil, err
		}
		if idx != nil && idx.caseInsensitive {
			set.fold[sys] = struct{}{}
		}
		return set, nil
	}
	idx, err := e.system(canon)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		*gaps = append(*gaps, "code system "+canon+" is not stored: its codes cannot be listed")
		return openSet(sys), nil
	}
	if gap := idx.gap(); gap != "" {
		*gaps = append(*gaps, gap)
	}
	if len(cs.GetFilter()) == 0 {
		return idx.all(), nil
	}
	var out *codeSet
	for _, f := range cs.GetFilter() {
		part, ok := idx.filter(f)
		if !ok {
			*gaps = append(*gaps, fmt.Sprintf("filter %s %s %q on %s is not supported", f.GetProperty().GetValue(),
				filterOp(f), f.GetValue().GetValue(), canon))
			part = openSet(sys)
		}
		if out == nil {
			out = part
		} else {
			out = intersect(out, part)
		}
	}
	return out, nil
}

// system returns the index of a stored CodeSystem, nil when not stored.
func (e *expander) system(canonical string) (*systemIndex, error) {
	if idx, ok := e.systems[canonical]; ok {
		return idx, nil
	}
	res, found, err := e.resolve(canonical)
	if err != nil {
		return nil, err
	}
	cs, ok := res.(*cspb.CodeSystem)
	if !found || !ok {
		e.systems[canonical] = nil
		return nil, nil
	}
	return e.indexSystem(canonical, cs), nil
}

func (e *expander) indexSystem(canonical string, cs *cspb.CodeSystem) *systemIndex {
	if idx, ok := e.systems[canonical]; ok && idx != nil {
		return idx
	}
	idx := newSystemIndex(cs)
	e.systems[canonical] = idx
	return idx
}

// dependencies returns every canonical asked for, sorted.
func (e *expander) dependencies() []string {
	out := make([]string, 0, len(e.deps))
	for d := range e.deps {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// listed returns the certain members of set for diagnostics: in the
// document order of their CodeSystems where the expander read them, the
// rest sorted; bare codes when the set has a single system, system|code
// otherwise.
func (e *expander) listed(set *codeSet) []string {
	systems := map[string]struct{}{}
	for k := range set.codes {
		systems[k.system] = struct{}{}
	}
	render := func(k codeKey) string {
		if len(systems) == 1 {
			return k.code
		}
		return k.String()
	}
	var out []string
	done := map[codeKey]bool{}
	urls := make([]string, 0, len(e.systems))
	for canon := range e.systems {
		urls = append(urls, canon)
	}
	sort.Strings(urls)
	for _, canon := range urls {
		idx := e.systems[canon]
		if idx == nil {
			continue
		}
		for _, c := range idx.codes {
			k := codeKey{system: idx.url, code: c}
			if _, ok := set.codes[k]; ok && !done[k] {
				done[k] = true
				out = append(out, render(k))
			}
		}
	}
	var rest []string
	for k := range set.codes {
		if !done[k] {
			rest = append(rest, render(k))
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func joinGaps(gaps []string) string {
	seen := map[string]bool{}
	var out []string
	for _, g := range gaps {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return strings.Join(out, "; ")
}
