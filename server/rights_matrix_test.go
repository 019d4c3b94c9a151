package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/madx-project/madx/server"
)

// TestFacilityRightsMatrix: facility A's token against facility B's report
// on every way to read or change it (issue 11). Each row names what A must
// get; B's report must come out untouched, and nothing of it may show in
// A's answers. A read of a report A may not read answers 404, as for one
// that does not exist, deleted ones included (issue 14 defect 12).
func TestFacilityRightsMatrix(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		c.startAsync(t)
		loadDefinitionsAs(c, k.admin())
		hpA := k.token(k.claims("healthpost-1", "system/*.write system/MeasureReport.read system/Measure.read", "Location/HealthPost1"))
		hpB := k.token(k.claims("healthpost-2", "system/MeasureReport.write system/MeasureReport.read", "Location/HealthPost2"))
		asB, asA := []string{"Authorization", "Bearer " + hpB}, []string{"Authorization", "Bearer " + hpA}
		if r := c.do("PUT", "/MeasureReport/b-1", report(t, "b-1", "HealthPost2", 3), asB...); r.status != http.StatusCreated {
			t.Fatalf("B's report: %d %s", r.status, r)
		}
		// B's deleted report: a 410 would tell A it existed.
		if r := c.do("PUT", "/MeasureReport/b-3", report(t, "b-3", "HealthPost2", 5), asB...); r.status != http.StatusCreated {
			t.Fatalf("B's report b-3: %d %s", r.status, r)
		}
		if r := c.do("DELETE", "/MeasureReport/b-3", nil, asB...); r.status != http.StatusNoContent {
			t.Fatalf("B deletes b-3: %d %s", r.status, r)
		}
		if r := c.do("GET", "/MeasureReport/b-3", nil, asB...); r.status != http.StatusGone {
			t.Fatalf("B reads its deleted b-3: %d, want 410", r.status)
		}
		// B's asynchronous submission, whose status and result are B's.
		r := c.do("PUT", "/MeasureReport/b-2", report(t, "b-2", "HealthPost2", 4), append(asB, "Prefer", "respond-async")...)
		if r.status != http.StatusAccepted {
			t.Fatalf("B's async PUT: %d %s", r.status, r)
		}
		job := r.header.Get("Content-Location")
		job = job[strings.Index(job, "/_async/"):]
		bRes := pollAs(t, c, job, hpB)
		if bRes.status != http.StatusCreated {
			t.Fatalf("B's async result: %d %s", bRes.status, bRes)
		}
		var auditID string
		if r := c.do("GET", "/AuditEvent?entity=MeasureReport/b-1", nil, "Authorization", "Bearer "+k.admin()); r.status == http.StatusOK {
			if es, _ := r.json(t)["entry"].([]any); len(es) > 0 {
				auditID = es[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
			}
		}
		if auditID == "" {
			t.Fatal("no AuditEvent for B's write")
		}
		bundle := func(typ, method, url string) []byte {
			return []byte(fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[{"request":{"method":%q,"url":%q}}]}`, typ, method, url))
		}
		for _, tc := range []struct {
			name, method, path string
			body               []byte
			headers            []string
			want               int
			// inside: the refusal is the status of the Bundle's entry
			inside bool
		}{
			{"read", "GET", "/MeasureReport/b-1", nil, nil, http.StatusNotFound, false},
			{"HEAD", "HEAD", "/MeasureReport/b-1", nil, nil, http.StatusNotFound, false},
			{"conditional read", "GET", "/MeasureReport/b-1", nil, []string{"If-None-Match", `W/"1"`}, http.StatusNotFound, false},
			{"read of B's deleted report", "GET", "/MeasureReport/b-3", nil, nil, http.StatusNotFound, false},
			{"vread of B's deletion", "GET", "/MeasureReport/b-3/_history/2", nil, nil, http.StatusNotFound, false},
			{"vread", "GET", "/MeasureReport/b-1/_history/1", nil, nil, http.StatusNotFound, false},
			{"instance history", "GET", "/MeasureReport/b-1/_history", nil, nil, http.StatusNotFound, false},
			{"search by id", "GET", "/MeasureReport?_id=b-1", nil, nil, http.StatusOK, false},
			{"search by subject", "GET", "/MeasureReport?subject=Location/HealthPost2", nil, nil, http.StatusOK, false},
			{"search as POST", "POST", "/MeasureReport/_search", []byte("_id=b-1"), []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusOK, false},
			{"type _history", "GET", "/MeasureReport/_history", nil, nil, http.StatusOK, false},
			{"system _history", "GET", "/_history", nil, nil, http.StatusOK, false},
			{"update", "PUT", "/MeasureReport/b-1", report(t, "b-1", "HealthPost1", 9), nil, http.StatusForbidden, false},
			{"delete", "DELETE", "/MeasureReport/b-1", nil, nil, http.StatusForbidden, false},
			{"batch read entry", "POST", "/", bundle("batch", "GET", "MeasureReport/b-1"), nil, http.StatusNotFound, true},
			{"transaction read entry", "POST", "/", bundle("transaction", "GET", "MeasureReport/b-1"), nil, http.StatusNotFound, true},
			{"batch delete entry", "POST", "/", bundle("batch", "DELETE", "MeasureReport/b-1"), nil, http.StatusForbidden, true},
			{"transaction delete entry", "POST", "/", bundle("transaction", "DELETE", "MeasureReport/b-1"), nil, http.StatusForbidden, false},
			{"async status of B's job", "GET", job, nil, nil, http.StatusNotFound, false},
			{"async result of B's job", "GET", job + "/result", nil, nil, http.StatusNotFound, false},
			{"AuditEvent search", "GET", "/AuditEvent?entity=MeasureReport/b-1", nil, nil, http.StatusForbidden, false},
			{"AuditEvent read", "GET", "/AuditEvent/" + auditID, nil, nil, http.StatusForbidden, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(tc.method, tc.path, tc.body, append(append([]string{}, asA...), tc.headers...)...)
				switch {
				case tc.inside:
					if r.status != http.StatusOK || !strings.Contains(r.String(), fmt.Sprintf(`"status":"%d`, tc.want)) {
						t.Errorf("want a response Bundle whose entry is %d: %d %s", tc.want, r.status, r)
					}
				case r.status != tc.want:
					t.Errorf("status %d, want %d: %s", r.status, tc.want, r)
				}
				if strings.Contains(string(r.body), `"id":"b-`) || strings.Contains(string(r.body), `"reference":"Location/HealthPost2"`) {
					t.Errorf("the answer shows B's report: %s", r)
				}
			})
		}
		if g := c.do("GET", "/MeasureReport/b-1", nil, asB...); g.status != http.StatusOK || g.header.Get("ETag") != `W/"1"` {
			t.Errorf("B's report after A's attempts: %d %s", g.status, g.header.Get("ETag"))
		}
	})
}

// TestStaleIfMatchTellsNothingOfAnothersReport: facility A sending a stale
// If-Match for B's report gets the refusal of its rights (403), not the 412
// that would confirm the report exists and is at another version.
func TestStaleIfMatchTellsNothingOfAnothersReport(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		loadDefinitionsAs(c, k.admin())
		hpA := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
		hpB := k.token(k.claims("healthpost-2", "system/MeasureReport.write", "Location/HealthPost2"))
		if r := c.do("PUT", "/MeasureReport/b-1", report(t, "b-1", "HealthPost2", 3), "Authorization", "Bearer "+hpB); r.status != http.StatusCreated {
			t.Fatalf("B's report: %d %s", r.status, r)
		}
		for _, method := range []string{"PUT", "DELETE"} {
			var body []byte
			if method == "PUT" {
				body = report(t, "b-1", "HealthPost1", 3)
			}
			r := c.do(method, "/MeasureReport/b-1", body, "Authorization", "Bearer "+hpA, "If-Match", `W/"9"`)
			if r.status != http.StatusForbidden || strings.Contains(r.String(), "version") && strings.Contains(r.String(), "If-Match") {
				t.Errorf("%s with a stale If-Match: %d, want 403 saying nothing of versions: %s", method, r.status, r)
			}
		}
	})
}

// TestSearchWithThousandsOfRights: a token whose madx_subjects name 3,000
// facilities searches, pages and counts (issue 14 defect 1: each covered
// Location was one more OR term, and SQLite refused the query past about a
// thousand with a 503).
func TestSearchWithThousandsOfRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		loadDefinitionsAs(c, k.admin())
		subjects := []string{"Location/HealthPost1", "Location/HealthPost2"}
		for i := range 3000 {
			subjects = append(subjects, fmt.Sprintf("Location/nowhere-%d", i))
		}
		wide := k.token(k.claims("district", "system/MeasureReport.read system/MeasureReport.write", subjects...))
		for i, s := range []string{"HealthPost1", "HealthPost2", "HealthPost3"} {
			if r := c.do("PUT", fmt.Sprintf("/MeasureReport/w-%d", i), report(t, fmt.Sprintf("w-%d", i), s, 2), "Authorization", "Bearer "+k.admin()); r.status != http.StatusCreated {
				t.Fatalf("report %d: %d %s", i, r.status, r)
			}
		}
		r := c.do("GET", "/MeasureReport?_count=1&_total=accurate", nil, "Authorization", "Bearer "+wide)
		if r.status != http.StatusOK {
			t.Fatalf("search: %d %s", r.status, r)
		}
		m := r.json(t)
		if m["total"] != float64(2) || !strings.Contains(r.String(), `"relation":"next"`) {
			t.Errorf("want total 2 (HealthPost1 and 2, not 3) and a next page: %s", r)
		}
	})
}

// TestSubjectCheckOffKeepsRights: under --subject-check=off a report about
// an unregistered subject is accepted, but a facility token cannot escape
// its rights with a subject that has only a display (issue 14 defect 15).
func TestSubjectCheckOffKeepsRights(t *testing.T) {
	k := newTokenKit(t)
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			c := newClient(t, e.open(t), func(o *server.Options) {
				o.Security = k.security()
				o.Validation.SkipSubjectCheck = true
			})
			loadDefinitionsAs(c, k.admin())
			hp1 := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
			displayOnly := []byte(strings.Replace(string(report(t, "d-1", "HealthPost1", 4)), `"subject": {"reference":"Location/HealthPost1"}`, `"subject": {"display":"Somewhere"}`, 1))
			if r := c.do("PUT", "/MeasureReport/d-1", displayOnly, "Authorization", "Bearer "+hp1); r.status != http.StatusForbidden || !strings.Contains(r.String(), "MeasureReport.subject") {
				t.Errorf("facility token, display-only subject: %d, want 403 on MeasureReport.subject: %s", r.status, r)
			}
			if r := c.do("PUT", "/MeasureReport/d-2", report(t, "d-2", "HealthPost1", 5), "Authorization", "Bearer "+hp1); r.status != http.StatusCreated {
				t.Errorf("facility token, its own subject: %d, want 201: %s", r.status, r)
			}
		})
	}
}
