package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/madx-project/madx/internal/cputime"
	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/store"
)

// benchServer is a server over st with the example definitions loaded,
// driven without sockets so the figures are the server's own cost.
func benchServer(b *testing.B, st store.Store) http.Handler {
	b.Helper()
	h, err := server.New(server.Options{Store: st, BaseURL: "http://bench/fhir", Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	c := newClient(b, keepOpen{st})
	c.loadDefinitions()
	return h
}

func serve(b *testing.B, h http.Handler, method, path string, body []byte, want int) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Prefer", "return=minimal")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String()[:min(rec.Body.Len(), 500)])
	}
}

// reportBody is the literal-subject example report with a distinct id and
// month, so every write is a new report.
func reportBody(template string, i int) (string, []byte) {
	id := fmt.Sprintf("b-%d", i)
	month := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i/3, 0)
	r := strings.Replace(template, `"id": "mADX-MeasureReport-example-literal-subject"`, fmt.Sprintf(`"id": %q`, id), 1)
	r = strings.Replace(r, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
		fmt.Sprintf(`"period": {"start":%q,"end":%q}`, month.Format("2006-01-02"), month.AddDate(0, 1, -1).Format("2006-01-02")), 1)
	r = strings.Replace(r, `"reference":"Location/HealthPost1"`, fmt.Sprintf(`"reference":"Location/HealthPost%d"`, 1+i%3), -1)
	return id, []byte(r)
}

func benchEngines(b *testing.B) []engine {
	if os.Getenv("MADX_BENCH_SQLITE_ONLY") != "" {
		return engines()[:1]
	}
	return engines()
}

// BenchmarkPutReport is one PUT of the example MeasureReport (27 strata)
// through the whole handler: decode, validate, store durably, answer.
func BenchmarkPutReport(b *testing.B) {
	template := string(testdata(b, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	for _, e := range benchEngines(b) {
		b.Run(e.name, func(b *testing.B) {
			h := benchServer(b, e.open(b))
			bodies := make([][]byte, b.N)
			ids := make([]string, b.N)
			for i := range b.N {
				ids[i], bodies[i] = reportBody(template, i)
			}
			b.ResetTimer()
			cpu := cputime.Process()
			for i := range b.N {
				serve(b, h, "PUT", "/fhir/MeasureReport/"+ids[i], bodies[i], http.StatusCreated)
			}
			reportRates(b, b.N, cpu)
		})
	}
}

// BenchmarkPutReportConcurrent is the same PUT from 8 clients at once,
// as many facilities send before a reporting deadline.
func BenchmarkPutReportConcurrent(b *testing.B) {
	template := string(testdata(b, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	for _, e := range benchEngines(b) {
		b.Run(e.name+"/clients=8", func(b *testing.B) {
			h := benchServer(b, e.open(b))
			bodies := make([][]byte, b.N)
			ids := make([]string, b.N)
			for i := range b.N {
				ids[i], bodies[i] = reportBody(template, i)
			}
			var next atomic.Int64
			b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 clients
			b.ResetTimer()
			cpu := cputime.Process()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					serve(b, h, "PUT", "/fhir/MeasureReport/"+ids[i], bodies[i], http.StatusCreated)
				}
			})
			reportRates(b, b.N, cpu)
		})
	}
}

// BenchmarkCollection is the mADX bulk path: a collection Bundle of 100
// reports, validated all first, stored in one transaction; one Bundle at a
// time, then from 4 clients at once (as several facilities or a DHIS2 push
// send them), where decoding one Bundle overlaps the writer's commit of
// another.
func BenchmarkCollection(b *testing.B) {
	const per = 100
	template := string(testdata(b, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	for _, e := range benchEngines(b) {
		for _, clients := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/reports=%d/clients=%d", e.name, per, clients), func(b *testing.B) {
				h := benchServer(b, e.open(b))
				bundles := make([][]byte, b.N)
				for i := range b.N {
					var entries []string
					for j := range per {
						_, r := reportBody(template, i*per+j)
						entries = append(entries, `{"resource":`+string(r)+`}`)
					}
					bundles[i] = []byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`)
				}
				var next atomic.Int64
				b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				cpu := cputime.Process()
				if clients == 1 {
					for i := range b.N {
						serve(b, h, "POST", "/fhir/", bundles[i], http.StatusOK)
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							serve(b, h, "POST", "/fhir/", bundles[next.Add(1)-1], http.StatusOK)
						}
					})
				}
				reportRates(b, b.N*per, cpu)
			})
		}
	}
}

// BenchmarkParseJSONFormat is google/fhir/go's validating unmarshaller alone
// on the example report: the cost madx's own decoder avoids.
func BenchmarkParseJSONFormat(b *testing.B) {
	body := testdata(b, "madx/reports/MeasureReport-mADX-MeasureReport-example.json")
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := u.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

// reportRates reports wall-clock reports/s and the CPU time per report,
// which stays meaningful when other processes load the machine: on an
// idle machine with C cores, C seconds / cpu-per-report is the ceiling.
func reportRates(b *testing.B, reports int, cpuStart time.Duration) {
	b.ReportMetric(float64(reports)/b.Elapsed().Seconds(), "reports/s")
	b.ReportMetric(float64((cputime.Process()-cpuStart).Microseconds())/float64(reports), "cpu-µs/report")
}
