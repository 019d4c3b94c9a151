package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/madx-project/madx/conformance"
)

// TestCapabilityStatementMatchesRoutes checks, over HTTP, that every
// interaction the CapabilityStatement names is served and that the
// interactions it does not name are not.
func TestCapabilityStatementMatchesRoutes(t *testing.T) {
	c := newClient(t, openSQLite(t))
	c.loadDefinitions()
	cs := c.do("GET", "/metadata", nil).json(t)
	if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" || cs["kind"] != "instance" {
		t.Fatalf("metadata: %v", cs)
	}
	rest := cs["rest"].([]any)[0].(map[string]any)
	listed := map[string]map[string]bool{}
	for _, r := range rest["resource"].([]any) {
		r := r.(map[string]any)
		typ := r["type"].(string)
		listed[typ] = map[string]bool{}
		for _, in := range r["interaction"].([]any) {
			listed[typ][in.(map[string]any)["code"].(string)] = true
		}
	}
	if n := len(conformance.Resources()) + len(conformance.ReadOnlyResources()); len(listed) != n {
		t.Errorf("CapabilityStatement lists %d types, the table %d", len(listed), n)
	}
	all := []conformance.Interaction{conformance.Read, conformance.VRead, conformance.Update, conformance.Delete,
		conformance.HistoryInstance, conformance.HistoryType, conformance.Create, conformance.SearchType, conformance.Patch}
	for typ, served := range listed {
		for _, in := range all {
			for _, rt := range conformance.Routes(typ, in) {
				path := rt.Path
				path = replaceParam(path, ":id", "probe-id")
				path = replaceParam(path, ":vid", "1")
				r := c.do(rt.Method, path, []byte(`{}`))
				unserved := r.status == http.StatusNotFound && !isResourceNotFound(t, r) || r.status == http.StatusMethodNotAllowed || r.status == http.StatusNotImplemented
				if served[string(in)] && unserved {
					t.Errorf("%s %s: listed as %s but answers %d %s", rt.Method, path, in, r.status, r)
				}
				if !served[string(in)] && !unserved {
					t.Errorf("%s %s: not listed as %s but answers %d", rt.Method, path, in, r.status)
				}
			}
		}
	}
}

func replaceParam(path, param, value string) string {
	for i := 0; i+len(param) <= len(path); i++ {
		if path[i:i+len(param)] == param {
			return path[:i] + value + path[i+len(param):]
		}
	}
	return path
}

// isResourceNotFound tells a 404 for an unknown resource id (the route is
// served) from a 404 for an unknown route.
func isResourceNotFound(tb testing.TB, r response) bool {
	tb.Helper()
	issues, _ := r.json(tb)["issue"].([]any)
	if len(issues) == 0 {
		return false
	}
	d, _ := issues[0].(map[string]any)["diagnostics"].(string)
	return !strings.HasPrefix(d, "No FHIR interaction is served") && !strings.HasPrefix(d, "Resource type")
}
