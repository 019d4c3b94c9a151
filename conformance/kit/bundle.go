package kit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// badEntry is the index of the invalid report in the collection Bundle.
const badEntry = 1

// bundleBadEntry POSTs a collection Bundle of three reports whose second
// has an invalid stratum code. QRPH-58 2:3.58.4.2.3 wants an OperationOutcome
// for each invalid report with a FHIRPath identifying it; inside a Bundle
// that path starts Bundle.entry[i]. A 4xx for the whole Bundle or a 2xx
// response Bundle carrying the outcome in the entry's response both pass,
// as long as the issue is there and selects the element.
func (s *suite) bundleBadEntry(ctx context.Context) error {
	if err := s.needSetup(); err != nil {
		return err
	}
	target, err := s.fx.invalidCodeTarget()
	if err != nil {
		return err
	}
	var entries []any
	for i := range 3 {
		id := fmt.Sprintf("madx-kit-bundle-%d", i)
		var mutate func(map[string]any) error
		if i == badEntry {
			mutate = func(doc map[string]any) error {
				return setAt(doc, target+".coding[0].code", "madx-kit-not-a-code")
			}
		}
		body, _, err := s.fx.reportVariant(id, 6+i, mutate)
		if err != nil {
			return err
		}
		entries = append(entries, map[string]any{"resource": json.RawMessage(body)})
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	if err != nil {
		return err
	}
	sent, err := decodeJSON(b)
	if err != nil {
		return err
	}
	// FHIR R4 http.html#transaction: the Bundle goes to POST [base]. A
	// server that answers 404 there fails, but the Bundle is tried at
	// [base]/ too so the report says whether the rest would pass.
	r, err := s.c.do(ctx, req{method: http.MethodPost, path: "", contentType: mediaJSON, body: b})
	if err != nil {
		return err
	}
	var atBase error
	if r.status == http.StatusNotFound {
		atBase = fmt.Errorf("POST [base] (%s) answered 404; the Bundle was then sent to [base]/, where the rest of this test passed", r.url)
		if r, err = s.c.do(ctx, req{method: http.MethodPost, path: "/", contentType: mediaJSON, body: b}); err != nil {
			return err
		}
	}
	if r.status >= 500 {
		return fmt.Errorf("server error: %s", r)
	}
	if r.status >= 300 {
		issues, err := outcome(r)
		if err != nil {
			return err
		}
		s.rejects = append(s.rejects, reject{test: "collection-bundle-bad-entry", issues: issues})
	}
	issues := allIssues(r.body)
	prefix := fmt.Sprintf("Bundle.entry[%d]", badEntry)
	var prefixed []issue
	for _, is := range issues {
		for _, e := range is.paths() {
			if strings.HasPrefix(strings.ReplaceAll(e, " ", ""), prefix+".") {
				prefixed = append(prefixed, is)
				break
			}
		}
	}
	if len(prefixed) == 0 {
		return fmt.Errorf("status %d: no issue expression starts with %s: %s", r.status, prefix, r)
	}
	inBundle := fmt.Sprintf("Bundle.entry[%d].resource", badEntry) + strings.TrimPrefix(target, "MeasureReport")
	if err := issueAt(prefixed, sent, "", false, inBundle); err != nil {
		return err
	}
	return atBase
}

// severityFatal checks the OperationOutcomes of every rejected report the
// suite sent: QRPH-58 2:3.58.4.2.3 asks for severity fatal (its text says
// "issue.expression to fatal", an evident slip for issue.severity). An
// "error" issue on a rejection is the violation; warnings and information
// may accompany the fatal ones.
func (s *suite) severityFatal(context.Context) error {
	if len(s.rejects) == 0 {
		return skipf("no report was rejected with an OperationOutcome")
	}
	var bad []string
	for _, rj := range s.rejects {
		fatal := false
		for _, is := range rj.issues {
			switch is.Severity {
			case "fatal":
				fatal = true
			case "error":
				bad = append(bad, fmt.Sprintf("%s: severity error at %v", rj.test, is.paths()))
			}
		}
		if !fatal {
			bad = append(bad, rj.test+": no issue of severity fatal")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}
