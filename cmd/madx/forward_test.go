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

// upstream is a madx destination (run in-process) behind a switch that
// answers 503 while it is down.
type upstream struct {
	base string // the madx's own FHIR base
	via  string // the switch's URL for the same base
	down atomic.Bool
}

func newUpstream(t *testing.T, defs string) *upstream {
	u := &upstream{}
	u.base, _ = startServe(t, "--data-dir", t.TempDir(), "--load", defs)
	target, _ := url.Parse(u.base)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target.Host})
	u.down.Store(true)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u.down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	u.via = ts.URL + target.Path
	return u
}

// total is the number of reports stored at base.
func total(t *testing.T, base string) int {
	t.Helper()
	_, _, b := request(t, "GET", base+"/MeasureReport?_summary=count", nil)
	var m struct{ Total *int }
	if err := json.Unmarshal(b, &m); err != nil || m.Total == nil {
		t.Fatalf("count at %s: %v %s", base, err, b)
	}
	return *m.Total
}

// TestKillNineLosesNoForward runs the real binary forwarding to two other
// madx servers (one by FHIR, one by ADX) that are down, kills it with
// SIGKILL while thousands of reports arrive, restarts it with the
// destinations up, and checks that every report it stored arrives at both
// exactly once, that none arrives that it did not store (the forward and
// the report are one commit), and that the destinations' answers are
// recorded with each forward.
func TestKillNineLosesNoForward(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	defs := filepath.Join("..", "..", "testdata", "madx", "definitions")
	fhir, adx := newUpstream(t, defs), newUpstream(t, defs)
	args := []string{"--data-dir", t.TempDir(), "--load", defs,
		"--forward", "name=fhir,kind=fhir,url=" + fhir.via + ",attempts=100000",
		"--forward", "name=adx,kind=adx,url=" + strings.TrimSuffix(adx.via, "/fhir") + ",attempts=100000",
		"--forward-backoff", "20ms", "--forward-max-backoff", "200ms"}
	cmd, base := startBinary(t, bin, args...)
	acked := writeUntilKilled(t, cmd, base, 50, 3*time.Second)
	fhir.down.Store(false)
	adx.down.Store(false)
	cmd, base = startBinary(t, bin, args...)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, _, b := request(t, "GET", base+"/$forward-outbox?state=pending&_summary=count", nil)
		if strings.Contains(string(b), `"valueInteger":0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, b := request(t, "GET", base+"/$forward-outbox?state=dead&_summary=count", nil); !strings.Contains(string(b), `"valueInteger":0`) {
		t.Errorf("dead forwards: %s", b)
	}
	stored := total(t, base)
	if stored < len(acked) {
		t.Fatalf("%d reports stored after the restart, fewer than the %d acknowledged", stored, len(acked))
	}
	// Each destination keeps one report per facility and month (its
	// natural key): as many as the source, none twice, none extra.
	if n := total(t, fhir.base); n != stored {
		t.Errorf("%d reports at the FHIR destination, %d at the source", n, stored)
	}
	if n := total(t, adx.base); n != stored {
		t.Errorf("%d reports at the ADX destination, %d at the source", n, stored)
	}
	checked := 0
	for id := range acked {
		if status, _, _ := request(t, "GET", fhir.base+"/MeasureReport/"+id, nil); status != http.StatusOK {
			t.Errorf("acknowledged MeasureReport/%s is not at the FHIR destination (%d)", id, status)
		}
		if checked < 20 { // the destinations' answers, recorded at the source
			_, _, b := request(t, "GET", base+"/MeasureReport/"+id+"/$forward-status", nil)
			for _, want := range []string{`"valueString":"fhir"`, `"valueString":"adx"`, `"name":"status","valueInteger":201`, `\"importCount\":{\"imported\":`} {
				if !strings.Contains(string(b), want) {
					t.Errorf("$forward-status of %s lacks %s: %s", id, want, b)
				}
			}
		}
		checked++
	}
	t.Logf("%d reports acknowledged, %d stored, forwarded to both destinations after kill -9 and restart", len(acked), stored)
}
