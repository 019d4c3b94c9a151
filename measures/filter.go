package measures

import (
	"regexp"
	"strconv"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/value_set_go_proto"
)

// systemIndex is a CodeSystem flattened for expansion: every concept
// (nested ones included), the hierarchy, and the concept properties.
type systemIndex struct {
	url             string
	content         cpb.CodeSystemContentModeCode_Value
	caseInsensitive bool
	codes           []string                     // every concept, in document order
	parents         map[string][]string          // code -> parent codes
	children        map[string][]string          // code -> child codes
	props           map[string]map[string]string // code -> property code -> value as text
}

func newSystemIndex(cs *cspb.CodeSystem) *systemIndex {
	idx := &systemIndex{
		url:     cs.GetUrl().GetValue(),
		content: cs.GetContent().GetValue(),
		// R4 CodeSystem.caseSensitive: absent means unknown; only an
		// explicit false lets codes compare case-insensitively.
		caseInsensitive: cs.GetCaseSensitive() != nil && !cs.GetCaseSensitive().GetValue(),
		parents:         map[string][]string{},
		children:        map[string][]string{},
		props:           map[string]map[string]string{},
	}
	var walk func(parent string, cs []*cspb.CodeSystem_ConceptDefinition)
	walk = func(parent string, concepts []*cspb.CodeSystem_ConceptDefinition) {
		for _, c := range concepts {
			code := c.GetCode().GetValue()
			idx.codes = append(idx.codes, code)
			if parent != "" {
				idx.link(parent, code)
			}
			for _, p := range c.GetProperty() {
				name, val := p.GetCode().GetValue(), propertyText(p)
				if idx.props[code] == nil {
					idx.props[code] = map[string]string{}
				}
				idx.props[code][name] = val
				// A "parent" property states the hierarchy without nesting.
				if name == "parent" && val != "" {
					idx.link(val, code)
				}
			}
			walk(code, c.GetConcept())
		}
	}
	walk("", cs.GetConcept())
	return idx
}

func (idx *systemIndex) link(parent, child string) {
	idx.parents[child] = append(idx.parents[child], parent)
	idx.children[parent] = append(idx.children[parent], child)
}

func propertyText(p *cspb.CodeSystem_ConceptDefinition_ConceptProperty) string {
	v := p.GetValue()
	switch {
	case v.GetCode() != nil:
		return v.GetCode().GetValue()
	case v.GetCoding() != nil:
		return v.GetCoding().GetCode().GetValue()
	case v.GetStringValue() != nil:
		return v.GetStringValue().GetValue()
	case v.GetInteger() != nil:
		return strconv.Itoa(int(v.GetInteger().GetValue()))
	case v.GetBoolean() != nil:
		return strconv.FormatBool(v.GetBoolean().GetValue())
	case v.GetDecimal() != nil:
		return v.GetDecimal().GetValue()
	}
	return ""
}

// complete reports whether the CodeSystem lists all its codes (R4
// CodeSystem.content; absent is taken as complete, the R4 default intent).
func (idx *systemIndex) complete() bool {
	return idx.content == cpb.CodeSystemContentModeCode_COMPLETE ||
		idx.content == cpb.CodeSystemContentModeCode_INVALID_UNINITIALIZED
}

func (idx *systemIndex) gap() string {
	if idx.complete() {
		return ""
	}
	return "code system " + idx.url + " has content '" + contentName(idx.content) + "': codes it does not list cannot be verified"
}

func contentName(c cpb.CodeSystemContentModeCode_Value) string {
	return strings.ReplaceAll(strings.ToLower(c.String()), "_", "-")
}

// setOf makes a codeSet of the given codes of this system, open when the
// system is incomplete (a code not listed may still exist).
func (idx *systemIndex) setOf(codes []string) *codeSet {
	s := newCodeSet()
	for _, c := range codes {
		s.codes[codeKey{system: idx.url, code: c}] = struct{}{}
	}
	if !idx.complete() {
		s.open[idx.url] = struct{}{}
	}
	if idx.caseInsensitive {
		s.fold[idx.url] = struct{}{}
	}
	return s
}

func (idx *systemIndex) all() *codeSet { return idx.setOf(idx.codes) }

// closure returns code and, following edges, every code reachable from it.
func closure(code string, edges map[string][]string) map[string]bool {
	seen := map[string]bool{code: true}
	stack := []string{code}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, n := range edges[c] {
			if !seen[n] {
				seen[n] = true
				stack = append(stack, n)
			}
		}
	}
	return seen
}

func filterOp(f *vspb.ValueSet_Compose_ConceptSet_Filter) string {
	return strings.ReplaceAll(strings.ToLower(f.GetOp().GetValue().String()), "_", "-")
}

// filter evaluates one compose filter (R4 ValueSet.compose.include.filter).
// Supported: on the concept itself (property "concept" or "code") the
// operators =, is-a, descendent-of, is-not-a, generalizes, in, not-in and
// regex, using the hierarchy given by nesting or a "parent" property; on a
// concept property, =, in, not-in, exists and regex. Anything else returns
// ok=false and the caller treats the include as unverifiable.
func (idx *systemIndex) filter(f *vspb.ValueSet_Compose_ConceptSet_Filter) (*codeSet, bool) {
	prop, val := f.GetProperty().GetValue(), f.GetValue().GetValue()
	op := f.GetOp().GetValue()
	keep := func(pred func(code string) bool) *codeSet {
		var out []string
		for _, c := range idx.codes {
			if pred(c) {
				out = append(out, c)
			}
		}
		return idx.setOf(out)
	}
	list := map[string]bool{}
	for _, v := range strings.Split(val, ",") {
		list[strings.TrimSpace(v)] = true
	}
	var re *regexp.Regexp
	if op == cpb.FilterOperatorCode_REGEX {
		var err error
		if re, err = regexp.Compile("^(?:" + val + ")$"); err != nil {
			return nil, false
		}
	}
	if prop == "concept" || prop == "code" {
		switch op {
		case cpb.FilterOperatorCode_EQUALS:
			return keep(func(c string) bool { return c == val }), true
		case cpb.FilterOperatorCode_IS_A:
			sub := closure(val, idx.children)
			return keep(func(c string) bool { return sub[c] }), true
		case cpb.FilterOperatorCode_DESCENDENT_OF:
			sub := closure(val, idx.children)
			return keep(func(c string) bool { return sub[c] && c != val }), true
		case cpb.FilterOperatorCode_IS_NOT_A:
			sub := closure(val, idx.children)
			return keep(func(c string) bool { return !sub[c] }), true
		case cpb.FilterOperatorCode_GENERALIZES:
			up := closure(val, idx.parents)
			return keep(func(c string) bool { return up[c] }), true
		case cpb.FilterOperatorCode_IN:
			return keep(func(c string) bool { return list[c] }), true
		case cpb.FilterOperatorCode_NOT_IN:
			return keep(func(c string) bool { return !list[c] }), true
		case cpb.FilterOperatorCode_REGEX:
			return keep(re.MatchString), true
		}
		return nil, false
	}
	value := func(c string) (string, bool) {
		v, ok := idx.props[c][prop]
		return v, ok
	}
	switch op {
	case cpb.FilterOperatorCode_EQUALS:
		return keep(func(c string) bool { v, ok := value(c); return ok && v == val }), true
	case cpb.FilterOperatorCode_IN:
		return keep(func(c string) bool { v, ok := value(c); return ok && list[v] }), true
	case cpb.FilterOperatorCode_NOT_IN:
		return keep(func(c string) bool { v, ok := value(c); return !ok || !list[v] }), true
	case cpb.FilterOperatorCode_EXISTS:
		want := val == "true"
		return keep(func(c string) bool { _, ok := value(c); return ok == want }), true
	case cpb.FilterOperatorCode_REGEX:
		return keep(func(c string) bool { v, ok := value(c); return ok && re.MatchString(v) }), true
	}
	return nil, false
}
