package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// feedEntry is what TestFeedsShowReadableTypesOnly reads of a history
// entry.
type feedEntry struct {
	FullURL  string `json:"fullUrl"`
	Resource *struct {
		ResourceType, ID string
		Subject          struct{ Reference string }
	}
	Request struct{ Method, URL string }
}

// walkFeed follows a history's next links with a token and returns every
// entry.
func walkFeed(t *testing.T, c *client, path, token string) []feedEntry {
	t.Helper()
	var all []feedEntry
	for pages := 0; path != "" && pages < 100; pages++ {
		r := c.do("GET", path, nil, "Authorization", "Bearer "+token)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r)
		}
		var b struct {
			Entry []feedEntry
			Link  []struct{ Relation, URL string }
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Entry) == 0 && len(b.Link) > 1 {
			t.Errorf("%s: an empty page with a next link (filtered after paging)", path)
		}
		all = append(all, b.Entry...)
		path = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				path = l.URL
			}
		}
	}
	return all
}

// feedTypesOf lists the types of a feed's entries, each once, sorted; an
// entry whose resource has no resourceType counts as "?".
func feedTypesOf(entries []feedEntry) []string {
	var out []string
	for _, e := range entries {
		typ, _, _ := strings.Cut(e.Request.URL, "/")
		if e.Resource != nil {
			typ = e.Resource.ResourceType
			if typ == "" {
				typ = "?"
			}
		}
		if !slices.Contains(out, typ) {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

// TestFeedsShowReadableTypesOnly: system and type _history show served
// types only, each filtered by the caller's read scopes, and MeasureReports
// by its facilities; asynchronous job records never appear, so the XML
// feed stays valid once a job exists (issue 11, defect 4).
func TestFeedsShowReadableTypesOnly(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		loadDefinitionsAs(c, admin)
		for _, f := range []string{"HealthPost1", "HealthPost2"} {
			tok := k.token(k.claims(f, "system/MeasureReport.write", "Location/"+f))
			if r := c.do("PUT", "/MeasureReport/h-"+f, report(t, "h-"+f, f, 6), "Authorization", "Bearer "+tok); r.status != http.StatusCreated {
				t.Fatalf("PUT for %s: %d %s", f, r.status, r)
			}
		}
		if r := c.do("DELETE", "/MeasureReport/h-HealthPost2", nil, "Authorization", "Bearer "+admin); r.status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.status, r)
		}
		// A job that is never run: its record sits in the store.
		hp1 := k.token(k.claims("healthpost-1", "system/MeasureReport.read system/MeasureReport.write", "Location/HealthPost1"))
		if r := c.do("POST", "/", collectionOf(report(t, "h-job", "HealthPost1", 7)), "Prefer", "respond-async", "Authorization", "Bearer "+hp1); r.status != http.StatusAccepted {
			t.Fatalf("respond-async: %d %s", r.status, r)
		}
		district := k.token(k.claims("district", "system/MeasureReport.read madx/jurisdiction.read"))

		for _, tc := range []struct {
			name, token, path string
			types             []string
			reports           []string // MeasureReport entries, as "METHOD id"
		}{
			{"facility, system feed", hp1, "/_history?_count=1", []string{"MeasureReport"}, []string{"POST h-HealthPost1"}},
			{"facility, type feed", hp1, "/MeasureReport/_history?_count=1", []string{"MeasureReport"}, []string{"POST h-HealthPost1"}},
			{"no AuditEvent or definition scopes", district, "/_history?_count=2", []string{"MeasureReport"},
				[]string{"DELETE h-HealthPost2", "POST h-HealthPost2", "POST h-HealthPost1"}},
			{"auditor with every scope", admin, "/_history?_count=1000", []string{"AuditEvent", "CodeSystem", "Location", "Measure", "MeasureReport", "Organization", "ValueSet"},
				[]string{"DELETE h-HealthPost2", "POST h-HealthPost2", "POST h-HealthPost1"}},
			{"definitions only", k.token(k.claims("dsc", "system/Measure.read system/ValueSet.read")), "/_history", []string{"Measure", "ValueSet"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				entries := walkFeed(t, c, tc.path, tc.token)
				if diff := cmp.Diff(tc.types, feedTypesOf(entries)); diff != "" {
					t.Errorf("types in the feed (-want +got):\n%s", diff)
				}
				var reports []string
				for _, e := range entries {
					if strings.HasPrefix(e.Request.URL, "MeasureReport") {
						_, id, _ := strings.Cut(e.FullURL, "/MeasureReport/")
						reports = append(reports, e.Request.Method+" "+strings.Split(id, "/")[0])
					}
				}
				if diff := cmp.Diff(tc.reports, reports); diff != "" {
					t.Errorf("reports in the feed (-want +got):\n%s", diff)
				}
			})
		}

		t.Run("XML with a job stored", func(t *testing.T) {
			for _, tok := range []string{admin, hp1, district} {
				r := c.do("GET", "/_history?_count=1000", nil, "Accept", "application/fhir+xml", "Authorization", "Bearer "+tok)
				if r.status != http.StatusOK || !strings.Contains(string(r.body), "<Bundle") {
					t.Errorf("XML feed: %d %s", r.status, r)
				}
				if strings.Contains(string(r.body), "AsyncJob") {
					t.Errorf("the XML feed shows a job: %s", r)
				}
			}
		})
	})
}
