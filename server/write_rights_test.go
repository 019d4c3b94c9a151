package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestFacilityCannotReplaceAnothersReport: rights are checked against the
// stored current version a write replaces or deletes, not only against the
// new body, on every way in (issue 11, defects 1 and 2). Facility A's token
// targets facility B's stored report by its id; B's report must survive.
func TestFacilityCannotReplaceAnothersReport(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := k.admin()
		loadDefinitionsAs(c, admin)
		hpB := k.token(k.claims("healthpost-2", "system/MeasureReport.write system/MeasureReport.read", "Location/HealthPost2"))
		hpA := k.token(k.claims("healthpost-1", "system/*.write system/MeasureReport.read", "Location/HealthPost1"))
		if r := c.do("PUT", "/MeasureReport/b-1", report(t, "b-1", "HealthPost2", 3), "Authorization", "Bearer "+hpB); r.status != http.StatusCreated {
			t.Fatalf("B's own report: %d %s", r.status, r)
		}
		// A's body names A's own facility (so the new body alone passes),
		// but the id is B's report.
		over := string(report(t, "b-1", "HealthPost1", 7))
		entry := func(method, url, resource string) string {
			e := fmt.Sprintf(`{"request":{"method":%q,"url":%q}`, method, url)
			if resource != "" {
				e += `,"resource":` + resource
			}
			return e + "}"
		}
		bundle := func(typ, e string) []byte {
			return []byte(fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[%s]}`, typ, e))
		}
		for _, tc := range []struct {
			name, method, path string
			body               []byte
			// inBundle: the refusal is inside a 200 batch-response
			inBundle bool
		}{
			{"DELETE", "DELETE", "/MeasureReport/b-1", nil, false},
			{"PUT over B's report", "PUT", "/MeasureReport/b-1", []byte(over), false},
			{"batch DELETE entry", "POST", "/", bundle("batch", entry("DELETE", "MeasureReport/b-1", "")), true},
			{"transaction DELETE entry", "POST", "/", bundle("transaction", entry("DELETE", "MeasureReport/b-1", "")), false},
			{"batch PUT entry", "POST", "/", bundle("batch", entry("PUT", "MeasureReport/b-1", over)), true},
			{"transaction PUT entry", "POST", "/", bundle("transaction", entry("PUT", "MeasureReport/b-1", over)), false},
			{"collection entry", "POST", "/", []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + over + `}]}`), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(tc.method, tc.path, tc.body, "Authorization", "Bearer "+hpA)
				switch {
				case tc.inBundle:
					if r.status != http.StatusOK || !strings.Contains(r.String(), `"403`) {
						t.Errorf("want a 200 batch-response whose entry is 403: %d %s", r.status, r)
					}
				case r.status != http.StatusForbidden:
					t.Errorf("status %d, want 403: %s", r.status, r)
				}
				got := c.do("GET", "/MeasureReport/b-1", nil, "Authorization", "Bearer "+hpB)
				if got.status != http.StatusOK || got.header.Get("ETag") != `W/"1"` {
					t.Fatalf("B's report did not survive: %d etag %s %s", got.status, got.header.Get("ETag"), got)
				}
			})
		}
		// B itself may still update and delete its own report.
		if r := c.do("PUT", "/MeasureReport/b-1", report(t, "b-1", "HealthPost2", 3), "Authorization", "Bearer "+hpB, "Prefer", "return=minimal"); r.status != http.StatusOK {
			t.Errorf("B updating its own report: %d %s", r.status, r)
		}
	})
}

// TestCollectionRefusesUnservedTypes: a collection Bundle stores only the
// types this server serves for writing (issue 11, defect 3); Patient,
// Bundle and AuditEvent entries are refused and nothing is stored.
func TestCollectionRefusesUnservedTypes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		for _, res := range []string{
			`{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]}`,
			`{"resourceType":"Bundle","id":"b1","type":"collection"}`,
			`{"resourceType":"AuditEvent","id":"a1","type":{"code":"rest"},"recorded":"2025-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`,
		} {
			typ := strings.SplitN(strings.SplitN(res, `"resourceType":"`, 2)[1], `"`, 2)[0]
			t.Run(typ, func(t *testing.T) {
				r := c.do("POST", "/", []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":`+res+`}]}`))
				if r.status < 400 || r.status >= 500 {
					t.Fatalf("status %d, want a 4xx refusal: %s", r.status, r)
				}
				if !strings.Contains(r.String(), "Bundle.entry[0].resource") || !strings.Contains(r.String(), typ) {
					t.Errorf("the refusal does not name the entry and its type: %s", r)
				}
			})
		}
	})
}

// TestBundleEntryExpressionsNotDoubled: an entry's issue that already names
// its entry keeps that expression (issue 11, defect 8: it came out as
// Bundle.entry[0].resource.Bundle.entry[0].request.url).
func TestBundleEntryExpressionsNotDoubled(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		for _, tc := range []struct{ name, body, want string }{
			{"unsupported request.url", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"Patient/p1"},"resource":{"resourceType":"Patient","id":"p1"}}]}`, "Bundle.entry[0].request.url"},
			{"collection of an unserved type", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p1"}}]}`, "Bundle.entry[0].resource"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("POST", "/", []byte(tc.body))
				got := expressions(r.json(t))
				if len(got) != 1 || got[0] != tc.want {
					t.Errorf("expressions %q, want [%q]: %d %s", got, tc.want, r.status, r)
				}
			})
		}
	})
}

// TestIfMatchInBundles: a stale ifMatch in a transaction entry answers 412
// naming the entry, as a batch and the If-Match header do, and a version
// tag is read by one parser everywhere: W/"3abc" is refused in an entry as
// in the header (issue 11, defect 6).
func TestIfMatchInBundles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		body := string(report(t, "im-1", "HealthPost1", 2))
		if r := c.do("PUT", "/MeasureReport/im-1", []byte(body)); r.status != http.StatusCreated {
			t.Fatalf("PUT: %d %s", r.status, r)
		}
		tx := func(ifMatch string) []byte {
			return []byte(fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"MeasureReport/im-1","ifMatch":%q},"resource":%s}]}`, ifMatch, body))
		}
		r := c.do("POST", "/", tx(`W/"7"`))
		if r.status != http.StatusPreconditionFailed || !strings.Contains(r.String(), "Bundle.entry[0]") {
			t.Errorf("stale ifMatch in a transaction: %d, want 412 naming Bundle.entry[0]: %s", r.status, r)
		}
		if r := c.do("POST", "/", tx(`W/"1abc"`)); r.status != http.StatusBadRequest {
			t.Errorf(`ifMatch W/"1abc" in a transaction: %d, want 400: %s`, r.status, r)
		}
		if r := c.do("PUT", "/MeasureReport/im-1", []byte(body), "If-Match", `W/"1abc"`); r.status != http.StatusBadRequest {
			t.Errorf(`If-Match W/"1abc": %d, want 400: %s`, r.status, r)
		}
		if r := c.do("POST", "/", tx(`W/"1"`)); r.status != http.StatusOK {
			t.Errorf("current ifMatch in a transaction: %d, want 200: %s", r.status, r)
		}
	})
}

// TestUnchangedDefinitionsInBundlesMakeNoVersion: re-sending the same
// definition in a batch or a transaction keeps its version, as a single
// PUT and madx load do (issue 11, defect 5).
func TestUnchangedDefinitionsInBundlesMakeNoVersion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		loc := `{"resourceType":"Location","id":"Same1","name":"Same 1"}`
		for _, typ := range []string{"batch", "transaction", "batch"} {
			b := fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[{"request":{"method":"PUT","url":"Location/Same1"},"resource":%s}]}`, typ, loc)
			if r := c.do("POST", "/", []byte(b)); r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", typ, r.status, r)
			}
		}
		if r := c.do("GET", "/Location/Same1", nil); r.header.Get("ETag") != `W/"1"` {
			t.Errorf("after three identical sends the ETag is %s, want W/\"1\"", r.header.Get("ETag"))
		}
	})
}

// TestInsufficientScopeChallenge: the 403's WWW-Authenticate scope is a
// space-separated list of scopes (RFC 6750 §3), each of which would grant
// the request (issue 11, defect 14).
func TestInsufficientScopeChallenge(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		tok := k.token(k.claims("reader", "system/Measure.read", "Location/HealthPost1"))
		r := c.do("PUT", "/MeasureReport/s-1", report(t, "s-1", "HealthPost1", 1), "Authorization", "Bearer "+tok)
		want := `Bearer realm="madx", error="insufficient_scope", scope="system/MeasureReport.write system/MeasureReport.u"`
		if r.status != http.StatusForbidden || r.header.Get("WWW-Authenticate") != want {
			t.Errorf("%d WWW-Authenticate %q, want 403 %q", r.status, r.header.Get("WWW-Authenticate"), want)
		}
	})
}

// TestInactiveLocationReportsNoMore: a report about a Location whose status
// is inactive (a closed facility) is refused with 422 on
// MeasureReport.subject; suspended still reports (issue 11, defect 18).
func TestInactiveLocationReportsNoMore(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		for _, tc := range []struct {
			status string
			want   int
		}{{"inactive", http.StatusUnprocessableEntity}, {"suspended", http.StatusCreated}, {"active", http.StatusCreated}} {
			id := "Closed-" + tc.status
			loc := fmt.Sprintf(`{"resourceType":"Location","id":%q,"name":%q,"status":%q}`, id, id, tc.status)
			if r := c.do("PUT", "/Location/"+id, []byte(loc)); r.status != http.StatusCreated {
				t.Fatalf("PUT Location: %d %s", r.status, r)
			}
			r := c.do("PUT", "/MeasureReport/r-"+id, report(t, "r-"+id, id, 6))
			if r.status != tc.want {
				t.Errorf("%s: %d, want %d: %s", tc.status, r.status, tc.want, r)
				continue
			}
			if tc.want == http.StatusUnprocessableEntity {
				if got := expressions(r.json(t)); len(got) == 0 || got[0] != "MeasureReport.subject" || !strings.Contains(r.String(), "inactive") {
					t.Errorf("issues %q: %s", got, r)
				}
			}
		}
	})
}

// TestConditionalCreateIsRefused: If-None-Exist (header or entry) answers
// 501 and stores nothing, as docs/rest.md says, instead of being ignored
// (issue 11, defect 9).
func TestConditionalCreateIsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		loc := `{"resourceType":"Location","name":"Conditional"}`
		if r := c.do("POST", "/Location", []byte(loc), "If-None-Exist", "name=Conditional"); r.status != http.StatusNotImplemented {
			t.Errorf("If-None-Exist header: %d, want 501: %s", r.status, r)
		}
		b := `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Location","ifNoneExist":"name=Conditional"},"resource":` + loc + `}]}`
		r := c.do("POST", "/", []byte(b))
		if r.status != http.StatusNotImplemented || !strings.Contains(r.String(), "Bundle.entry[0].request.ifNoneExist") {
			t.Errorf("entry ifNoneExist: %d, want 501 on Bundle.entry[0].request.ifNoneExist: %s", r.status, r)
		}
		if r := c.do("GET", "/Location?name=Conditional&_summary=count", nil); !strings.Contains(r.String(), `"total":0`) {
			t.Errorf("something was stored: %s", r)
		}
	})
}
