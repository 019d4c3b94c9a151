package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// definitionFixtures names one fixture per served type.
var definitionFixtures = []struct{ typ, id, file string }{
	{"Measure", "madx-hiv-indicator-example", "madx/definitions/Measure-madx-hiv-indicator-example.json"},
	{"ValueSet", "administrative-gender", "madx/definitions/ValueSet-administrative-gender.json"},
	{"CodeSystem", "administrative-gender", "madx/definitions/CodeSystem-administrative-gender.json"},
	{"Location", "HealthPost1", "madx/definitions/Location-HealthPost1.json"},
	{"Organization", "HealthPost1", "madx/definitions/Organization-HealthPost1.json"},
}

func TestCRUDEveryType(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
		fixtures := append(definitionFixtures, struct{ typ, id, file string }{"MeasureReport", "mr-1", ""})
		for _, f := range fixtures {
			t.Run(f.typ, func(t *testing.T) {
				var body []byte
				if f.file != "" {
					body = testdata(t, f.file)
				} else {
					body = []byte(strings.Replace(string(report), `"id": "mADX-MeasureReport-example-literal-subject"`, `"id": "mr-1"`, 1))
				}
				id := "copy-" + f.id
				body1 := []byte(strings.Replace(string(body), fmt.Sprintf(`"id": %q`, f.id), fmt.Sprintf(`"id": %q`, id), 1))
				if f.typ == "MeasureReport" {
					body1 = []byte(strings.Replace(string(body), `"id": "mr-1"`, `"id": "copy-mr-1"`, 1))
				}
				path := "/" + f.typ + "/" + id

				r := c.do("PUT", path, body1)
				if r.status != http.StatusCreated {
					t.Fatalf("create-on-update: %d %s", r.status, r)
				}
				if got := r.header.Get("ETag"); got != `W/"1"` {
					t.Errorf("ETag %q, want W/\"1\"", got)
				}
				if got, want := r.header.Get("Location"), c.base+path+"/_history/1"; got != want {
					t.Errorf("Location %q, want %q", got, want)
				}
				if r.header.Get("Last-Modified") == "" {
					t.Error("no Last-Modified")
				}
				m := r.json(t)
				meta, _ := m["meta"].(map[string]any)
				if meta["versionId"] != "1" || meta["lastUpdated"] == nil {
					t.Errorf("meta = %v, want versionId 1 and lastUpdated", meta)
				}

				// A real change makes version 2 (200); the same content again
				// does not make version 3 for definitions.
				changed := []byte(strings.Replace(string(body1), `{`, `{"language": "en",`, 1))
				r = c.do("PUT", path, changed)
				if r.status != http.StatusOK || r.header.Get("ETag") != `W/"2"` {
					t.Fatalf("update: %d ETag %s %s", r.status, r.header.Get("ETag"), r)
				}

				r = c.do("GET", path, nil)
				if r.status != http.StatusOK || r.json(t)["language"] != "en" || r.header.Get("ETag") != `W/"2"` {
					t.Fatalf("read: %d %s", r.status, r)
				}
				r = c.do("GET", path+"/_history/1", nil)
				if r.status != http.StatusOK || r.json(t)["language"] != nil {
					t.Fatalf("vread 1: %d %s", r.status, r)
				}
				wantOutcome(t, c.do("GET", path+"/_history/9", nil), http.StatusNotFound)

				r = c.do("DELETE", path, nil)
				if r.status != http.StatusNoContent {
					t.Fatalf("delete: %d %s", r.status, r)
				}
				wantOutcome(t, c.do("GET", path, nil), http.StatusGone)
				if r := c.do("DELETE", path, nil); r.status != http.StatusNoContent {
					t.Errorf("second delete: %d, want 204", r.status)
				}

				h := c.do("GET", path+"/_history", nil).json(t)
				if h["type"] != "history" {
					t.Fatalf("history type %v", h["type"])
				}
				var got []string
				for _, e := range h["entry"].([]any) {
					e := e.(map[string]any)
					req := e["request"].(map[string]any)
					resp := e["response"].(map[string]any)
					got = append(got, req["method"].(string)+" "+resp["etag"].(string))
				}
				want := []string{`DELETE W/"3"`, `PUT W/"2"`, `POST W/"1"`}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("history newest first (-want +got):\n%s", diff)
				}

				// POST creates with a server-assigned id.
				r = c.do("POST", "/"+f.typ, body1)
				if r.status != http.StatusCreated {
					t.Fatalf("create: %d %s", r.status, r)
				}
				newID, _ := r.json(t)["id"].(string)
				if newID == "" || newID == id {
					t.Errorf("create kept the client id or assigned none: %q", newID)
				}
				if loc := r.header.Get("Location"); loc != c.base+"/"+f.typ+"/"+newID+"/_history/1" {
					t.Errorf("create Location %q", loc)
				}
			})
		}
	})
}

func TestIfMatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		body := testdata(t, "madx/definitions/Location-HealthPost2.json")
		c.do("PUT", "/Location/HealthPost2", body)
		changed := []byte(strings.Replace(string(body), `{`, `{"language":"fr",`, 1))
		wantOutcome(t, c.do("PUT", "/Location/HealthPost2", changed, "If-Match", `W/"7"`), http.StatusPreconditionFailed)
		if r := c.do("PUT", "/Location/HealthPost2", changed, "If-Match", `W/"1"`); r.status != http.StatusOK {
			t.Fatalf("If-Match current: %d %s", r.status, r)
		}
		wantOutcome(t, c.do("DELETE", "/Location/HealthPost2", nil, "If-Match", `W/"1"`), http.StatusPreconditionFailed)
		wantOutcome(t, c.do("PUT", "/Location/HealthPost2", changed, "If-Match", `banana`), http.StatusBadRequest)
		if r := c.do("DELETE", "/Location/HealthPost2", nil, "If-Match", `W/"2"`); r.status != http.StatusNoContent {
			t.Fatalf("delete If-Match current: %d %s", r.status, r)
		}
	})
}

func TestPrefer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		body := testdata(t, "madx/definitions/Location-HealthPost3.json")
		r := c.do("PUT", "/Location/HealthPost3", body, "Prefer", "return=minimal")
		if r.status != http.StatusCreated || len(r.body) != 0 || r.header.Get("ETag") != `W/"1"` {
			t.Fatalf("return=minimal: %d %q %s", r.status, r.body, r.header.Get("ETag"))
		}
		r = c.do("PUT", "/Location/HealthPost3", body, "Prefer", "return=OperationOutcome")
		m := r.json(t)
		if r.status != http.StatusOK || m["resourceType"] != "OperationOutcome" || !strings.Contains(string(r.body), "unchanged at version 1") {
			t.Fatalf("return=OperationOutcome: %d %s", r.status, r)
		}
		r = c.do("PUT", "/Location/HealthPost3", body, "Prefer", "return=representation")
		if r.json(t)["resourceType"] != "Location" {
			t.Fatalf("return=representation: %s", r)
		}
	})
}

func TestConcurrentPutsLoseNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		base := string(testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
		base = strings.Replace(base, `"id": "mADX-MeasureReport-example-literal-subject"`, `"id": "hot"`, 1)
		const n = 16
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := strings.Replace(base, `"count": 426`, fmt.Sprintf(`"count": %d`, 1000+i), 1)
				statuses[i] = c.do("PUT", "/MeasureReport/hot", []byte(body)).status
			}()
		}
		wg.Wait()
		created := 0
		for i, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusOK:
			default:
				t.Errorf("PUT %d: status %d", i, s)
			}
		}
		if created != 1 {
			t.Errorf("%d PUTs answered 201, want exactly 1", created)
		}
		r := c.do("GET", "/MeasureReport/hot", nil)
		if r.header.Get("ETag") != fmt.Sprintf(`W/"%d"`, n) {
			t.Errorf("final ETag %s, want W/\"%d\"", r.header.Get("ETag"), n)
		}
		h := c.do("GET", "/MeasureReport/hot/_history", nil).json(t)
		if got := len(h["entry"].([]any)); got != n {
			t.Errorf("history has %d versions, want %d", got, n)
		}
	})
}
