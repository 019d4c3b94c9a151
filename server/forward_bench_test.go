package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/internal/cputime"
	"github.com/madx-project/madx/server"
)

// fhirDouble is a test double for an upstream FHIR server: it reads each
// batch Bundle and answers 201 to every entry, so that a benchmark
// measures what forwarding costs madx alone.
func fhirDouble(b *testing.B) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var bundle struct{ Entry []json.RawMessage }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &bundle); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		entries := make([]string, len(bundle.Entry))
		for i := range entries {
			entries[i] = `{"response":{"status":"201 Created"}}`
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprintf(w, `{"resourceType":"Bundle","type":"batch-response","entry":[%s]}`, strings.Join(entries, ","))
	}))
	b.Cleanup(ts.Close)
	return ts.URL
}

// BenchmarkForwardDrain is the outbox draining: b.N ADX messages of 100
// reports (27 values each) are accepted with the workers stopped, then the
// timer runs while the worker sends them all, in batches of 200, to a
// destination: another madx on SQLite over loopback HTTP (FHIR: a batch
// Bundle of PUTs; ADX: DHIS2's dataValueSets), or a FHIR test double that
// accepts everything. CPU is the whole process's: with a madx destination
// it includes the destination's own ingest.
func BenchmarkForwardDrain(b *testing.B) {
	const groups = 100
	for _, e := range benchEngines(b) {
		for _, dest := range []string{"fhir-double", "fhir-madx", "adx-madx"} {
			b.Run(e.name+"/"+dest, func(b *testing.B) {
				d := server.Destination{Name: "up", Kind: server.KindFHIR}
				switch dest {
				case "fhir-double":
					d.URL = fhirDouble(b)
				case "fhir-madx", "adx-madx":
					up := newClient(b, openSQLite(b))
					up.loadADXDefinitions()
					d.URL = up.base
					if dest == "adx-madx" {
						d.Kind, d.URL = server.KindADX, strings.TrimSuffix(up.base, "/fhir")
					}
				}
				st := e.open(b)
				h, err := server.New(server.Options{Store: st, BaseURL: "http://bench/fhir", Logger: testLogger(b),
					Forwarding: server.Forwarding{Destinations: []server.Destination{d}, MaxPending: 1 << 30}})
				if err != nil {
					b.Fatal(err)
				}
				newClient(b, keepOpen{st}).loadADXDefinitions()
				for i := range b.N {
					req := httptest.NewRequest("POST", "/api/dataValueSets", bytes.NewReader(adxBenchMessage(i, groups)))
					req.Header.Set("Content-Type", "application/adx+xml")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body.String()[:min(rec.Body.Len(), 800)])
					}
				}
				count := func(state string) string {
					req := httptest.NewRequest("GET", "/fhir/$forward-outbox?_summary=count&state="+state, nil)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					return rec.Body.String()
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				b.ResetTimer()
				cpu := cputime.Process()
				h.StartForwarding(ctx)
				for deadline := time.Now().Add(10 * time.Minute); !strings.Contains(count("pending"), `"valueInteger":0`); time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("the outbox did not drain: %s", count("pending"))
					}
				}
				reportRates(b, b.N*groups, cpu)
				b.StopTimer()
				if dead := count("dead"); !strings.Contains(dead, `"valueInteger":0`) {
					b.Fatalf("forwards went dead: %s", dead)
				}
			})
		}
	}
}
