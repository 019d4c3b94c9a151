package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillNineLosesNoForward runs the real binary forwarding to another
// madx that is down, kills it with SIGKILL while reports arrive, restarts
// it with the destination up, and checks that every acknowledged report
// reaches the destination and that the destination holds no report the
// source did not store: the forward and the report are one commit.
func TestKillNineLosesNoForward(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	defs := filepath.Join("..", "..", "testdata", "madx", "definitions")
	upBase, _ := startServe(t, "--data-dir", t.TempDir(), "--load", defs)
	up, _ := url.Parse(upBase)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: up.Host})
	var down atomic.Bool
	down.Store(true)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer ts.Close()

	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--load", defs, "--forward", "name=up,kind=fhir,url=" + ts.URL + up.Path + ",attempts=100000",
		"--forward-backoff", "20ms", "--forward-max-backoff", "200ms"}
	cmd, base := startBinary(t, bin, args...)
	acked := writeUntilKilled(t, cmd, base)
	down.Store(false)
	cmd, base = startBinary(t, bin, args...)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	deadline := time.Now().Add(2 * time.Minute)
	for id := range acked {
		for {
			status, _, _ := request(t, "GET", upBase+"/MeasureReport/"+id, nil)
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged MeasureReport/%s never reached the destination (%d)", id, status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Everything upstream was stored here (a report whose answer the kill
	// cut off may be upstream too: it was stored).
	next := upBase + "/MeasureReport?_count=500&_elements=id"
	held := 0
	for next != "" {
		_, _, b := request(t, "GET", next, nil)
		var page struct {
			Link  []struct{ Relation, URL string }
			Entry []struct{ Resource struct{ ID string } }
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("upstream search: %v\n%s", err, b)
		}
		for _, e := range page.Entry {
			held++
			if status, _, _ := request(t, "GET", base+"/MeasureReport/"+e.Resource.ID, nil); status != http.StatusOK {
				t.Errorf("MeasureReport/%s is upstream but not stored at the source (%d)", e.Resource.ID, status)
			}
		}
		next = ""
		for _, l := range page.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
	}
	for {
		_, _, b := request(t, "GET", base+"/$forward-outbox?state=pending&_summary=count", nil)
		if strings.Contains(string(b), `"valueInteger":0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d acknowledged reports, %d upstream after kill -9 and restart", len(acked), held)
}
