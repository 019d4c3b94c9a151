package server_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/conformance"
)

// TestCapabilityStatementSearchParams checks that the CapabilityStatement
// lists, per type, exactly the search parameters of the conformance table
// with their types, and that the server accepts every one of them under
// Prefer: handling=strict (which refuses parameters it does not know).
func TestCapabilityStatementSearchParams(t *testing.T) {
	c := newClient(t, openSQLite(t))
	rest := c.do("GET", "/metadata", nil).json(t)["rest"].([]any)[0].(map[string]any)
	sample := map[string]string{"date": "2025-01", "token": "x", "reference": "Location/x", "string": "x", "uri": "http://x/y"}
	for _, r := range rest["resource"].([]any) {
		r := r.(map[string]any)
		typ := r["type"].(string)
		listed := map[string]string{}
		ps, _ := r["searchParam"].([]any)
		for _, p := range ps {
			p := p.(map[string]any)
			listed[p["name"].(string)] = p["type"].(string)
		}
		want := map[string]string{}
		var spec conformance.ResourceSpec
		for _, s := range append(conformance.Resources(), conformance.ReadOnlyResources()...) {
			if s.Type == typ {
				spec = s
			}
		}
		for _, p := range append(conformance.CommonSearchParams(), spec.SearchParams...) {
			want[p.Name] = p.Type
		}
		if diff := cmp.Diff(want, listed); diff != "" {
			t.Errorf("%s searchParam (-table +CapabilityStatement):\n%s", typ, diff)
		}
		for name, ptype := range listed {
			path := "/" + typ + "?" + name + "=" + sample[ptype]
			if got := c.do("GET", escapeQuery(path), nil, "Prefer", "handling=strict"); got.status != http.StatusOK {
				t.Errorf("GET %s (strict): %d %s", path, got.status, got)
			}
		}
		if got := c.do("GET", "/"+typ+"?not-a-param=1", nil, "Prefer", "handling=strict"); got.status != http.StatusBadRequest {
			t.Errorf("%s: an unlisted parameter under strict handling answers %d, want 400", typ, got.status)
		}
	}
}
