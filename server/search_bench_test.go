package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/madx-project/madx/conformance/fhirjson"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
	"github.com/rs/zerolog"
)

// Search benchmark (docs/benchmarks.md, "Search"). It is a test, skipped
// unless MADX_SEARCH_BENCH=1, because generating 100,000 reports takes a
// minute and a few hundred MB:
//
//	MADX_SEARCH_BENCH=1 MADX_SEARCH_BENCH_DIR=/tmp/madx-bench go test ./server -run TestSearchBenchmark -v -timeout 30m
//
// MADX_SEARCH_BENCH_DIR keeps the generated database between runs.
const (
	benchFacilities = 1000
	benchPeriods    = 100
	benchMeasure    = "http://ohie.org/Measure/madx-hiv-indicator-example"
)

// benchReport is a compact valid mADX report (one group, one population):
// the benchmark measures search, not the size of stratified bodies.
func benchReport(facility, period int) (id string, body []byte) {
	start := time.Date(2017, time.Month(1+period), 1, 0, 0, 0, 0, time.UTC)
	id = fmt.Sprintf("f%04d-p%03d", facility, period)
	return id, fmt.Appendf(nil, `{"resourceType":"MeasureReport","id":%q,"status":"complete","type":"summary","measure":%q,`+
		`"subject":{"reference":"Location/F%04d"},"reporter":{"reference":"Organization/F%04d"},"date":%q,`+
		`"period":{"start":%q,"end":%q},"group":[{"code":{"coding":[{"system":"http://ihe.net/qrph/madx/","code":"QRPH_mADX_ART1_N"}]},`+
		`"population":[{"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/measure-population","code":"initial-population"}]},"count":%d}]}]}`,
		id, benchMeasure, facility, facility, start.AddDate(0, 1, 3).Format("2006-01-02"),
		start.Format("2006-01-02"), start.AddDate(0, 1, -1).Format("2006-01-02"), facility*7+period)
}

// generateReports writes benchFacilities × benchPeriods reports straight
// into the store, with the index the server extracts (ExtractIndex), in
// writes of 1,000.
func generateReports(tb testing.TB, st store.Store) {
	ctx := context.Background()
	var batch []store.Change
	for p := range benchPeriods {
		for f := range benchFacilities {
			id, body := benchReport(f, p)
			res, err := fhirjson.Unmarshal(body)
			if err != nil {
				tb.Fatalf("generated report %s: %v", id, err)
			}
			batch = append(batch, store.Change{Type: "MeasureReport", ID: id, Index: pipeline.ExtractIndex(pipeline.Unwrap(res)),
				Render: func(vid int64, at time.Time) ([]byte, error) {
					meta := fmt.Sprintf(`{"resourceType":"MeasureReport","id":%q,"meta":{"versionId":"%d","lastUpdated":%q},`, id, vid, at.Format(time.RFC3339Nano))
					return append([]byte(meta), body[len(`{"resourceType":"MeasureReport","id":"`)+len(id)+2:]...), nil
				}})
			if len(batch) == 1000 {
				if _, err := st.Write(ctx, batch); err != nil {
					tb.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

func TestSearchBenchmark(t *testing.T) {
	if os.Getenv("MADX_SEARCH_BENCH") == "" {
		t.Skip("set MADX_SEARCH_BENCH=1 to run the search benchmark (docs/benchmarks.md, section Search)")
	}
	ctx := context.Background()
	dir := os.Getenv("MADX_SEARCH_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	page, err := st.Search(ctx, store.Query{Type: "MeasureReport", Count: 1, Total: true})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total < benchFacilities*benchPeriods {
		began := time.Now()
		generateReports(t, st)
		t.Logf("generated %d reports in %v", benchFacilities*benchPeriods, time.Since(began).Round(time.Millisecond))
		// Reopen, as a restarted server would (Close runs PRAGMA optimize).
		st.Close()
		if st, err = sqlite.Open(ctx, sqlite.Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	defer st.Close()
	s, err := New(Options{Store: st, JSON: jsonCodec(), Logger: zerolog.Nop(), BaseURL: "http://bench/fhir"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + "/fhir" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	queries := []struct{ name, query string }{
		{"measure+period, 1,000 matches, page of 50, total", "/MeasureReport?measure=" + benchMeasure + "&period=%[1]s"},
		{"measure+period, page of 50, _total=none", "/MeasureReport?measure=" + benchMeasure + "&period=%[1]s&_total=none"},
		{"measure+subject+period range (a facility's year), 12 matches", "/MeasureReport?measure=" + benchMeasure + "&subject=Location/F%[2]s&period=ge%[1]s&period=le2030"},
	}
	const runs = 200
	for _, q := range queries {
		var d []time.Duration
		for i := range runs {
			month := time.Date(2017, time.Month(1+i%benchPeriods), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
			path := fmt.Sprintf(q.query, month, fmt.Sprintf("%04d", (i*37)%benchFacilities))
			began := time.Now()
			get(path)
			d = append(d, time.Since(began))
		}
		t.Logf("%-62s p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms (%d runs)", q.name,
			ms(percentile(d, 0.5)), ms(percentile(d, 0.95)), ms(percentile(d, 0.99)), runs)
	}
	// The HMIS sync: everything since the start, 1,000 a page.
	began := time.Now()
	n, pages := 0, 0
	next := "/_history?_count=1000&_since=2000-01-01"
	for next != "" {
		b := get(next)
		var bundle struct {
			Entry []struct{} `json:"entry"`
			Link  []struct{ Relation, URL string }
		}
		if err := jsonUnmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		n += len(bundle.Entry)
		pages++
		next = ""
		for _, l := range bundle.Link {
			if l.Relation == "next" {
				next = l.URL[len("http://bench/fhir"):]
			}
		}
	}
	el := time.Since(began)
	t.Logf("history _since: %d versions in %d pages in %v: %s versions/s", n, pages, el.Round(time.Millisecond), strconv.Itoa(int(float64(n)/el.Seconds())))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
