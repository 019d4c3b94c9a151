package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/internal/fhirtime"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// searchParams returns the parameters served on a type, by name: the
// conformance table the CapabilityStatement lists too.
func searchParams(typ string) map[string]conformance.SearchParam {
	out := map[string]conformance.SearchParam{}
	for _, p := range conformance.CommonSearchParams() {
		out[p.Name] = p
	}
	if spec, ok := resourceSpec(typ); ok {
		for _, p := range spec.SearchParams {
			out[p.Name] = p
		}
	}
	return out
}

// resourceSpec is the conformance table's row of a type served for
// reading, writable or not.
func resourceSpec(typ string) (conformance.ResourceSpec, bool) {
	for _, spec := range append(conformance.Resources(), conformance.ReadOnlyResources()...) {
		if spec.Type == typ {
			return spec, true
		}
	}
	return conformance.ResourceSpec{}, false
}

// sortField is the field _sort=name orders a search of typ by: a date
// parameter of the type sorts by the start of what it searches
// (AuditEvent's date is its recorded time), else the common names.
func sortField(typ, name string) (store.Field, bool) {
	if p, ok := searchParams(typ)[name]; ok && p.Type == "date" {
		switch p.Target {
		case "period":
			return store.FieldPeriodStart, true
		case "date":
			return store.FieldDateStart, true
		case "lastUpdated":
			return store.FieldLastUpdated, true
		}
	}
	f, ok := sortParams[name]
	return f, ok
}

// splitValues splits a parameter value on the commas that separate
// alternatives; "\," is a literal comma (search.html#escaping).
func splitValues(v string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v) && (v[i+1] == ',' || v[i+1] == '$' || v[i+1] == '|' || v[i+1] == '\\'):
			b.WriteByte(v[i+1])
			i++
		case v[i] == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(v[i])
		}
	}
	return append(out, b.String())
}

func badParam(name, format string, args ...any) error {
	return oo.Errorf(http.StatusBadRequest, oo.Value, "", "Search parameter %s: "+format, append([]any{name}, args...)...)
}

// compileParam turns one parameter occurrence (comma-separated values) into
// a clause on the index fields its conformance Target names.
func (s *Server) compileParam(ctx context.Context, typ string, p conformance.SearchParam, modifier, raw string) (store.Clause, error) {
	var cl store.Clause
	allowed := map[string][]string{"string": {"exact", "contains"}, "reference": {"identifier"}}
	_, isCode := strings.CutPrefix(p.Target, "code:")
	if modifier != "" && (isCode || !contains(allowed[p.Type], modifier) && !(p.Type == "reference" && isTypeName(modifier))) {
		return cl, oo.Errorf(http.StatusBadRequest, oo.NotSupported, "", "Search parameter %s does not support the modifier :%s on this server.", p.Name, modifier)
	}
	for _, v := range splitValues(raw) {
		if v == "" {
			return cl, badParam(p.Name, "empty value.")
		}
		conds, err := s.compileValue(ctx, typ, p, modifier, v)
		if err != nil {
			return cl, err
		}
		cl.Any = append(cl.Any, conds...)
	}
	return cl, nil
}

func (s *Server) compileValue(ctx context.Context, typ string, p conformance.SearchParam, modifier, v string) ([]store.Cond, error) {
	eq := func(f store.Field, v string) []store.Cond { return []store.Cond{{Field: f, Value: v}} }
	if name, ok := strings.CutPrefix(p.Target, "code:"); ok {
		// As recorded: a principal's name, Type/id, a canonical.
		return eq(store.FieldToken, name+"="+v), nil
	}
	tokenName, isToken := strings.CutPrefix(p.Target, "token:")
	switch p.Type {
	case "date":
		prefix, rest := splitPrefix(v)
		lo, hi, err := fhirtime.SearchRange(rest)
		if err != nil {
			return nil, badParam(p.Name, "%v.", err)
		}
		start, end := store.FieldLastUpdated, store.FieldLastUpdated
		switch p.Target {
		case "period":
			start, end = store.FieldPeriodStart, store.FieldPeriodEnd
		case "date":
			start, end = store.FieldDateStart, store.FieldDateEnd
		}
		return dateConds(prefix, lo, hi, start, end, s.opts.Now()), nil
	case "string":
		switch modifier {
		case "exact":
			return eq(store.FieldToken, tokenName+":exact="+v), nil
		case "contains":
			return []store.Cond{{Field: store.FieldToken, Op: store.OpContains, Value: tokenName + "=" + pipeline.NormalizeString(v)}}, nil
		}
		return []store.Cond{{Field: store.FieldToken, Op: store.OpPrefix, Value: tokenName + "=" + pipeline.NormalizeString(v)}}, nil
	case "uri":
		return eq(store.FieldURL, v), nil
	case "token":
		if isToken {
			return tokenConds(tokenName, v), nil
		}
		// A code-valued field (status, version, _id): a system, if given,
		// is the field's own and is not stored.
		if i := strings.LastIndexByte(v, '|'); i >= 0 && p.Target != "version" {
			v = v[i+1:]
		}
		f := map[string]store.Field{"id": store.FieldID, "status": store.FieldStatus, "version": store.FieldVersion}[p.Target]
		return eq(f, v), nil
	case "reference":
		return s.referenceConds(ctx, typ, p, modifier, v)
	}
	return nil, badParam(p.Name, "unsupported parameter type %s.", p.Type)
}

// tokenConds matches an extracted system|value token (appendSystemValue).
func tokenConds(name, v string) []store.Cond {
	system, value, hasSystem := strings.Cut(v, "|")
	switch {
	case !hasSystem:
		return []store.Cond{{Field: store.FieldToken, Value: name + ".value=" + v}}
	case value == "":
		return []store.Cond{{Field: store.FieldToken, Op: store.OpPrefix, Value: name + "=" + system + "|"}}
	}
	return []store.Cond{{Field: store.FieldToken, Value: name + "=" + system + "|" + value}}
}

// referenceTargets are the types a bare id may name, per reference.
var referenceTargets = map[string][]string{
	"subject":      {"Location"},
	"reporter":     {"Organization", "Location", "Practitioner", "PractitionerRole"},
	"organization": {"Organization"},
}

func (s *Server) referenceConds(ctx context.Context, typ string, p conformance.SearchParam, modifier, v string) ([]store.Cond, error) {
	v = strings.TrimPrefix(v, s.opts.BaseURL+"/")
	if p.Target == "measure" {
		return s.measureConds(ctx, v)
	}
	name, _ := strings.CutPrefix(p.Target, "token:")
	if modifier == "identifier" {
		if p.Target != "subject" {
			return nil, oo.Errorf(http.StatusBadRequest, oo.NotSupported, "", "Search parameter %s does not support :identifier on this server.", p.Name)
		}
		return s.subjectIdentifierConds(ctx, v)
	}
	var refs []string
	switch {
	case strings.Contains(v, "/"):
		refs = []string{v}
	case modifier != "":
		refs = []string{modifier + "/" + v}
	default:
		targets := referenceTargets[name]
		if name == "partof" {
			targets = []string{typ}
		}
		for _, t := range targets {
			refs = append(refs, t+"/"+v)
		}
	}
	var out []store.Cond
	for _, ref := range refs {
		if p.Target == "subject" {
			out = append(out, store.Cond{Field: store.FieldSubject, Value: ref})
		} else {
			out = append(out, store.Cond{Field: store.FieldToken, Value: name + "=" + ref})
		}
	}
	return out, nil
}

// measureConds matches MeasureReport.measure, a canonical: url|version
// exactly; a url alone in any version (the report's measure as written,
// with or without |version); Measure/<id> as the url of that Measure.
func (s *Server) measureConds(ctx context.Context, v string) ([]store.Cond, error) {
	if id, ok := strings.CutPrefix(v, "Measure/"); ok && !strings.Contains(id, "/") {
		m, err := s.opts.Store.Read(ctx, "Measure", id)
		if err != nil || m.Index.URL == "" {
			return []store.Cond{{Field: store.FieldMeasure, Value: v}}, nil // matches nothing, as an unknown reference should
		}
		// Reports that name the url alone mean that Measure too.
		out := []store.Cond{{Field: store.FieldMeasure, Value: m.Index.URL}}
		if m.Index.Version != "" {
			out = append(out, store.Cond{Field: store.FieldMeasure, Value: m.Index.URL + "|" + m.Index.Version})
		}
		return out, nil
	}
	if strings.Contains(v, "|") {
		return []store.Cond{{Field: store.FieldMeasure, Value: v}}, nil
	}
	return []store.Cond{{Field: store.FieldMeasure, Value: v}, {Field: store.FieldMeasure, Op: store.OpPrefix, Value: v + "|"}}, nil
}

// maxIdentifierLocations bounds the Locations one subject:identifier value
// may resolve to; a facility code names one facility.
const maxIdentifierLocations = 100

// subjectIdentifierConds matches reports whose subject reference carries
// the identifier, and reports whose subject resolved to a registry Location
// holding it: a district office searches by facility code whatever form of
// reference the facility sent.
func (s *Server) subjectIdentifierConds(ctx context.Context, v string) ([]store.Cond, error) {
	out := tokenConds("subject:identifier", v)
	page, err := s.opts.Store.Search(ctx, store.Query{Type: "Location", Count: maxIdentifierLocations,
		Where: []store.Clause{{Any: tokenConds("identifier", v)}}})
	if err != nil {
		return nil, err
	}
	for _, l := range page.Resources {
		out = append(out, store.Cond{Field: store.FieldSubject, Value: "Location/" + l.ID})
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func isTypeName(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }
