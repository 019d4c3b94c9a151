package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// manifest is testdata/invalid/manifest.json.
type manifest struct {
	Setup []struct {
		Method, Path, File string
		Headers            map[string]string
		ExpectedStatus     int
	}
	Cases []struct {
		ID      string
		File    string
		Request struct {
			Method, Path string
			Headers      map[string]string
		}
		ExpectedStatus        int
		AcceptableStatuses    []int
		Expression            *string
		AlsoAcceptExpressions []string
	}
}

func headerList(h map[string]string) []string {
	var out []string
	for k, v := range h {
		out = append(out, k, v)
	}
	return out
}

// TestInvalidManifest runs every negative case of the IHE-derived test data
// through HTTP: each must answer one of its acceptable statuses with an
// OperationOutcome naming the offending element.
func TestInvalidManifest(t *testing.T) {
	var m manifest
	if err := json.Unmarshal(testdata(t, "invalid/manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	forEachEngine(t, func(t *testing.T, c *client) {
		for _, s := range m.Setup {
			r := c.do(s.Method, s.Path, testdata(t, "invalid/"+s.File), headerList(s.Headers)...)
			if r.status != s.ExpectedStatus {
				t.Fatalf("setup %s %s: %d %s", s.Method, s.Path, r.status, r)
			}
		}
		for _, tc := range m.Cases {
			t.Run(tc.ID, func(t *testing.T) {
				r := c.do(tc.Request.Method, tc.Request.Path, testdata(t, "invalid/"+tc.File), headerList(tc.Request.Headers)...)
				if !slices.Contains(tc.AcceptableStatuses, r.status) {
					t.Fatalf("status %d, want one of %v: %s", r.status, tc.AcceptableStatuses, r)
				}
				oo := wantOutcome(t, r, r.status)
				if tc.Expression == nil {
					return
				}
				want := append([]string{*tc.Expression}, tc.AlsoAcceptExpressions...)
				for _, got := range expressions(oo) {
					for _, w := range want {
						if got == w || strings.HasPrefix(got, w+".") || strings.HasPrefix(got, w+"[") {
							return
						}
					}
				}
				t.Errorf("no issue at %s; expressions %v\n%s", *tc.Expression, expressions(oo), r)
			})
		}
	})
}

// TestValidReportsAccepted sends every valid report and Bundle of the IHE
// examples.
func TestValidReportsAccepted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		r := c.do("PUT", "/MeasureReport/mADX-MeasureReport-example", testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example.json"),
			"Prefer", "return=OperationOutcome")
		if r.status != http.StatusCreated {
			t.Fatalf("IHE example: %d %s", r.status, r)
		}
		// Its age x gender strata add up to 473, its count is 426: accepted
		// with a warning.
		if !strings.Contains(string(r.body), `"severity":"warning"`) {
			t.Errorf("no warning for the strata that do not add up: %s", r)
		}
		// Free its business key (January, HealthPost1): the collection
		// below carries the same month under another id.
		if r := c.do("DELETE", "/MeasureReport/mADX-MeasureReport-example", nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d", r.status)
		}
		for i, f := range []string{"Bundle-hiv-monthly-collection.json", "Bundle-hiv-2025-02-batch.json", "Bundle-hiv-2025-02-transaction.json"} {
			base := "/" // POST [base] is served with and without the slash
			if i%2 == 1 {
				base = ""
			}
			r := c.do("POST", base, testdata(t, "madx/reports/"+f))
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", f, r.status, r)
			}
			for i, e := range r.json(t)["entry"].([]any) {
				st := e.(map[string]any)["response"].(map[string]any)["status"].(string)
				if !strings.HasPrefix(st, "201") && !strings.HasPrefix(st, "200") {
					t.Errorf("%s entry %d: %s", f, i, st)
				}
			}
		}
	})
}

// fiveReports builds a Bundle of 5 distinct valid reports (months 1-5 of
// 2025 for HealthPost1), entry 2 made invalid when bad is true.
func fiveReports(t *testing.T, typ string, bad bool) []byte {
	t.Helper()
	base := string(testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	var entries []string
	for i := range 5 {
		r := strings.Replace(base, `"id": "mADX-MeasureReport-example-literal-subject"`, fmt.Sprintf(`"id": "five-%d"`, i), 1)
		r = strings.Replace(r, `"period": {"start":"2025-01-01","end":"2025-01-31"}`, fmt.Sprintf(`"period": {"start":"2025-%02d-01","end":"2025-%02d-28"}`, i+1, i+1), 1)
		if bad && i == 2 {
			r = strings.Replace(r, `"code":"female"`, `"code":"F"`, 1)
		}
		e := `{"fullUrl": "MeasureReport/five-` + fmt.Sprint(i) + `", "resource": ` + r
		if typ != "collection" {
			e += fmt.Sprintf(`, "request": {"method": "PUT", "url": "MeasureReport/five-%d"}`, i)
		}
		entries = append(entries, e+"}")
	}
	return []byte(`{"resourceType": "Bundle", "type": "` + typ + `", "entry": [` + strings.Join(entries, ",") + `]}`)
}

func TestBundleWithOneInvalidEntry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		stored := func() (n int) {
			for i := range 5 {
				if c.do("GET", fmt.Sprintf("/MeasureReport/five-%d", i), nil).status == http.StatusOK {
					n++
				}
			}
			return n
		}
		if !strings.Contains(string(fiveReports(t, "collection", true)), `"F"`) {
			t.Fatal("fixture edit did not apply")
		}
		for _, typ := range []string{"collection", "transaction"} {
			r := c.do("POST", "/", fiveReports(t, typ, true))
			m := wantOutcome(t, r, http.StatusUnprocessableEntity)
			for _, e := range expressions(m) {
				if !strings.HasPrefix(e, "Bundle.entry[2].resource") {
					t.Errorf("%s: issue outside entry 2: %s", typ, e)
				}
			}
			if len(expressions(m)) == 0 {
				t.Errorf("%s: no expressions: %s", typ, r)
			}
			if n := stored(); n != 0 {
				t.Errorf("%s: %d reports stored, want none", typ, n)
			}
		}
		r := c.do("POST", "/", fiveReports(t, "batch", true))
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d %s", r.status, r)
		}
		for i, e := range r.json(t)["entry"].([]any) {
			resp := e.(map[string]any)["response"].(map[string]any)
			if i == 2 {
				if resp["status"] != "422 Unprocessable Entity" || resp["outcome"] == nil {
					t.Errorf("batch entry 2: %v", resp)
				}
			} else if resp["status"] != "201 Created" {
				t.Errorf("batch entry %d: %v", i, resp)
			}
		}
		if n := stored(); n != 4 {
			t.Errorf("batch stored %d, want 4", n)
		}
		// The valid collection is stored whole.
		if r := c.do("POST", "/", fiveReports(t, "collection", false)); r.status != http.StatusOK {
			t.Fatalf("valid collection: %d %s", r.status, r)
		}
		if n := stored(); n != 5 {
			t.Errorf("after the valid collection %d stored, want 5", n)
		}
	})
}

func TestValueSetChangeTakesEffectAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
		if r := c.do("PUT", "/MeasureReport/r1", []byte(strings.Replace(string(report), `"id": "mADX-MeasureReport-example-literal-subject"`, `"id": "r1"`, 1))); r.status != http.StatusCreated {
			t.Fatalf("valid report: %d %s", r.status, r)
		}
		// Drop TBexcluded from the TB code system the Measure's
		// relatedArtifact names: the same report is now invalid.
		var cs map[string]any
		_ = json.Unmarshal(testdata(t, "madx/definitions/CodeSystem-TBdiagnosisResult-stratifiers-example.json"), &cs)
		var kept []any
		for _, cc := range cs["concept"].([]any) {
			if cc.(map[string]any)["code"] != "TBexcluded" {
				kept = append(kept, cc)
			}
		}
		cs["concept"] = kept
		b, _ := json.Marshal(cs)
		if r := c.do("PUT", "/CodeSystem/"+cs["id"].(string), b); r.status != http.StatusOK {
			t.Fatalf("update CodeSystem: %d %s", r.status, r)
		}
		r := c.do("PUT", "/MeasureReport/r1", []byte(strings.Replace(string(report), `"id": "mADX-MeasureReport-example-literal-subject"`, `"id": "r1"`, 1)))
		m := wantOutcome(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.body), "TBexcluded") {
			t.Errorf("422 does not name TBexcluded: %s %v", r, expressions(m))
		}
	})
}

func TestResubmittedReport(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
		r1 := c.do("POST", "/MeasureReport", report)
		if r1.status != http.StatusCreated {
			t.Fatalf("first POST: %d %s", r1.status, r1)
		}
		id := r1.json(t)["id"].(string)
		r2 := c.do("POST", "/MeasureReport", report)
		if r2.status != http.StatusOK || r2.json(t)["id"] != id || r2.header.Get("ETag") != `W/"2"` {
			t.Fatalf("resubmission: %d %s, want 200 on %s version 2: %s", r2.status, r2.header.Get("ETag"), id, r2)
		}
		// The same report under another id: 409 naming the holder.
		other := strings.Replace(string(report), `"id": "mADX-MeasureReport-example-literal-subject"`, `"id": "another"`, 1)
		r3 := c.do("PUT", "/MeasureReport/another", []byte(other))
		wantOutcome(t, r3, http.StatusConflict)
		if !strings.Contains(string(r3.body), "MeasureReport/"+id) {
			t.Errorf("409 does not name MeasureReport/%s: %s", id, r3)
		}
		// A collection that resends it updates it too.
		coll := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + string(report) + `}]}`
		coll = strings.Replace(coll, `"id": "mADX-MeasureReport-example-literal-subject",`, ``, 1)
		r4 := c.do("POST", "/", []byte(coll))
		if r4.status != http.StatusOK || !strings.Contains(string(r4.body), "MeasureReport/"+id+"/_history/3") {
			t.Fatalf("collection resend: %d %s", r4.status, r4)
		}
	})
}
