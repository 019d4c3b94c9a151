package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSearchPagingUnderInserts walks every page of a large result while
// another goroutine inserts reports whose ids sort among the existing ones:
// keyset paging shows no report twice and skips none that existed at the
// start. 1,000 reports on SQLite; 40 on FerretDB, which scans.
func TestSearchPagingUnderInserts(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			n, count := 1000, 100
			if e.name != "sqlite" {
				n, count = 40, 7
			}
			c := newClient(t, e.open(t))
			c.loadDefinitions()
			if r := c.do("POST", "/", generatedCollection(t, n)); r.status != http.StatusOK {
				t.Fatalf("load %d reports: %d %s", n, r.status, r)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			inserted := 0
			go func() {
				defer wg.Done()
				base := string(testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					// "gen-<k>x" sorts right after gen-<k>: inserts land
					// before and after the cursor.
					id := fmt.Sprintf("gen-%dx", (i*37)%n)
					month := time.Date(2200, time.Month(1+i), 1, 0, 0, 0, 0, time.UTC)
					r := strings.Replace(base, `"id": "mADX-MeasureReport-example-literal-subject"`, fmt.Sprintf(`"id": %q`, id), 1)
					r = strings.Replace(r, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
						fmt.Sprintf(`"period": {"start":%q,"end":%q}`, month.Format("2006-01-02"), month.AddDate(0, 1, -1).Format("2006-01-02")), 1)
					if resp := c.do("PUT", "/MeasureReport/"+id, []byte(r)); resp.status >= 300 {
						t.Errorf("insert %s: %d %s", id, resp.status, resp)
						return
					}
					inserted++
				}
			}()
			seen := map[string]int{}
			next := fmt.Sprintf("/MeasureReport?measure=http://ohie.org/Measure/madx-hiv-indicator-example&_count=%d&_total=none", count)
			pages := 0
			for next != "" {
				ids, b := searchIDsInOrder(t, c, next)
				for _, id := range ids {
					seen[id]++
				}
				next = links(b)["next"]
				pages++
			}
			close(stop)
			wg.Wait()
			for id, k := range seen {
				if k > 1 {
					t.Errorf("%s seen %d times", id, k)
				}
			}
			for i := range n {
				if id := fmt.Sprintf("gen-%d", i); seen[id] != 1 {
					t.Errorf("%s existed at the start but was seen %d times", id, seen[id])
				}
			}
			if inserted == 0 {
				t.Errorf("no insert ran during the %d pages", pages)
			}
			t.Logf("%d pages, %d reports seen, %d inserted meanwhile", pages, len(seen), inserted)
		})
	}
}

func TestHistoryFeeds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		searchFixtures(t, c)
		before := time.Now().UTC()
		time.Sleep(5 * time.Millisecond)
		if r := c.do("PUT", "/MeasureReport/jan25", reportJSON(t, "jan25", lit("HealthPost1"), map[string]string{"start": "2025-01-01", "end": "2025-01-31"}, map[string]any{"status": "complete"})); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r)
		}
		if r := c.do("DELETE", "/MeasureReport/feb25", nil); r.status >= 300 {
			t.Fatalf("delete: %d %s", r.status, r)
		}
		walk := func(path string) []string {
			t.Helper()
			var got []string
			for path != "" {
				r := c.do("GET", path, nil)
				if r.status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, r.status, r)
				}
				b := r.json(t)
				if b["type"] != "history" {
					t.Fatalf("not a history Bundle: %s", r)
				}
				entries, _ := b["entry"].([]any)
				for _, e := range entries {
					e := e.(map[string]any)
					req := e["request"].(map[string]any)
					got = append(got, req["method"].(string)+" "+strings.TrimPrefix(e["fullUrl"].(string), c.base+"/"))
				}
				path = links(b)["next"]
			}
			return got
		}
		since := escapeQuery("/MeasureReport/_history?_count=1&_since=" + before.Format(time.RFC3339Nano))
		want := []string{"DELETE MeasureReport/feb25", "PUT MeasureReport/jan25"}
		if got := walk(since); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("type history _since, newest first: %v, want %v", got, want)
		}
		all := walk("/_history?_count=4")
		types := map[string]int{}
		for _, e := range all {
			types[strings.SplitN(strings.Fields(e)[1], "/", 2)[0]]++
		}
		if types["MeasureReport"] != 7 {
			t.Errorf("system history holds %d MeasureReport versions, want 5 created, 1 updated, 1 deleted: %v", types["MeasureReport"], all)
		}
		if types["Location"] == 0 || types["Measure"] == 0 {
			t.Errorf("system history lacks types: %v", types)
		}
		at := walk(escapeQuery("/MeasureReport/_history?_at=" + before.Format(time.RFC3339Nano)))
		for _, e := range at {
			if strings.HasPrefix(e, "DELETE") {
				t.Errorf("_at before the deletion shows it: %v", at)
			}
		}
		if len(at) != 5 {
			t.Errorf("_at %s: %d versions, want the 5 reports as they were: %v", before, len(at), at)
		}
		wantOutcome(t, c.do("GET", "/_history?_since=yesterday", nil), http.StatusBadRequest)
	})
}
