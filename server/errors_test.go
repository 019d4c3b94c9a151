package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/madx-project/madx/server"
)

func TestErrorsAreOperationOutcomes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		valid := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
		tests := []struct {
			name    string
			method  string
			path    string
			body    []byte
			headers []string
			status  int
			expr    string
		}{
			{"unknown type", "GET", "/Patient/1", nil, nil, http.StatusNotFound, ""},
			{"unknown type write", "PUT", "/Patient/inv-patient", testdata(t, "invalid/unsupported-resource-type.json"), nil, http.StatusNotFound, ""},
			{"unknown id", "GET", "/Measure/nope", nil, nil, http.StatusNotFound, ""},
			{"outside the base", "GET", "/nothing-here", nil, nil, http.StatusNotFound, ""},
			{"method not allowed", "POST", "/Measure/x", valid, nil, http.StatusMethodNotAllowed, ""},
			{"patch not implemented", "PATCH", "/MeasureReport/x", []byte(`[]`), []string{"Content-Type", "application/json-patch+json"}, http.StatusNotImplemented, ""},
			{"malformed json", "PUT", "/MeasureReport/inv-malformed-json", testdata(t, "invalid/malformed-json.json"), nil, http.StatusBadRequest, ""},
			{"non-integer count", "PUT", "/MeasureReport/inv-non-integer-count", testdata(t, "invalid/non-integer-count.json"), nil, http.StatusBadRequest, "MeasureReport.group[0].population[0].count"},
			{"wrong resource type", "PUT", "/MeasureReport/inv-wrong-resource-type", testdata(t, "invalid/wrong-resource-type.json"), nil, http.StatusBadRequest, ""},
			{"duplicate member", "PUT", "/MeasureReport/mADX-MeasureReport-example-literal-subject", []byte(strings.Replace(string(valid), `"count": 426`, `"count": 426, "count": 427`, 1)), nil, http.StatusBadRequest, "MeasureReport.group[0].population[0].count"},
			{"id mismatch", "PUT", "/MeasureReport/inv-id-in-url", testdata(t, "invalid/id-mismatch.json"), nil, http.StatusBadRequest, "MeasureReport.id"},
			{"bad id", "GET", "/Measure/" + strings.Repeat("x", 65), nil, nil, http.StatusBadRequest, ""},
			{"unsupported media type", "PUT", "/MeasureReport/inv-unsupported-media-type", testdata(t, "invalid/unsupported-media-type.json"), []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, ""},
			{"latin-1 charset", "PUT", "/MeasureReport/x", valid, []string{"Content-Type", "application/fhir+json; charset=iso-8859-1"}, http.StatusUnsupportedMediaType, ""},
			{"empty body", "PUT", "/MeasureReport/x", []byte{}, nil, http.StatusBadRequest, ""},
			{"not acceptable", "GET", "/Measure/madx-hiv-indicator-example", nil, []string{"Accept", "text/html"}, http.StatusNotAcceptable, ""},
			{"bad _format", "GET", "/Measure/madx-hiv-indicator-example?_format=yaml", nil, nil, http.StatusNotAcceptable, ""},
			{"resource posted to base", "POST", "/", valid, nil, http.StatusBadRequest, ""},
			{"update without an id in the body", "PUT", "/Location/no-id", []byte(`{"resourceType":"Location","name":"x"}`), nil, http.StatusBadRequest, "Location.id"},
			{"delete of an unknown id", "DELETE", "/Location/never-was", nil, nil, http.StatusNotFound, ""},
			{"an operation", "GET", "/Measure/$evaluate-measure", nil, nil, http.StatusNotImplemented, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				m := wantOutcome(t, c.do(tc.method, tc.path, tc.body, tc.headers...), tc.status)
				if code := m["issue"].([]any)[0].(map[string]any)["code"]; code == "exception" {
					t.Errorf("a deliberate %d answers like an internal failure: %v", tc.status, m)
				}
				if tc.expr != "" && !contains(expressions(m), tc.expr) {
					t.Errorf("no issue at %s: %v", tc.expr, expressions(m))
				}
			})
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestBodyTooLarge(t *testing.T) {
	c := newClient(t, openSQLite(t), func(o *server.Options) { o.MaxBody = 1000 })
	big := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	wantOutcome(t, c.do("PUT", "/MeasureReport/x", big), http.StatusRequestEntityTooLarge)
}

func TestBundleTooManyEntries(t *testing.T) {
	c := newClient(t, openSQLite(t), func(o *server.Options) { o.MaxBundleEntries = 2 })
	wantOutcome(t, c.do("POST", "/", testdata(t, "madx/reports/Bundle-hiv-2025-02-batch.json")), http.StatusRequestEntityTooLarge)
}

func TestHealth(t *testing.T) {
	c := newClient(t, openSQLite(t))
	root := strings.TrimSuffix(c.base, "/fhir")
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := c.do("GET", root+p, nil); r.status != http.StatusOK {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// TestMissingContentTypeIsSniffed: a body sent without Content-Type (some
// tools send none) is read as JSON or XML by its first character.
func TestMissingContentTypeIsSniffed(t *testing.T) {
	c := newClient(t, openSQLite(t))
	for name, tc := range map[string]struct{ id, file string }{
		"json": {"HealthPost1", "madx/definitions/Location-HealthPost1.json"},
		"xml":  {"HealthPost2", "madx/xml/Location-HealthPost2.xml"},
	} {
		t.Run(name, func(t *testing.T) {
			if r := c.do("PUT", "/Location/"+tc.id, testdata(t, tc.file), "Content-Type", ""); r.status != http.StatusCreated {
				t.Fatalf("PUT without Content-Type: %d %s", r.status, r)
			}
		})
	}
}
