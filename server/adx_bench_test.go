package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madx-project/madx/internal/cputime"
	"github.com/madx-project/madx/server"
)

// adxBenchMessage is an ADX message of groups groups of 27 values each
// (VCCT_0..2: a total and 8 strata by GENDER x HIV_AGE), each group a
// distinct month of OU_559 from message i on.
func adxBenchMessage(i, groups int) []byte {
	var b strings.Builder
	b.WriteString(adxHead)
	for j := range groups {
		month := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i*groups+j, 0)
		fmt.Fprintf(&b, `<group orgUnit="OU_559" dataSet="(TB/HIV)VCCT" period="%s/P1M" completeDate="2026-01-05">`, month.Format("2006-01-02"))
		for _, de := range []string{"VCCT_0", "VCCT_1", "VCCT_2"} {
			fmt.Fprintf(&b, `<dataValue dataElement="%s" value="36"/>`, de)
			for k, g := range []string{"FMLE", "MLE"} {
				for l, a := range []string{"AGE0-14", "AGE15-24", "AGE25-49", "AGE50+"} {
					fmt.Fprintf(&b, `<dataValue dataElement="%s" GENDER="%s" HIV_AGE="%s" value="%d"/>`, de, g, a, 1+k*4+l)
				}
			}
		}
		b.WriteString(`</group>`)
	}
	b.WriteString(`</adx>`)
	return []byte(b.String())
}

// BenchmarkADXImport is POST /api/dataValueSets of messages of 100 groups
// of 27 values (issue 12: >= 100,000 data values/s on the embedded engine),
// through the whole handler: parse, map, validate, store durably, answer.
func BenchmarkADXImport(b *testing.B) {
	const groups, perGroup = 100, 27
	for _, e := range benchEngines(b) {
		for _, v := range []struct {
			clients int
			forward bool // one destination configured, its worker not run: the outbox's cost on the way in
		}{{1, false}, {4, false}, {1, true}} {
			clients, name := v.clients, fmt.Sprintf("%s/groups=%d/clients=%d", e.name, groups, v.clients)
			opts := server.Options{BaseURL: "http://bench/fhir", Logger: testLogger(b)}
			if v.forward {
				name += "/forward=1"
				opts.Forwarding = server.Forwarding{Destinations: []server.Destination{{Name: "up", Kind: server.KindADX, URL: "http://127.0.0.1:9"}}, MaxPending: 1 << 30}
			}
			b.Run(name, func(b *testing.B) {
				st := e.open(b)
				opts.Store = st
				h, err := server.New(opts)
				if err != nil {
					b.Fatal(err)
				}
				newClient(b, keepOpen{st}).loadADXDefinitions()
				msgs := make([][]byte, b.N)
				for i := range b.N {
					msgs[i] = adxBenchMessage(i, groups)
				}
				post := func(body []byte) {
					req := httptest.NewRequest("POST", "/api/dataValueSets", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/adx+xml")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"status":"SUCCESS"`)) {
						b.Fatalf("%d %s", rec.Code, rec.Body.String()[:min(rec.Body.Len(), 800)])
					}
				}
				var next atomic.Int64
				b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				cpu := cputime.Process()
				if clients == 1 {
					for i := range b.N {
						post(msgs[i])
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							post(msgs[next.Add(1)-1])
						}
					})
				}
				b.ReportMetric(float64(b.N*groups*perGroup)/b.Elapsed().Seconds(), "values/s")
				reportRates(b, b.N*groups, cpu)
			})
		}
	}
}
