package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// auditPage is what the AuditEvent tests read of a searchset.
type auditPage struct {
	Total *int
	Link  []struct{ Relation, URL string }
	Entry []struct {
		Resource struct {
			ID, Outcome, OutcomeDesc, Recorded string
			Subtype                            []struct{ Code string }
			Entity                             []struct{ What struct{ Reference string } }
		}
	}
}

func (p auditPage) next() string {
	for _, l := range p.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

func searchAudit(t *testing.T, c *client, path, auditor string) auditPage {
	t.Helper()
	r := c.do("GET", path, nil, "Authorization", "Bearer "+auditor)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r)
	}
	var p auditPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuditEventSearch: AuditEvent is in the CapabilityStatement, and its
// search is a search like the others: paged with next links, sorted by
// _sort, with a total even when nothing matches (issue 11, defect 11).
func TestAuditEventSearch(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		t.Run("CapabilityStatement", func(t *testing.T) {
			rest := c.do("GET", "/metadata", nil).json(t)["rest"].([]any)[0].(map[string]any)
			var got []string
			for _, r := range rest["resource"].([]any) {
				r := r.(map[string]any)
				if r["type"] != "AuditEvent" {
					continue
				}
				for _, in := range r["interaction"].([]any) {
					got = append(got, in.(map[string]any)["code"].(string))
				}
				for _, p := range r["searchParam"].([]any) {
					got = append(got, "?"+p.(map[string]any)["name"].(string))
				}
			}
			want := []string{"read", "search-type", "?_id", "?_lastUpdated", "?date", "?agent", "?entity", "?outcome", "?action", "?subtype"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AuditEvent in the CapabilityStatement (-want +got):\n%s", diff)
			}
		})

		const attempts = 7
		for i := range attempts {
			// Refused before anything is read: one AuditEvent each.
			if r := c.do("PUT", fmt.Sprintf("/MeasureReport/p-%d", i), report(t, fmt.Sprintf("p-%d", i), "HealthPost1", 1)); r.status != http.StatusUnauthorized {
				t.Fatalf("PUT without a token: %d %s", r.status, r)
			}
		}
		t.Run("paged with next links and a total", func(t *testing.T) {
			path := "/AuditEvent?agent=unauthenticated&_count=3"
			var ids []string
			pages := 0
			for ; path != "" && pages < 10; pages++ {
				p := searchAudit(t, c, path, admin)
				if p.Total == nil || *p.Total != attempts {
					t.Errorf("%s: total %v, want %d", path, p.Total, attempts)
				}
				if len(p.Entry) > 3 {
					t.Errorf("%s: %d entries on a page of _count=3", path, len(p.Entry))
				}
				for _, e := range p.Entry {
					ids = append(ids, e.Resource.ID)
				}
				path = p.next()
			}
			slices.Sort(ids)
			if len(slices.Compact(ids)) != attempts || pages != 3 {
				t.Errorf("%d pages gave %d distinct AuditEvents, want 3 pages and %d", pages, len(ids), attempts)
			}
		})
		t.Run("_sort", func(t *testing.T) {
			for _, sort := range []string{"-date", "date", "_lastUpdated"} {
				p := searchAudit(t, c, "/AuditEvent?agent=unauthenticated&_sort="+sort, admin)
				var recorded []string
				for _, e := range p.Entry {
					recorded = append(recorded, e.Resource.Recorded)
				}
				want := slices.Clone(recorded)
				slices.Sort(want)
				if sort == "-date" {
					slices.Reverse(want)
				}
				if len(recorded) != attempts || !slices.Equal(recorded, want) {
					t.Errorf("_sort=%s: recorded %v", sort, recorded)
				}
			}
		})
		t.Run("total when nothing matches", func(t *testing.T) {
			if p := searchAudit(t, c, "/AuditEvent?entity=MeasureReport/none", admin); p.Total == nil || *p.Total != 0 || len(p.Entry) != 0 {
				t.Errorf("empty search: total %v, %d entries; want total 0", p.Total, len(p.Entry))
			}
		})
	})
}

// TestRefusedWritesWithoutRouteAreAudited: a PATCH (501) and a write to a
// type the server does not serve (404) leave an AuditEvent with a failure
// outcome, like every other write attempt (issue 11, defect 11).
func TestRefusedWritesWithoutRouteAreAudited(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		hp1 := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
		for _, tc := range []struct {
			name, method, path, token string
			status                    int
			subtype, entity           string
		}{
			{"PATCH", "PATCH", "/MeasureReport/x1", hp1, http.StatusNotImplemented, "patch", "MeasureReport/x1"},
			{"PUT to an unserved type", "PUT", "/Patient/p1", hp1, http.StatusNotFound, "update", "Patient/p1"},
			{"POST to an unserved type", "POST", "/Patient", hp1, http.StatusNotFound, "create", "Patient"},
			{"DELETE of an unserved type", "DELETE", "/Patient/p2", admin, http.StatusNotFound, "delete", "Patient/p2"},
			{"PUT to the audit trail", "PUT", "/AuditEvent/e1", admin, http.StatusMethodNotAllowed, "update", "AuditEvent/e1"},
			{"PUT to an unserved type without a token", "PUT", "/Patient/p3", "", http.StatusUnauthorized, "update", "Patient/p3"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := "req-" + strings.ReplaceAll(tc.name, " ", "-")
				h := []string{"X-Request-Id", id}
				if tc.token != "" {
					h = append(h, "Authorization", "Bearer "+tc.token)
				}
				r := c.do(tc.method, tc.path, []byte(`{"resourceType":"Patient","id":"p1"}`), h...)
				wantOutcome(t, r, tc.status)
				id = r.header.Get("X-Request-Id") // the server's own: the audit's key
				p := searchAudit(t, c, "/AuditEvent?entity="+tc.entity, admin)
				var got []string
				for _, e := range p.Entry {
					if strings.HasSuffix(e.Resource.OutcomeDesc, "request id "+id) {
						got = append(got, e.Resource.Outcome+" "+e.Resource.Subtype[0].Code)
					}
				}
				if diff := cmp.Diff([]string{"4 " + tc.subtype}, got); diff != "" {
					t.Errorf("AuditEvents of the attempt (-want +got):\n%s", diff)
				}
			})
		}
	})
}
