package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestValidateOperation: $validate runs the write pipeline short of the
// commit, at the type and instance level, for MeasureReport and Measure,
// with the resource as the body or inside Parameters; it answers 200 with
// the same issues a write would get, and stores nothing.
func TestValidateOperation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		good := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example.json")
		bad := []byte(strings.Replace(string(good), `"code":"QRPH_mADX_ART1_N"`, `"code":"NO_SUCH_GROUP"`, 1))
		if string(bad) == string(good) {
			t.Fatal("the test report has no group code to spoil")
		}
		measure := testdata(t, "madx/definitions/Measure-madx-hiv-indicator-example.json")
		params := `{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"create"},{"name":"resource","resource":` + string(bad) + `}]}`
		for _, tc := range []struct {
			name, path string
			body       []byte
			// severity of the first issue; expr, when set, is one of the expressions
			severity, expr string
		}{
			{"valid report, type level", "/MeasureReport/$validate", good, "warning", ""},
			{"invalid report, type level", "/MeasureReport/$validate", bad, "fatal", "MeasureReport.group[0].code"},
			{"invalid report in Parameters", "/MeasureReport/$validate", []byte(params), "fatal", "MeasureReport.group[0].code"},
			{"invalid report, instance level", "/MeasureReport/mADX-MeasureReport-example/$validate", bad, "fatal", "MeasureReport.group[0].code"},
			{"id mismatch at instance level", "/MeasureReport/other-id/$validate", good, "fatal", "MeasureReport.id"},
			{"Measure", "/Measure/$validate", measure, "information", ""},
			{"a Location where a Measure is expected", "/Measure/$validate", testdata(t, "madx/definitions/Location-HealthPost1.json"), "fatal", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("POST", tc.path, tc.body)
				if r.status != http.StatusOK {
					t.Fatalf("status %d, want 200 (validation performed): %s", r.status, r)
				}
				m := r.json(t)
				if m["resourceType"] != "OperationOutcome" {
					t.Fatalf("not an OperationOutcome: %s", r)
				}
				first := m["issue"].([]any)[0].(map[string]any)
				if first["severity"] != tc.severity {
					t.Errorf("first issue %v, want severity %s: %s", first, tc.severity, r)
				}
				if tc.expr != "" && !strings.Contains(strings.Join(expressions(m), " "), tc.expr) {
					t.Errorf("expressions %v, want one naming %s", expressions(m), tc.expr)
				}
			})
		}
		if r := c.do("GET", "/MeasureReport?_summary=count", nil); !strings.Contains(r.String(), `"total":0`) {
			t.Errorf("$validate stored something: %s", r)
		}
		// The XML form of Parameters, answered in JSON.
		xmlParams := `<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="resource"/><resource><Location><id value="x"/><name value="A"/></Location></resource></parameter></Parameters>`
		if r := c.do("POST", "/Measure/$validate", []byte(xmlParams), "Content-Type", "application/fhir+xml", "Accept", "application/fhir+json"); r.status != http.StatusOK || !strings.Contains(r.String(), "The body is a Location but the URL names Measure") {
			t.Errorf("XML Parameters: %d %s", r.status, r)
		}
		if r := c.do("POST", "/MeasureReport/$validate?mode=sideways", good); r.status != http.StatusBadRequest {
			t.Errorf("unknown mode: %d, want 400: %s", r.status, r)
		}
		if r := c.do("POST", "/MeasureReport/$validate", []byte("{not json")); r.status != http.StatusBadRequest {
			t.Errorf("unreadable body: %d, want 400 (validation not performed): %s", r.status, r)
		}
	})
}

// TestValidateChecksRights: $validate as facility A of a report over
// facility B's stored report says the write would be forbidden, as the
// write itself would.
func TestValidateChecksRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		loadDefinitionsAs(c, k.admin())
		hpB := k.token(k.claims("healthpost-2", "system/MeasureReport.write", "Location/HealthPost2"))
		hpA := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
		if r := c.do("PUT", "/MeasureReport/b-1", report(t, "b-1", "HealthPost2", 3), "Authorization", "Bearer "+hpB); r.status != http.StatusCreated {
			t.Fatalf("B's own report: %d %s", r.status, r)
		}
		for _, tc := range []struct{ name, path string }{
			{"update over B's report", "/MeasureReport/b-1/$validate"},
			{"delete of B's report", "/MeasureReport/b-1/$validate?mode=delete"},
		} {
			body := report(t, "b-1", "HealthPost1", 7)
			if strings.Contains(tc.path, "delete") {
				body = nil
			}
			r := c.do("POST", tc.path, body, "Authorization", "Bearer "+hpA)
			if r.status != http.StatusOK || !strings.Contains(r.String(), `"forbidden"`) || !strings.Contains(r.String(), "HealthPost2") {
				t.Errorf("%s: want 200 with a forbidden issue naming HealthPost2: %d %s", tc.name, r.status, r)
			}
		}
		if r := c.do("POST", "/MeasureReport/$validate", report(t, "x", "HealthPost1", 8), "Authorization", "Bearer "+hpA); !strings.Contains(r.String(), `"warning"`) || strings.Contains(r.String(), `"forbidden"`) {
			t.Errorf("A's own new report: %d %s", r.status, r)
		}
	})
}

// TestResourceOncePerBundle: the same resource written twice in one
// transaction or collection is refused (FHIR R4 http.html#trules), and the
// ids "." and ".." are refused everywhere (issue 14 defect 11).
func TestResourceOncePerBundle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		loc := `{"resourceType":"Location","id":"twice","status":"active","name":"Twice"}`
		for _, typ := range []string{"transaction", "collection"} {
			e := `{"request":{"method":"PUT","url":"Location/twice"},"resource":` + loc + `}`
			if typ == "collection" {
				e = `{"resource":` + loc + `}`
			}
			r := c.do("POST", "/", []byte(`{"resourceType":"Bundle","type":"`+typ+`","entry":[`+e+`,`+e+`]}`))
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.String(), "Location/twice is written by Bundle.entry[0] too") {
				t.Errorf("%s writing Location/twice twice: %d, want 422 naming both entries: %s", typ, r.status, r)
			}
		}
		if r := c.do("GET", "/Location/twice", nil); r.status != http.StatusNotFound {
			t.Errorf("Location/twice was stored: %d", r.status)
		}
		for _, id := range []string{".", ".."} {
			r := c.do("POST", "/", []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"PUT","url":"Location/`+id+`"},"resource":{"resourceType":"Location","id":"`+id+`"}}]}`))
			if !strings.Contains(r.String(), `"status":"400`) || !strings.Contains(r.String(), "relative path segment") {
				t.Errorf("id %q: want a 400 entry: %d %s", id, r.status, r)
			}
		}
	})
}

// TestUnsafeNarrativeRefused: narrative with scripts, event handlers or
// script URLs is refused on the way in, on the resource and on a contained
// one, with the issue at the div (issue 14 defect 10, FHIR txt-1).
func TestUnsafeNarrativeRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		loc := `{"resourceType":"Location","id":"xss","status":"active","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onmouseover=\"alert(1)\">Health post</p></div>"}}`
		r := c.do("PUT", "/Location/xss", []byte(loc))
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(strings.Join(expressions(r.json(t)), " "), "Location.text.div") {
			t.Errorf("Location with an event handler: %d, want 422 at Location.text.div: %s", r.status, r)
		}
		rep := strings.Replace(string(testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example.json")),
			`"contained": [{"resourceType":"Location","id":"HealthPost1","name":"Good Health Post"}]`,
			`"contained": [{"resourceType":"Location","id":"HealthPost1","name":"Good Health Post","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script>Good Health Post</div>"}}]`, 1)
		r = c.do("POST", "/MeasureReport/$validate", []byte(rep))
		if !strings.Contains(r.String(), "MeasureReport.contained[0].text.div") || !strings.Contains(r.String(), "<script> is not allowed") {
			t.Errorf("a contained Location with a script: %d %s", r.status, r)
		}
		safe := strings.Replace(loc, ` onmouseover=\"alert(1)\"`, ``, 1)
		if r := c.do("PUT", "/Location/xss", []byte(safe)); r.status != http.StatusCreated {
			t.Errorf("the same Location without the handler: %d %s", r.status, r)
		}
	})
}

// TestNestedContainedRefused: a contained resource that contains another
// is refused (FHIR dom-2; issue 14 defect 11).
func TestNestedContainedRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		rep := strings.Replace(string(testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example.json")),
			`"contained": [{"resourceType":"Location","id":"HealthPost1","name":"Good Health Post"}]`,
			`"contained": [{"resourceType":"Location","id":"HealthPost1","name":"Good Health Post","contained":[{"resourceType":"Organization","id":"o","name":"Inner"}]}]`, 1)
		r := c.do("PUT", "/MeasureReport/mADX-MeasureReport-example", []byte(rep))
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.String(), "MeasureReport.contained[0].contained") || !strings.Contains(r.String(), "dom-2") {
			t.Errorf("nested contained: %d, want 422 at MeasureReport.contained[0].contained: %s", r.status, r)
		}
	})
}
