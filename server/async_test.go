package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/store"
)

// generatedCollection makes a collection Bundle of n valid, distinct
// reports: the three HealthPosts x consecutive months.
func generatedCollection(t *testing.T, n int) []byte {
	t.Helper()
	base := string(testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	var entries []string
	for i := range n {
		month := time.Date(1990, time.Month(1+i/3), 1, 0, 0, 0, 0, time.UTC)
		end := month.AddDate(0, 1, -1)
		r := strings.Replace(base, `"id": "mADX-MeasureReport-example-literal-subject"`, fmt.Sprintf(`"id": "gen-%d"`, i), 1)
		r = strings.Replace(r, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
			fmt.Sprintf(`"period": {"start":%q,"end":%q}`, month.Format("2006-01-02"), end.Format("2006-01-02")), 1)
		r = strings.Replace(r, `"reference":"Location/HealthPost1"`, fmt.Sprintf(`"reference":"Location/HealthPost%d"`, 1+i%3), -1)
		entries = append(entries, `{"resource": `+r+`}`)
	}
	return []byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`)
}

// poll follows a 202 status URL until it answers 303, and returns the
// result it points to.
func poll(t *testing.T, c *client, statusURL string) response {
	t.Helper()
	wait := 60 * time.Second
	if raceDetector {
		// Under -race (FerretDB included, as it runs in-process) thirty
		// reports took over 60 s on a loaded two-core machine.
		wait *= 4
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		r := c.do("GET", statusURL, nil)
		switch r.status {
		case http.StatusAccepted:
			time.Sleep(20 * time.Millisecond)
			continue
		case http.StatusSeeOther:
			return c.do("GET", r.header.Get("Location"), nil)
		default:
			t.Fatalf("poll %s: %d %s", statusURL, r.status, r)
		}
	}
	t.Fatalf("submission %s did not finish in time", statusURL)
	return response{}
}

func TestAsyncCollection(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		c.startAsync(t)
		n := 1000
		if testing.Short() || raceDetector || strings.Contains(t.Name(), "ferretdb") {
			// FerretDB scans the collection for every report-key lookup
			// (about 0.7 s each at a thousand documents): keep it small.
			// Under -race a thousand took over the poll's 60 s on sqlite.
			n = 20
		}
		r := c.do("POST", "/", generatedCollection(t, n), "Prefer", "respond-async")
		if r.status != http.StatusAccepted || r.header.Get("Content-Location") == "" {
			t.Fatalf("respond-async: %d %s", r.status, r)
		}
		res := poll(t, c, r.header.Get("Content-Location"))
		if res.status != http.StatusOK {
			t.Fatalf("result: %d %s", res.status, res)
		}
		m := res.json(t)
		if m["type"] != "batch-response" || len(m["entry"].([]any)) != n {
			t.Fatalf("result is not a batch-response of %d entries", n)
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if g := c.do("GET", fmt.Sprintf("/MeasureReport/gen-%d", i), nil); g.status != http.StatusOK {
				t.Errorf("report gen-%d not stored: %d", i, g.status)
			}
		}
		// An invalid submission's result is its OperationOutcome.
		bad := strings.Replace(string(generatedCollection(t, 2)), `"code":"female"`, `"code":"F"`, 1)
		r = c.do("POST", "/", []byte(bad), "Prefer", "respond-async")
		res = poll(t, c, r.header.Get("Content-Location"))
		wantOutcome(t, res, http.StatusUnprocessableEntity)
	})
}

// TestAsyncSurvivesRestart accepts a submission on a server whose workers
// never run (it stops right after the 202), then starts a new server on the
// same database: the submission completes.
func TestAsyncSurvivesRestart(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			st := e.open(t)
			first := newClient(t, keepOpen{st})
			first.loadDefinitions()
			r := first.do("POST", "/", generatedCollection(t, 30), "Prefer", "respond-async")
			if r.status != http.StatusAccepted {
				t.Fatalf("respond-async: %d %s", r.status, r)
			}
			jobURL := r.header.Get("Content-Location")
			if s := first.do("GET", jobURL, nil).status; s != http.StatusAccepted {
				t.Fatalf("before restart the job is %d, want 202 (pending)", s)
			}
			first.srv.Close()

			second := newClient(t, st)
			second.startAsync(t)
			jobPath := jobURL[strings.Index(jobURL, "/_async/"):]
			res := poll(t, second, jobPath)
			if res.status != http.StatusOK {
				t.Fatalf("after restart: %d %s", res.status, res)
			}
			if g := second.do("GET", "/MeasureReport/gen-29", nil); g.status != http.StatusOK {
				t.Errorf("report of the resumed submission not stored: %d", g.status)
			}
		})
	}
}

// keepOpen hides Close so two servers in a test can share one store.
type keepOpen struct{ store.Store }

func (keepOpen) Close() error { return nil }

// TestAsyncJobRunsOnce: a pending job seen by the workers of two servers
// sharing the store (each sweeps it into its queue on start) is claimed by
// one and runs once: its reports are at version 1, not 2.
func TestAsyncJobRunsOnce(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			st := e.open(t)
			first := newClient(t, keepOpen{st})
			first.loadDefinitions()
			r := first.do("POST", "/", generatedCollection(t, 3), "Prefer", "respond-async")
			if r.status != http.StatusAccepted {
				t.Fatalf("respond-async: %d %s", r.status, r)
			}
			jobPath := r.header.Get("Content-Location")
			jobPath = jobPath[strings.Index(jobPath, "/_async/"):]
			second, third := newClient(t, keepOpen{st}), newClient(t, keepOpen{st})
			second.startAsync(t)
			third.startAsync(t)
			if res := poll(t, second, jobPath); res.status != http.StatusOK {
				t.Fatalf("result: %d %s", res.status, res)
			}
			time.Sleep(300 * time.Millisecond) // let a second run, if any, finish
			for i := range 3 {
				if g := second.do("GET", fmt.Sprintf("/MeasureReport/gen-%d", i), nil); g.header.Get("ETag") != `W/"1"` {
					t.Errorf("gen-%d is at %s, want W/\"1\": the job ran more than once", i, g.header.Get("ETag"))
				}
			}
		})
	}
}

// TestAsyncJobBodiesGo reads the store itself: once a job is done, no
// version of it holds the request body (they stayed in the history for
// ever), and once it has expired nothing of it is left (issue 14 item 8).
func TestAsyncJobBodiesGo(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			st := e.open(t)
			var later atomic.Bool
			clock := func(o *server.Options) {
				o.Now = func() time.Time {
					if later.Load() {
						return time.Now().Add(25 * time.Hour) // past the default retention of 24 h
					}
					return time.Now()
				}
			}
			first := newClient(t, keepOpen{st}, clock)
			first.loadDefinitions()
			first.startAsync(t)
			r := first.do("POST", "/", generatedCollection(t, 2), "Prefer", "respond-async")
			if r.status != http.StatusAccepted {
				t.Fatalf("respond-async: %d %s", r.status, r)
			}
			jobURL := r.header.Get("Content-Location")
			id := jobURL[strings.LastIndex(jobURL, "/")+1:]
			if res := poll(t, first, jobURL[strings.Index(jobURL, "/_async/"):]); res.status != http.StatusOK {
				t.Fatalf("result: %d %s", res.status, res)
			}
			// The old versions go right after the done one is written,
			// which the poll may see first.
			ctx := context.Background()
			bodies := func() (held []int64) {
				versions, err := st.History(ctx, "AsyncJob", id)
				if err != nil {
					t.Fatalf("History of the job: %v", err)
				}
				for _, v := range versions {
					var job struct{ Body []byte }
					if err := json.Unmarshal(v.Body, &job); err != nil || len(job.Body) > 0 {
						held = append(held, v.VersionID)
					}
				}
				return held
			}
			for deadline := time.Now().Add(10 * time.Second); len(bodies()) > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("versions %v of the done job still hold the request body", bodies())
				}
			}
			feed, err := st.HistoryPage(ctx, store.HistoryQuery{Type: "AsyncJob", Count: 100})
			if err != nil || len(feed.Resources) != 1 {
				t.Errorf("the store's AsyncJob history holds %d versions (%v), want the done one alone", len(feed.Resources), err)
			}

			later.Store(true)
			second := newClient(t, keepOpen{st}, clock)
			second.startAsync(t) // sweeps at once: the job has expired
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, err := st.History(ctx, "AsyncJob", id)
				if errors.Is(err, store.ErrNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the expired job is still in the store: History answers %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if g := second.do("GET", jobURL[strings.Index(jobURL, "/_async/"):], nil); g.status != http.StatusNotFound {
				t.Errorf("poll of the expired job: %d, want 404", g.status)
			}
			st.Close()
		})
	}
}
