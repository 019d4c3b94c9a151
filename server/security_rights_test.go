package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestOrganizationRights: a token for an Organization may report for the
// Locations it manages, through Organization.partOf and Location.partOf
// chains, and for no other.
func TestOrganizationRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		loadDefinitionsAs(c, admin)
		for _, d := range []struct{ path, body string }{
			{"/Organization/District", `{"resourceType":"Organization","id":"District","name":"District","identifier":[{"system":"urn:example:org","value":"D-1"}]}`},
			{"/Organization/Clinic", `{"resourceType":"Organization","id":"Clinic","name":"Clinic","partOf":{"reference":"Organization/District"}}`},
			{"/Location/Ward1", `{"resourceType":"Location","id":"Ward1","name":"Ward 1","managingOrganization":{"reference":"Organization/Clinic"}}`},
			{"/Location/Ward1a", `{"resourceType":"Location","id":"Ward1a","name":"Ward 1a","partOf":{"reference":"Location/Ward1"}}`},
		} {
			if r := c.do("PUT", d.path, []byte(d.body), "Authorization", "Bearer "+admin); r.status >= 300 {
				t.Fatalf("PUT %s: %d %s", d.path, r.status, r)
			}
		}
		for _, tc := range []struct {
			name, right, subject string
			status               int
		}{
			{"organization through partOf chains", "Organization/District", "Ward1a", http.StatusCreated},
			{"organization by identifier", "urn:example:org|D-1", "Ward1", http.StatusCreated},
			{"parent location", "Location/Ward1", "Ward1a", http.StatusOK},
			{"outside the organization", "Organization/District", "HealthPost2", http.StatusForbidden},
			{"child location does not cover its parent", "Location/Ward1a", "Ward1", http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := k.token(k.claims("district-office", "system/MeasureReport.write", tc.right))
				r := c.do("PUT", "/MeasureReport/org-"+tc.subject, report(t, "org-"+tc.subject, tc.subject, 4), "Authorization", "Bearer "+tok)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r)
				}
				if tc.status == http.StatusForbidden && !strings.Contains(r.String(), "Location/"+tc.subject) {
					t.Errorf("the 403 does not name the subject: %s", r)
				}
			})
		}
	})
}

// TestAsyncRunsWithSubmitterRights: an asynchronous submission is checked
// with the rights of the token that submitted it (the token itself is not
// kept), its result is visible to that submitter only, and it is audited
// once, when it runs.
func TestAsyncRunsWithSubmitterRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		loadDefinitionsAs(c, admin)
		c.startAsync(t)
		hp1 := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
		hp2 := k.token(k.claims("healthpost-2", "system/MeasureReport.write", "Location/HealthPost2"))
		submit := func(body []byte) string {
			r := c.do("POST", "/", body, "Prefer", "respond-async", "Authorization", "Bearer "+hp1)
			if r.status != http.StatusAccepted {
				t.Fatalf("respond-async: %d %s", r.status, r)
			}
			return r.header.Get("Content-Location")
		}
		ok := submit(collectionOf(report(t, "a-1", "HealthPost1", 5)))
		bad := submit(collectionOf(report(t, "a-2", "HealthPost2", 5)))
		for url, want := range map[string]int{ok: http.StatusOK, bad: http.StatusForbidden} {
			res := pollAs(t, c, url, hp1)
			if res.status != want {
				t.Errorf("%s: %d, want %d: %s", url, res.status, want, res)
			}
			if r := c.do("GET", url+"/result", nil, "Authorization", "Bearer "+hp2); r.status != http.StatusNotFound {
				t.Errorf("another client read the result: %d", r.status)
			}
		}
		r := c.do("GET", "/AuditEvent?subtype=transaction&agent=healthpost-1", nil, "Authorization", "Bearer "+admin)
		body := string(r.body)
		if n := strings.Count(body, `"resourceType":"AuditEvent"`); n != 2 || !strings.Contains(body, "asynchronous job") {
			t.Errorf("want 2 AuditEvents of asynchronous jobs, got %d: %s", n, body)
		}
	})
}

// pollAs is poll with a bearer token.
func pollAs(t *testing.T, c *client, statusURL, token string) response {
	t.Helper()
	for range 3000 {
		r := c.do("GET", statusURL, nil, "Authorization", "Bearer "+token)
		switch r.status {
		case http.StatusAccepted:
			continue
		case http.StatusSeeOther:
			return c.do("GET", r.header.Get("Location"), nil, "Authorization", "Bearer "+token)
		default:
			t.Fatalf("poll %s: %d %s", statusURL, r.status, r)
		}
	}
	t.Fatalf("submission %s did not finish", statusURL)
	return response{}
}

// TestSearchLimitedToRights: a facility searching MeasureReports or reading
// the change feeds finds its own reports only; a token with the
// jurisdiction-wide read scope sees everything.
func TestSearchLimitedToRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		loadDefinitionsAs(c, admin)
		for _, f := range []string{"HealthPost1", "HealthPost2"} {
			tok := k.token(k.claims(f, "system/MeasureReport.write", "Location/"+f))
			if r := c.do("PUT", "/MeasureReport/s-"+f, report(t, "s-"+f, f, 4), "Authorization", "Bearer "+tok); r.status != http.StatusCreated {
				t.Fatalf("PUT for %s: %d %s", f, r.status, r)
			}
		}
		ids := func(r response) []string {
			t.Helper()
			var out []string
			entries, _ := r.json(t)["entry"].([]any)
			for _, e := range entries {
				res, _ := e.(map[string]any)["resource"].(map[string]any)
				if res["resourceType"] == "MeasureReport" {
					out = append(out, res["id"].(string))
				}
			}
			return out
		}
		hp1 := k.token(k.claims("healthpost-1", "system/MeasureReport.read", "Location/HealthPost1"))
		r := c.do("GET", "/MeasureReport", nil, "Authorization", "Bearer "+hp1)
		if got := ids(r); r.status != http.StatusOK || len(got) != 1 || got[0] != "s-HealthPost1" {
			t.Errorf("HealthPost1's search: %d %v, want only s-HealthPost1", r.status, got)
		}
		r = c.do("GET", "/MeasureReport?subject=Location/HealthPost2", nil, "Authorization", "Bearer "+hp1)
		if got := ids(r); r.status != http.StatusOK || len(got) != 0 {
			t.Errorf("HealthPost1 searching HealthPost2's reports: %d %v, want none", r.status, got)
		}
		for _, feed := range []string{"/MeasureReport/_history", "/_history"} {
			// The feeds are limited like search (issue 11), not refused.
			r := c.do("GET", feed, nil, "Authorization", "Bearer "+hp1)
			if got := ids(r); r.status != http.StatusOK || len(got) != 1 || got[0] != "s-HealthPost1" {
				t.Errorf("facility reading %s: %d %v, want only s-HealthPost1", feed, r.status, got)
			}
		}
		all := k.token(k.claims("district", "system/MeasureReport.read madx/jurisdiction.read"))
		r = c.do("GET", "/MeasureReport", nil, "Authorization", "Bearer "+all)
		if got := ids(r); r.status != http.StatusOK || len(got) != 2 {
			t.Errorf("jurisdiction-wide search: %d %v, want both reports", r.status, got)
		}
		if r := c.do("GET", "/MeasureReport/_history", nil, "Authorization", "Bearer "+all); r.status != http.StatusOK {
			t.Errorf("jurisdiction-wide feed: %d %s", r.status, r)
		}
	})
}

// TestAsyncBundleNeedsTheScopesFirst: a token without the scopes of a
// Bundle's entries cannot queue it: 403 naming the entry before any 202,
// as the synchronous Bundle answers (issue 14 defect 8).
func TestAsyncBundleNeedsTheScopesFirst(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		loadDefinitionsAs(c, k.admin())
		c.startAsync(t)
		reader := k.token(k.claims("reader", "system/MeasureReport.read", "Location/HealthPost1"))
		body := collectionOf(report(t, "q-1", "HealthPost1", 6))
		for _, prefer := range []string{"", "respond-async"} {
			r := c.do("POST", "/", body, "Authorization", "Bearer "+reader, "Prefer", prefer)
			if r.status != http.StatusForbidden || !strings.Contains(r.String(), "Bundle.entry[0]") {
				t.Errorf("Prefer %q: %d, want 403 naming Bundle.entry[0]: %s", prefer, r.status, r)
			}
		}
		writer := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
		if r := c.do("POST", "/", body, "Authorization", "Bearer "+writer, "Prefer", "respond-async"); r.status != http.StatusAccepted {
			t.Errorf("a token with the scope: %d, want 202: %s", r.status, r)
		}
	})
}
