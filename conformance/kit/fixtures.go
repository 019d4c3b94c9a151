package kit

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
)

// The embedded fixtures are the IHE mADX example definitions and report
// (CC-BY-4.0, see fixtures/NOTICE.md), copied from testdata/madx so the
// package is self-contained when vendored or installed.
//
//go:embed fixtures
var embedded embed.FS

func embeddedFixtures() fs.FS {
	sub, err := fs.Sub(embedded, "fixtures")
	if err != nil {
		// fs.Sub fails only on an invalid literal path: a build defect.
		panic(err)
	}
	return sub
}

// resource is one fixture definition.
type resource struct {
	typ, id, file string
	body          []byte
}

// fixtures is what the suite submits.
type fixtures struct {
	defs    []resource // in load order
	measure resource   // the Measure the report names
	report  []byte     // the valid report template
	// complete holds the urls of CodeSystems with content "complete": only
	// a code outside one of those is invalid for every server (a fragment,
	// like ISO8601DerivedPeriods, may lack codes that exist).
	complete map[string]bool
}

// loadOrder puts what others depend on first (code systems before value
// sets, organizations before locations, terminology before the Measure),
// for servers that check references on write.
var loadOrder = []string{"CodeSystem", "ValueSet", "Organization", "Location", "Measure"}

func loadFixtures(fsys fs.FS) (*fixtures, error) {
	fx := &fixtures{}
	defFiles, err := fs.Glob(fsys, "definitions/*.json")
	if err != nil || len(defFiles) == 0 {
		return nil, fmt.Errorf("%w: fixtures: no definitions/*.json", ErrOptions)
	}
	for _, f := range defFiles {
		r, err := readResource(fsys, f)
		if err != nil {
			return nil, err
		}
		fx.defs = append(fx.defs, r)
	}
	sort.SliceStable(fx.defs, func(i, j int) bool { return rank(fx.defs[i].typ) < rank(fx.defs[j].typ) })
	reports, _ := fs.Glob(fsys, "reports/*.json")
	for _, f := range reports {
		r, err := readResource(fsys, f)
		if err != nil {
			return nil, err
		}
		if r.typ == "MeasureReport" {
			fx.report = r.body
			break
		}
	}
	if fx.report == nil {
		return nil, fmt.Errorf("%w: fixtures: no MeasureReport in reports/*.json", ErrOptions)
	}
	var head struct {
		Measure string `json:"measure"`
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
	}
	_ = json.Unmarshal(fx.report, &head)
	if !strings.Contains(head.Subject.Reference, "/") {
		return nil, fmt.Errorf("%w: fixtures: the report's subject must be a literal reference (Location/id)", ErrOptions)
	}
	fx.complete = map[string]bool{}
	for _, d := range fx.defs {
		var m struct {
			URL     string `json:"url"`
			Content string `json:"content"`
		}
		_ = json.Unmarshal(d.body, &m)
		if d.typ == "CodeSystem" && m.Content == "complete" {
			fx.complete[m.URL] = true
		}
		if d.typ == "Measure" && m.URL == head.Measure {
			fx.measure = d
		}
	}
	if fx.measure.id == "" {
		return nil, fmt.Errorf("%w: fixtures: no Measure in definitions/ has url %q (the report's measure)", ErrOptions, head.Measure)
	}
	return fx, nil
}

func rank(typ string) int {
	if i := slices.Index(loadOrder, typ); i >= 0 {
		return i
	}
	return len(loadOrder)
}

func readResource(fsys fs.FS, file string) (resource, error) {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return resource{}, fmt.Errorf("%w: fixtures: %v", ErrOptions, err)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.ResourceType == "" || head.ID == "" {
		return resource{}, fmt.Errorf("%w: fixtures: %s is not a FHIR JSON resource with an id", ErrOptions, file)
	}
	return resource{typ: head.ResourceType, id: head.ID, file: path.Base(file), body: b}, nil
}

// reportVariant returns a fresh copy of the valid report with the given id
// and reporting month of 1999 (a period no real facility reports for, so
// the kit's reports never collide with real ones on the business key
// measure+subject+period), after applying mutate to its JSON tree.
func (fx *fixtures) reportVariant(id string, month int, mutate func(doc map[string]any) error) ([]byte, map[string]any, error) {
	v, err := decodeJSON(fx.report)
	if err != nil {
		return nil, nil, err
	}
	doc := v.(map[string]any)
	doc["id"] = id
	delete(doc, "meta")
	start := fmt.Sprintf("1999-%02d-01", month)
	end := fmt.Sprintf("1999-%02d-%02d", month, daysIn1999[month-1])
	doc["period"] = map[string]any{"start": start, "end": end}
	if mutate != nil {
		if err := mutate(doc); err != nil {
			return nil, nil, err
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	// Decode again so the tree the expressions are checked against is
	// exactly what was sent.
	sent, err := decodeJSON(b)
	if err != nil {
		return nil, nil, err
	}
	return b, sent.(map[string]any), nil
}

// invalidCodeTarget returns the canonical path (relative to the report) of
// the first stratum component of the template whose value is coded in a
// complete CodeSystem: the element whose code the terminology case
// replaces (IHE Test Case 2).
func (fx *fixtures) invalidCodeTarget() (string, error) {
	doc, err := decodeJSON(fx.report)
	if err != nil {
		return "", err
	}
	for _, n := range mustPath("MeasureReport.group.stratifier.stratum.component.value").Evaluate(doc) {
		sys := mustPath("coding[0].system").Evaluate(n.Value)
		if len(sys) == 1 && fx.complete[fmt.Sprint(sys[0].Value)] {
			return n.Path, nil
		}
	}
	return "", skipf("no stratum component of the fixture report is coded in a complete CodeSystem of the fixtures")
}

var daysIn1999 = [12]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// removeAt deletes the element at canonical path p (a member of an
// object) from doc; it fails when the element is not there, so a fixture
// that lacks an element the suite needs is reported, not silently passed.
func removeAt(doc any, p string) error {
	parent, name, err := parentOf(doc, p)
	if err != nil {
		return err
	}
	if _, ok := parent[name]; !ok {
		return skipf("the fixture report has no %s to remove", p)
	}
	delete(parent, name)
	return nil
}

// setAt replaces the element at canonical path p.
func setAt(doc any, p string, v any) error {
	parent, name, err := parentOf(doc, p)
	if err != nil {
		return err
	}
	if _, ok := parent[name]; !ok {
		return skipf("the fixture report has no %s", p)
	}
	parent[name] = v
	return nil
}

func parentOf(doc any, p string) (map[string]any, string, error) {
	dot := strings.LastIndexByte(p, '.')
	if dot < 0 {
		return nil, "", fmt.Errorf("kit: %q has no parent", p)
	}
	pp, err := ParsePath(p[:dot])
	if err != nil {
		return nil, "", err
	}
	ns := pp.Evaluate(doc)
	if len(ns) != 1 {
		return nil, "", skipf("the fixture report has no %s", p[:dot])
	}
	m, ok := ns[0].Value.(map[string]any)
	if !ok {
		return nil, "", skipf("%s is not an element with children", p[:dot])
	}
	return m, p[dot+1:], nil
}

// Fixtures returns the embedded fixture tree (definitions/*.json and
// reports/*.json, the IHE mADX examples), for tools that need the same
// Measure and terminology, such as `madx bench`.
func Fixtures() fs.FS { return embeddedFixtures() }
