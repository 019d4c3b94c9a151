package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/madx-project/madx/store"
)

// TestCreateThatCorrectsAHeldReport is defect 10 of issue 11: a POST whose
// report key is already held updates the holder, and the answer says so
// on every way in (docs/rest.md): 200, Location and Content-Location on the
// holder's new version, and an informational issue naming the correction
// when an OperationOutcome is asked for (Prefer, or response.outcome of a
// Bundle entry). A create of a new key stays a plain 201.
func TestCreateThatCorrectsAHeldReport(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
		first := c.do("POST", "/MeasureReport", report)
		if first.status != http.StatusCreated || first.header.Get("Content-Location") != "" {
			t.Fatalf("first POST: %d Content-Location %q, want 201 without one: %s", first.status, first.header.Get("Content-Location"), first)
		}
		id := first.json(t)["id"].(string)
		version := 1
		holder := func() string { return fmt.Sprintf("%s/MeasureReport/%s/_history/%d", c.base, id, version) }
		wantCorrected := func(t *testing.T, what string, r response) {
			t.Helper()
			version++
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d, want 200 (an update of the holder, not a creation): %s", what, r.status, r)
			}
			for _, h := range []string{"Location", "Content-Location"} {
				if got := r.header.Get(h); got != holder() {
					t.Errorf("%s: %s %q, want %q", what, h, got, holder())
				}
			}
			if got, want := r.header.Get("ETag"), fmt.Sprintf(`W/"%d"`, version); got != want {
				t.Errorf("%s: ETag %s, want %s", what, got, want)
			}
		}
		wantStated := func(t *testing.T, what, outcome string) {
			t.Helper()
			for _, want := range []string{`"severity":"information"`, "corrected it", fmt.Sprintf("MeasureReport/%s updated at version %d", id, version)} {
				if !strings.Contains(outcome, want) {
					t.Errorf("%s: the outcome does not say %q: %s", what, want, outcome)
				}
			}
		}

		r := c.do("POST", "/MeasureReport", report)
		wantCorrected(t, "POST", r)
		if r.json(t)["id"] != id {
			t.Errorf("POST: body id %v, want the holder %s", r.json(t)["id"], id)
		}

		r = c.do("POST", "/MeasureReport", report, "Prefer", "return=minimal")
		wantCorrected(t, "POST return=minimal", r)
		if len(r.body) != 0 {
			t.Errorf("POST return=minimal: a body: %s", r)
		}

		r = c.do("POST", "/MeasureReport", report, "Prefer", "return=OperationOutcome")
		wantCorrected(t, "POST return=OperationOutcome", r)
		wantStated(t, "POST return=OperationOutcome", string(r.body))

		for _, mode := range []string{"batch", "transaction", "collection"} {
			request := `"request":{"method":"POST","url":"MeasureReport"},`
			if mode == "collection" {
				request = ""
			}
			body := strings.Replace(string(report), `"id": "mADX-MeasureReport-example-literal-subject",`, "", 1)
			b := `{"resourceType":"Bundle","type":"` + mode + `","entry":[{` + request + `"resource":` + body + `}]}`
			r := c.do("POST", "/", []byte(b))
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", mode, r.status, r)
			}
			version++
			resp := r.json(t)["entry"].([]any)[0].(map[string]any)["response"].(map[string]any)
			if resp["status"] != "200 OK" || resp["location"] != holder() {
				t.Errorf("%s entry: status %v location %v, want 200 OK on %s", mode, resp["status"], resp["location"], holder())
			}
			if resp["outcome"] == nil {
				t.Errorf("%s entry: no response.outcome stating the correction: %s", mode, r)
			} else {
				outcome, _ := json.Marshal(resp["outcome"])
				wantStated(t, mode+" entry", string(outcome))
			}
		}

		// A new key is a plain create: 201, no Content-Location, no outcome.
		other := strings.Replace(string(report), `"start":"2025-01-01","end":"2025-01-31"`, `"start":"2025-03-01","end":"2025-03-31"`, 1)
		r = c.do("POST", "/MeasureReport", []byte(other), "Prefer", "return=OperationOutcome")
		if r.status != http.StatusCreated || r.header.Get("Content-Location") != "" || strings.Contains(string(r.body), "corrected") {
			t.Errorf("POST of a new key: %d Content-Location %q, want 201 without one: %s", r.status, r.header.Get("Content-Location"), r)
		}
	})
}

// raceStore runs before once, just before the first write that creates a
// MeasureReport: a concurrent request landing between a Bundle's plan and
// its write.
type raceStore struct {
	store.Store
	once   sync.Once
	before func()
}

func (s *raceStore) Write(ctx context.Context, changes []store.Change) ([]store.Result, error) {
	for _, ch := range changes {
		if ch.Type == "MeasureReport" && ch.CreateOnly {
			s.once.Do(s.before)
			break
		}
	}
	return s.Store.Write(ctx, changes)
}

// TestBundleLosingTheKeyRaceUpdatesTheWinner: when another request stores
// the same report (measure, subject, period) between a collection Bundle's
// plan and its write, the Bundle is planned again and corrects the winner,
// as a resend does, instead of answering 409 (issue 14 defect 16).
func TestBundleLosingTheKeyRaceUpdatesTheWinner(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			rs := &raceStore{Store: e.open(t)}
			c := newClient(t, rs)
			rs.before = func() {} // the definitions load creates no report
			c.loadDefinitions()
			rs.once = sync.Once{}
			rs.before = func() {
				if r := c.do("PUT", "/MeasureReport/winner", report(t, "winner", "HealthPost1", 5)); r.status != http.StatusCreated {
					t.Errorf("the concurrent PUT: %d %s", r.status, r)
				}
			}
			var m map[string]any
			json.Unmarshal(report(t, "x", "HealthPost1", 5), &m)
			delete(m, "id")
			entry, _ := json.Marshal(m)
			r := c.do("POST", "/", []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":`+string(entry)+`}]}`))
			if r.status != http.StatusOK {
				t.Fatalf("the Bundle that lost the race: %d, want 200 (an update of the winner): %s", r.status, r)
			}
			if g := c.do("GET", "/MeasureReport/winner", nil); g.header.Get("ETag") != `W/"2"` {
				t.Errorf("the winner is at %s, want W/\"2\" (corrected by the Bundle)", g.header.Get("ETag"))
			}
		})
	}
}
