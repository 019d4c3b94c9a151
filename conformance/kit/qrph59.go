package kit

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// loadDefinitions PUTs every fixture definition; the suite cannot judge
// reports against a Measure the server does not have.
func (s *suite) loadDefinitions(ctx context.Context) error {
	var errs []error
	for _, d := range s.fx.defs {
		r, err := s.c.putJSON(ctx, "/"+d.typ+"/"+d.id, d.body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := expectStatus(r, http.StatusOK, http.StatusCreated); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.file, err))
		}
	}
	s.setupErr = errors.Join(errs...)
	return s.setupErr
}

func (s *suite) qrph59Tests() []test {
	const read = "QRPH-59 2:3.59.4.1 (FHIR read), 2:3.59.4.2.2 status 200"
	return []test{
		{"QRPH-59/read-measure-json", read, s.readMeasureJSON},
		{"QRPH-59/read-measure-xml", read + ", 2:3.59.4.1.2 application/fhir+xml", s.readMeasureXML},
		{"QRPH-59/measure-required-elements", "QRPH-59 2:3.59.4.2.2 (elements the Measure SHALL contain)", s.measureElements},
		{"QRPH-59/unknown-measure-404", "QRPH-59 2:3.59.4.2.2 status 404; FHIR R4 http.html#read", s.unknownMeasure},
	}
}

func (s *suite) measurePath() string { return "/Measure/" + s.fx.measure.id }

// readMeasure reads the fixture Measure in the format accept names ("" for
// JSON) and expects a 200 in that format.
func (s *suite) readMeasure(ctx context.Context, accept string) (*response, error) {
	if err := s.needSetup(); err != nil {
		return nil, err
	}
	r, err := s.c.do(ctx, req{method: http.MethodGet, path: s.measurePath(), accept: accept})
	if err != nil {
		return nil, err
	}
	if err := expectStatus(r, http.StatusOK); err != nil {
		return nil, err
	}
	want := accept
	if want == "" {
		want = mediaJSON
	}
	if mt := r.mediaType(); mt != want {
		return nil, fmt.Errorf("Content-Type %q, want %s for Accept %s", mt, want, want)
	}
	return r, nil
}

func (s *suite) readMeasureJSON(ctx context.Context) error {
	r, err := s.readMeasure(ctx, "")
	if err != nil {
		return err
	}
	got, err := decodeJSON(r.body)
	if err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	want, _ := decodeJSON(s.fx.measure.body)
	if d := diffModuloMeta(want, got); d != "" {
		return fmt.Errorf("the Measure read back differs from the one loaded (meta aside): %s", d)
	}
	return nil
}

func (s *suite) readMeasureXML(ctx context.Context) error {
	r, err := s.readMeasure(ctx, mediaXML)
	if err != nil {
		return err
	}
	var root struct {
		XMLName xml.Name
		ID      struct {
			Value string `xml:"value,attr"`
		} `xml:"id"`
		URL struct {
			Value string `xml:"value,attr"`
		} `xml:"url"`
	}
	if err := xml.Unmarshal(r.body, &root); err != nil {
		return fmt.Errorf("body is not XML: %v", err)
	}
	if root.XMLName.Space != "http://hl7.org/fhir" || root.XMLName.Local != "Measure" {
		return fmt.Errorf("root element {%s}%s, want {http://hl7.org/fhir}Measure", root.XMLName.Space, root.XMLName.Local)
	}
	if root.ID.Value != s.fx.measure.id {
		return fmt.Errorf("id %q, want %q", root.ID.Value, s.fx.measure.id)
	}
	return nil
}

// measureElements checks the elements QRPH-59 2:3.59.4.2.2 says the Measure
// response SHALL contain, and the relatedArtifact <-> stratifier component
// cross-reference when the Measure is disaggregated.
func (s *suite) measureElements(ctx context.Context) error {
	r, err := s.readMeasure(ctx, "")
	if err != nil {
		return err
	}
	doc, err := decodeJSON(r.body)
	if err != nil {
		return err
	}
	var missing []string
	for _, p := range []string{"Measure.url", "Measure.version", "Measure.title", "Measure.publisher", "Measure.description",
		"Measure.subjectCodeableConcept.coding.code", "Measure.group", "Measure.group.code.coding",
		"Measure.group.description", "Measure.group.population.code"} {
		if len(mustPath(p).Evaluate(doc)) == 0 {
			missing = append(missing, p)
		}
	}
	// Every group needs its own code and population codes, not just one.
	for _, g := range mustPath("Measure.group").Evaluate(doc) {
		for _, sub := range []string{"code.coding.code", "description", "population.code"} {
			if len(mustPath(sub).Evaluate(g.Value)) == 0 {
				missing = append(missing, g.Path+"."+sub)
			}
		}
	}
	labels := map[string]bool{}
	for _, ra := range mustPath("Measure.relatedArtifact").Evaluate(doc) {
		m, _ := ra.Value.(map[string]any)
		if m["type"] == "depends-on" {
			if l, _ := m["label"].(string); l != "" {
				labels[l] = true
			}
			if u, _ := m["url"].(string); u == "" {
				missing = append(missing, ra.Path+".url")
			}
		}
	}
	for _, c := range mustPath("Measure.group.stratifier.component").Evaluate(doc) {
		codes := mustPath("code.coding.code").Evaluate(c.Value)
		if len(codes) == 0 {
			missing = append(missing, c.Path+".code.coding.code")
			continue
		}
		code := fmt.Sprint(codes[0].Value)
		if !labels[code] {
			missing = append(missing, fmt.Sprintf("Measure.relatedArtifact (type depends-on, label %q for %s)", code, c.Path))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(missing, "; "))
	}
	return nil
}

func (s *suite) unknownMeasure(ctx context.Context) error {
	r, err := s.c.do(ctx, req{method: http.MethodGet, path: "/Measure/madx-kit-no-such-measure"})
	if err != nil {
		return err
	}
	if err := expectStatus(r, http.StatusNotFound); err != nil {
		return err
	}
	_, err = outcome(r)
	return err
}

// mustPath parses a path written in this package; a parse failure is a
// defect of the kit itself.
func mustPath(p string) Path {
	pp, err := ParsePath(p)
	if err != nil {
		panic(err)
	}
	return pp
}
