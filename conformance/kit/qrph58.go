package kit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Paths into the report template that the negative cases mutate.
const (
	pStratum   = "MeasureReport.group[0].stratifier[0].stratum[0]"
	pComponent = pStratum + ".component[0]"
	pPop       = "MeasureReport.group[0].population[0]"
	validID    = "madx-kit-report"
)

// only422 is QRPH-58 2:3.58.4.2.3's answer to a report breaking the mADX
// business rules.
var only422 = []int{http.StatusUnprocessableEntity}

// missingCase removes one element QRPH-58 2:3.58.4.1.2 says the indicator
// SHALL contain; the server must answer 422 with an issue whose expression
// names the missing element or selects its parent.
type missingCase struct {
	name    string
	element string   // canonical path of the removed element
	parents []string // elements an issue may select instead (the parent first)
	// baseRequired marks elements FHIR R4 itself requires (1..1): a server
	// may reject their absence as failing basic FHIR validation, 400
	// (http.html#rejecting-updates), before the mADX rules give 422.
	baseRequired bool
}

var missingCases = []missingCase{
	{"subject", "MeasureReport.subject", []string{"MeasureReport"}, false},
	{"group-code-coding-code", "MeasureReport.group[0].code.coding[0].code", []string{"MeasureReport.group[0].code.coding[0]", "MeasureReport.group[0].code"}, false},
	{"population-code", pPop + ".code", []string{pPop}, false},
	{"population-count", pPop + ".count", []string{pPop}, false},
	{"stratum-measureScore", pStratum + ".measureScore", []string{pStratum}, false},
	{"stratum-measureScore-value", pStratum + ".measureScore.value", []string{pStratum + ".measureScore", pStratum}, false},
	{"stratum-component-code", pComponent + ".code", []string{pComponent}, true},
	{"stratum-component-value", pComponent + ".value", []string{pComponent}, true},
}

func (s *suite) qrph58Tests() []test {
	const semantics = "QRPH-58 2:3.58.4.1.2 + 2:3.58.4.2.3 (422 and an OperationOutcome with a FHIRPath)"
	ts := []test{
		{"QRPH-58/put-valid-report", "QRPH-58 2:3.58.4.1 (FHIR update), 2:3.58.4.2.2 status 200; IHE Test Case 1", s.putValid},
		{"QRPH-58/read-back-equal", "QRPH-58 2:3.58.4.1.3 (SHALL consume); FHIR R4 http.html#read", s.readBack},
		{"QRPH-58/test-case-2-invalid-code", semantics + "; IHE Test Case 2", s.invalidCode},
		{"QRPH-58/test-case-3-unknown-location", semantics + "; IHE Test Case 3", s.unknownLocation},
	}
	for _, mc := range missingCases {
		ts = append(ts, test{"QRPH-58/missing-" + mc.name, semantics, s.missing(mc)})
	}
	return append(ts,
		test{"QRPH-58/malformed-body-400", "QRPH-58 2:3.58.4.2.2 status 400", s.malformed},
		test{"QRPH-58/wrong-media-type-415", "QRPH-58 2:3.58.4.1.2 (Content-type header), 2:3.58.4.2.2 status 415", s.wrongMedia},
		test{"QRPH-58/unknown-type-404", "QRPH-58 2:3.58.4.2.2 status 404 (resource type not supported)", s.unknownType},
		test{"QRPH-58/unsupported-method", "QRPH-58 2:3.58.4.2.2 status 405/501", s.unsupportedMethod},
		test{"QRPH-58/collection-bundle-bad-entry", "QRPH-58 2:3.58.4.1.4 (collection Bundle), 2:3.58.4.2.3 (an OperationOutcome per invalid report)", s.bundleBadEntry},
		test{"QRPH-58/outcome-severity-fatal", "QRPH-58 2:3.58.4.2.3 (severity fatal)", s.severityFatal},
	)
}

func (s *suite) putValid(ctx context.Context) error {
	if err := s.needSetup(); err != nil {
		return err
	}
	body, _, err := s.fx.reportVariant(validID, 1, nil)
	if err != nil {
		return err
	}
	r, err := s.c.putJSON(ctx, "/MeasureReport/"+validID, body)
	if err != nil {
		return err
	}
	if err := expectStatus(r, http.StatusOK, http.StatusCreated); err != nil {
		return err
	}
	s.stored = body
	return nil
}

func (s *suite) readBack(ctx context.Context) error {
	if s.stored == nil {
		return skipf("the valid report was not stored")
	}
	r, err := s.c.do(ctx, req{method: http.MethodGet, path: "/MeasureReport/" + validID})
	if err != nil {
		return err
	}
	if err := expectStatus(r, http.StatusOK); err != nil {
		return err
	}
	got, err := decodeJSON(r.body)
	if err != nil {
		return err
	}
	want, _ := decodeJSON(s.stored)
	if d := diffModuloMeta(want, got); d != "" {
		return fmt.Errorf("stored report differs from the one sent (meta aside): %s", d)
	}
	return nil
}

// rejectCase sends a report variant and expects 422 with an issue at one
// of targets (or, when allowText, naming element textually).
func (s *suite) rejectCase(ctx context.Context, name string, month int, mutate func(map[string]any) error, statuses []int, element string, exact bool, targets ...string) error {
	if err := s.needSetup(); err != nil {
		return err
	}
	id := "madx-kit-" + name
	body, sent, err := s.fx.reportVariant(id, month, mutate)
	if err != nil {
		return err
	}
	r, err := s.c.putJSON(ctx, "/MeasureReport/"+id, body)
	if err != nil {
		return err
	}
	if err := expectStatus(r, statuses...); err != nil {
		return err
	}
	issues, err := outcome(r)
	if err != nil {
		return err
	}
	s.rejects = append(s.rejects, reject{test: name, issues: issues})
	return issueAt(issues, sent, element, exact, targets...)
}

// issueAt passes when some issue's expression, evaluated on doc, selects
// one of targets (or, unless exact, something inside one), or names
// element textually (a missing element selects nothing).
func issueAt(issues []issue, doc any, element string, exact bool, targets ...string) error {
	var got []string
	var evalErrs []error
	for _, is := range issues {
		for _, e := range is.paths() {
			got = append(got, e)
			if element != "" && strings.ReplaceAll(e, " ", "") == element {
				return nil
			}
			p, err := ParsePath(e)
			if err != nil {
				evalErrs = append(evalErrs, err)
				continue
			}
			for _, n := range p.Evaluate(doc) {
				for _, t := range targets {
					if n.Path == t || (!exact && (strings.HasPrefix(n.Path, t+".") || strings.HasPrefix(n.Path, t+"["))) {
						return nil
					}
				}
			}
		}
	}
	want := strings.Join(targets, " or ")
	if element != "" {
		want = element + " (missing) or " + want
	}
	err := fmt.Errorf("no issue expression selects %s; got %q", want, got)
	if len(evalErrs) > 0 {
		err = fmt.Errorf("%w (%v)", err, errors.Join(evalErrs...))
	}
	return err
}

func (s *suite) invalidCode(ctx context.Context) error {
	target, err := s.fx.invalidCodeTarget()
	if err != nil {
		return err
	}
	mutate := func(doc map[string]any) error {
		return setAt(doc, target+".coding[0].code", "madx-kit-not-a-code")
	}
	return s.rejectCase(ctx, "test-case-2", 2, mutate, only422, "", false, target)
}

func (s *suite) unknownLocation(ctx context.Context) error {
	mutate := func(doc map[string]any) error {
		return setAt(doc, "MeasureReport.subject", map[string]any{"reference": "Location/madx-kit-no-such-location"})
	}
	return s.rejectCase(ctx, "test-case-3", 3, mutate, only422, "", false, "MeasureReport.subject")
}

func (s *suite) missing(mc missingCase) func(context.Context) error {
	return func(ctx context.Context) error {
		mutate := func(doc map[string]any) error { return removeAt(doc, mc.element) }
		statuses := only422
		if mc.baseRequired {
			statuses = []int{http.StatusUnprocessableEntity, http.StatusBadRequest}
		}
		return s.rejectCase(ctx, "missing-"+mc.name, 4, mutate, statuses, mc.element, true, mc.parents...)
	}
}

// failWith sends r and expects one of statuses with an OperationOutcome.
func (s *suite) failWith(ctx context.Context, r req, statuses ...int) error {
	resp, err := s.c.do(ctx, r)
	if err != nil {
		return err
	}
	if err := expectStatus(resp, statuses...); err != nil {
		return err
	}
	_, err = outcome(resp)
	return err
}

func (s *suite) malformed(ctx context.Context) error {
	body, _, err := s.fx.reportVariant("madx-kit-malformed", 5, nil)
	if err != nil {
		return err
	}
	return s.failWith(ctx, req{method: http.MethodPut, path: "/MeasureReport/madx-kit-malformed", contentType: mediaJSON, body: body[:len(body)/2]}, http.StatusBadRequest)
}

func (s *suite) wrongMedia(ctx context.Context) error {
	body, _, err := s.fx.reportVariant("madx-kit-media", 5, nil)
	if err != nil {
		return err
	}
	return s.failWith(ctx, req{method: http.MethodPut, path: "/MeasureReport/madx-kit-media", contentType: "application/x-www-form-urlencoded", body: body}, http.StatusUnsupportedMediaType)
}

func (s *suite) unknownType(ctx context.Context) error {
	// Patient is valid FHIR but no part of mADX: a Content Consumer does not
	// serve it (if a server does, it is not the one this suite is for).
	body := []byte(`{"resourceType":"Patient","id":"madx-kit-patient","active":true}`)
	return s.failWith(ctx, req{method: http.MethodPut, path: "/Patient/madx-kit-patient", contentType: mediaJSON, body: body}, http.StatusNotFound)
}

func (s *suite) unsupportedMethod(ctx context.Context) error {
	if cs, err := s.capability(ctx); err == nil && cs.declares("MeasureReport", "patch") {
		return skipf("the CapabilityStatement declares patch on MeasureReport: PATCH is supported")
	}
	body := []byte(`[{"op":"replace","path":"/status","value":"complete"}]`)
	return s.failWith(ctx, req{method: http.MethodPatch, path: "/MeasureReport/" + validID, contentType: "application/json-patch+json", body: body},
		http.StatusMethodNotAllowed, http.StatusNotImplemented)
}
