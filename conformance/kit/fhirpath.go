package kit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrUnsupportedPath is returned by ParsePath for FHIRPath the subset
// evaluator does not understand (functions, operators, literals...).
var ErrUnsupportedPath = errors.New("fhirpath: outside the supported subset")

// Path is a parsed FHIRPath expression of the subset servers use in
// OperationOutcome.issue.expression: a type name or member, then members,
// each optionally indexed, e.g. MeasureReport.group[0].population[0].count
// (docs/conformance.md describes the subset).
type Path struct {
	src   string
	steps []step
}

type step struct {
	name  string
	index int // -1: no indexer
}

// String returns the expression as parsed.
func (p Path) String() string { return p.src }

// ParsePath parses expr; it fails with ErrUnsupportedPath for anything
// beyond identifiers, dots and non-negative integer indexers.
func ParsePath(expr string) (Path, error) {
	src := strings.TrimSpace(expr)
	p := Path{src: src}
	rest := src
	for {
		name, n := ident(rest)
		if n == 0 {
			return Path{}, fmt.Errorf("%w: %q: expected a name at %q", ErrUnsupportedPath, expr, rest)
		}
		st := step{name: name, index: -1}
		rest = rest[n:]
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return Path{}, fmt.Errorf("%w: %q: unterminated indexer", ErrUnsupportedPath, expr)
			}
			i, err := strconv.Atoi(strings.TrimSpace(rest[1:end]))
			if err != nil || i < 0 {
				return Path{}, fmt.Errorf("%w: %q: indexer %q is not a non-negative integer", ErrUnsupportedPath, expr, rest[1:end])
			}
			st.index = i
			rest = rest[end+1:]
		}
		p.steps = append(p.steps, st)
		if rest == "" {
			return p, nil
		}
		if rest[0] != '.' {
			return Path{}, fmt.Errorf("%w: %q: unexpected %q", ErrUnsupportedPath, expr, rest)
		}
		rest = rest[1:]
	}
}

// ident reads a FHIRPath identifier (letters, digits, _; not starting with
// a digit) or a `backtick-delimited` one.
func ident(s string) (string, int) {
	if strings.HasPrefix(s, "`") {
		if end := strings.IndexByte(s[1:], '`'); end > 0 {
			return s[1 : 1+end], end + 2
		}
		return "", 0
	}
	n := 0
	for i, r := range s {
		if r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r)) {
			n = i + len(string(r))
			continue
		}
		break
	}
	return s[:n], n
}

// Node is one item an expression selects: its JSON value and its
// canonical path (every step indexed, choice types named without their
// type suffix), e.g. MeasureReport.group[0].code.
type Node struct {
	Value any
	Path  string
}

// Evaluate applies p to a FHIR resource decoded from JSON (decode with
// UseNumber to keep decimals as written). As in FHIRPath, a leading type
// name matches the resource's resourceType (anything else selects
// nothing), member access flattens arrays, an indexer picks from the whole
// collection selected so far, and a member named like a choice type
// (`value`) matches its typed JSON property (`valueQuantity`).
func (p Path) Evaluate(resource any) []Node {
	cur := []Node{}
	steps := p.steps
	if len(steps) == 0 {
		return nil
	}
	if m, ok := resource.(map[string]any); ok {
		if rt, _ := m["resourceType"].(string); rt != "" && rt == steps[0].name {
			cur = append(cur, Node{Value: m, Path: rt})
			cur = pick(cur, steps[0].index)
			steps = steps[1:]
		} else if isTypeName(steps[0].name) {
			return nil
		} else {
			// A path relative to the resource: "group[0].code".
			cur = append(cur, Node{Value: m, Path: rt})
		}
	}
	for _, st := range steps {
		var next []Node
		for _, n := range cur {
			next = append(next, member(n, st.name)...)
		}
		cur = pick(next, st.index)
	}
	return cur
}

// isTypeName says whether a first step names a type (FHIR type names start
// upper-case, element names lower-case).
func isTypeName(s string) bool { return s != "" && unicode.IsUpper([]rune(s)[0]) }

func pick(ns []Node, index int) []Node {
	if index < 0 {
		return ns
	}
	if index >= len(ns) {
		return nil
	}
	return ns[index : index+1]
}

// member selects child name of n, flattening arrays; JSON null and
// primitive-extension-only properties ("_name") select nothing.
func member(n Node, name string) []Node {
	m, ok := n.Value.(map[string]any)
	if !ok {
		return nil
	}
	v, ok := m[name]
	if !ok {
		v, ok = choice(m, name)
	}
	if !ok || v == nil {
		return nil
	}
	base := n.Path + "." + name
	if arr, ok := v.([]any); ok {
		out := make([]Node, 0, len(arr))
		for i, e := range arr {
			if e != nil {
				out = append(out, Node{Value: e, Path: fmt.Sprintf("%s[%d]", base, i)})
			}
		}
		return out
	}
	// Canonical paths index every repeating step; singletons carry [0] only
	// when they were written as arrays, so a lone object keeps its name.
	return []Node{{Value: v, Path: base}}
}

// choice finds the typed property of a choice element: value -> valueQuantity.
func choice(m map[string]any, name string) (any, bool) {
	for k, v := range m {
		if len(k) > len(name) && strings.HasPrefix(k, name) && unicode.IsUpper(rune(k[len(name)])) {
			return v, true
		}
	}
	return nil, false
}

// Selects reports whether expr, evaluated on resource, selects the element
// at canonical path target or something inside it (a more specific
// expression such as .coding[0].code under a CodeableConcept is as good).
func Selects(resource any, expr, target string) (bool, error) {
	p, err := ParsePath(expr)
	if err != nil {
		return false, err
	}
	for _, n := range p.Evaluate(resource) {
		if n.Path == target || strings.HasPrefix(n.Path, target+".") || strings.HasPrefix(n.Path, target+"[") {
			return true, nil
		}
	}
	return false, nil
}

// decodeJSON decodes a FHIR JSON document keeping numbers as written.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
