package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
)

// forwardingTo forwards to dests with retries fast enough for a test.
func forwardingTo(dests ...server.Destination) func(*server.Options) {
	return func(o *server.Options) {
		o.Forwarding = server.Forwarding{Destinations: dests, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	}
}

// startForwarding runs the server's forward workers until the test ends.
func (c *client) startForwarding(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	c.s.StartForwarding(ctx)
}

// eventually polls ok for up to 15 s.
func eventually(tb testing.TB, what string, ok func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	tb.Fatalf("timed out waiting: %s", what)
}

// reportID is the id of the one stored report of OU-559 (the DHIS2
// example's orgUnit).
func (c *client) reportID(tb testing.TB, headers ...string) string {
	tb.Helper()
	m := c.do("GET", "/MeasureReport?subject=Location/OU-559", nil, headers...).json(tb)
	entries, _ := m["entry"].([]any)
	if len(entries) != 1 {
		tb.Fatalf("%d reports of OU-559 stored, want 1", len(entries))
	}
	return entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
}

// forwardParts reads the parts of the first "forward" parameter of a
// Parameters answer, by name, as text.
func forwardParts(tb testing.TB, r response, dest string) map[string]string {
	tb.Helper()
	var p struct {
		Parameter []struct {
			Name string
			Part []map[string]any
		}
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &p) != nil {
		tb.Fatalf("not a Parameters answer: %d %s", r.status, r)
	}
	for _, pp := range p.Parameter {
		if pp.Name != "forward" {
			continue
		}
		out := map[string]string{}
		for _, part := range pp.Part {
			for k, v := range part {
				if k == "name" {
					continue
				}
				if m, ok := v.(map[string]any); ok {
					v = m["reference"]
				}
				if str, ok := v.(string); ok {
					out[part["name"].(string)] = str
					continue
				}
				b, _ := json.Marshal(v)
				out[part["name"].(string)] = string(b)
			}
		}
		if out["destination"] == dest {
			return out
		}
	}
	tb.Fatalf("no forward to %s in %s", dest, r)
	return nil
}

func (c *client) forwardState(tb testing.TB, id, dest string) map[string]string {
	tb.Helper()
	return forwardParts(tb, c.do("GET", "/MeasureReport/"+id+"/$forward-status", nil), dest)
}

// awaitState waits until the report's forward to dest is in state, and
// returns its status.
func (c *client) awaitState(tb testing.TB, id, dest, state string) map[string]string {
	tb.Helper()
	eventually(tb, dest+" "+state, func() bool { return c.forwardState(tb, id, dest)["state"] == state })
	return c.forwardState(tb, id, dest)
}

// sendExample imports the DHIS2 example (one report of 20 values) and
// returns the id of the report stored.
func (c *client) sendExample(tb testing.TB, headers ...string) string {
	tb.Helper()
	r, s := c.postADX("", testdata(tb, "adx/dhis2-adx-example.xml"), headers...)
	wantCounts(tb, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
	return c.reportID(tb, headers...)
}

// TestForwardFHIR: a report accepted on either engine reaches another
// Content Consumer by PUT under the same id; a correction sends its new
// version, a deletion a DELETE.
func TestForwardFHIR(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			up := newClient(t, openSQLite(t))
			up.loadADXDefinitions()
			c := newClient(t, e.open(t), forwardingTo(server.Destination{Name: "national", Kind: server.KindFHIR, URL: up.base}))
			c.loadADXDefinitions()
			c.startForwarding(t)

			body := testdata(t, "adx/dhis2-adx-example.xml")
			r, s := c.postADX("", body)
			wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
			id := c.reportID(t)
			eventually(t, "the report upstream", func() bool { return up.do("GET", "/MeasureReport/"+id, nil).status == http.StatusOK })
			if got := up.do("GET", "/MeasureReport/"+id, nil); !strings.Contains(string(got.body), `"count":128`) {
				t.Errorf("upstream report: %s", got)
			}
			st := c.awaitState(t, id, "national", "sent")
			if st["status"] != "201" || st["attempts"] != "1" || st["report"] != "MeasureReport/"+id+"/_history/1" {
				t.Errorf("forward status: %v", st)
			}

			changed := []byte(strings.Replace(string(body), `value="32"`, `value="33"`, 1))
			r, s = c.postADX("", changed)
			wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 20, 0, 0)
			eventually(t, "the correction upstream", func() bool {
				return strings.Contains(string(up.do("GET", "/MeasureReport/"+id, nil).body), `"count":129`)
			})

			if r := c.do("DELETE", "/MeasureReport/"+id, nil); r.status >= 300 {
				t.Fatalf("delete: %d %s", r.status, r)
			}
			eventually(t, "the deletion upstream", func() bool { return up.do("GET", "/MeasureReport/"+id, nil).status == http.StatusGone })
			if st := c.awaitState(t, id, "national", "sent"); st["operation"] != "delete" {
				t.Errorf("forward status after the deletion: %v", st)
			}
		})
	}
}

// adxCall is one call a DHIS2 stand-in received.
type adxCall struct {
	query string
	body  string
}

// recordingADX is a test double for DHIS2's /api/dataValueSets: it keeps
// each call and passes it to a madx, whose ADX import answers as DHIS2
// does. It stands in for DHIS2, which cannot run here.
func recordingADX(t *testing.T, up *client) (string, func() []adxCall) {
	var mu sync.Mutex
	var calls []adxCall
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, adxCall{r.URL.RawQuery, string(b)})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		up.s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, func() []adxCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]adxCall(nil), calls...)
	}
}

// TestForwardADX: reports go to DHIS2's dataValueSets as ADX; a value a
// correction no longer holds is deleted upstream, not left stale; a
// deleted report's values are deleted.
func TestForwardADX(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			up := newClient(t, openSQLite(t))
			up.loadADXDefinitions()
			url, calls := recordingADX(t, up)
			c := newClient(t, e.open(t), forwardingTo(server.Destination{Name: "dhis2", Kind: server.KindADX, URL: url}))
			c.loadADXDefinitions()
			c.startForwarding(t)

			body := testdata(t, "adx/dhis2-adx-example.xml")
			r, s := c.postADX("", body)
			wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
			id := c.reportID(t)
			eventually(t, "the report upstream", func() bool {
				return up.do("GET", "/MeasureReport?subject=Location/OU-559", nil).json(t)["total"] == float64(1)
			})
			if got := calls(); len(got) != 1 || !strings.Contains(got[0].query, "importStrategy=CREATE_AND_UPDATE") ||
				!strings.Contains(got[0].query, "idScheme=code") || strings.Count(got[0].body, "<dataValue ") != 25 {
				// 20 strata and the 5 population counts
				t.Fatalf("calls upstream: %+v", got)
			}
			if st := c.awaitState(t, id, "dhis2", "sent"); !strings.Contains(st["response"], `"imported":25`) {
				t.Errorf("forward status: %v", st)
			}

			// A correction without one value: that value is deleted upstream.
			const dropped = `<dataValue dataElement="PLHIV_TB_1" GENDER="MLE" HIV_AGE="AGE15-24" value="10"/>`
			changed := []byte(strings.Replace(string(body), dropped, "", 1))
			r, s = c.postADX("", changed)
			if r.status != http.StatusOK || s.Response.Status != "SUCCESS" {
				t.Fatalf("correction: %d %s", r.status, r)
			}
			eventually(t, "the correction upstream", func() bool { return len(calls()) == 3 })
			got := calls()
			if !strings.Contains(got[1].query, "importStrategy=DELETE") || strings.Count(got[1].body, "<dataValue ") != 1 ||
				!strings.Contains(got[1].body, `dataElement="PLHIV_TB_1" GENDER="MLE" HIV_AGE="AGE15-24"`) {
				t.Errorf("the stale value's deletion: %+v", got[1])
			}
			if !strings.Contains(got[2].query, "importStrategy=CREATE_AND_UPDATE") || strings.Count(got[2].body, "<dataValue ") != 24 {
				t.Errorf("the correction: %+v", got[2])
			}

			if r := c.do("DELETE", "/MeasureReport/"+id, nil); r.status >= 300 {
				t.Fatalf("delete: %d %s", r.status, r)
			}
			eventually(t, "the deletion upstream", func() bool {
				return up.do("GET", "/MeasureReport?subject=Location/OU-559", nil).json(t)["total"] == float64(0)
			})
			if got := calls(); !strings.Contains(got[len(got)-1].query, "importStrategy=DELETE") || strings.Count(got[len(got)-1].body, "<dataValue ") != 24 {
				t.Errorf("the deletion: %+v", got[len(got)-1])
			}
		})
	}
}

// TestForwardRetryDeadReplay: a destination that is down gets the
// forward again with backoff until the attempts run out; the forward is
// then dead-letter, listed, and sent once replayed.
func TestForwardRetryDeadReplay(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			up := newClient(t, openSQLite(t))
			up.loadADXDefinitions()
			var down atomic.Bool
			var tries atomic.Int32
			down.Store(true)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					tries.Add(1)
					http.Error(w, "maintenance", http.StatusServiceUnavailable)
					return
				}
				r.URL.Path = strings.Replace(r.URL.Path, "/down", "/fhir", 1)
				up.s.ServeHTTP(w, r)
			}))
			t.Cleanup(ts.Close)
			c := newClient(t, e.open(t), forwardingTo(server.Destination{Name: "national", Kind: server.KindFHIR, URL: ts.URL + "/down", MaxAttempts: 3}))
			c.loadADXDefinitions()
			c.startForwarding(t)
			id := c.sendExample(t)
			st := c.awaitState(t, id, "national", "dead")
			if st["attempts"] != "3" || st["status"] != "503" || tries.Load() != 3 || !strings.Contains(st["error"], "503") {
				t.Errorf("dead forward: %v after %d tries", st, tries.Load())
			}
			list := c.do("GET", "/$forward-outbox?state=dead", nil)
			if p := forwardParts(t, list, "national"); p["report"] != "MeasureReport/"+id+"/_history/1" || !strings.Contains(string(list.body), `"name":"total","valueInteger":1`) {
				t.Errorf("outbox: %s", list)
			}

			down.Store(false)
			replay := c.do("POST", "/$forward-replay", []byte(`{"resourceType":"Parameters","parameter":[{"name":"destination","valueString":"national"}]}`))
			if replay.status != http.StatusOK || !strings.Contains(string(replay.body), `"name":"replayed","valueInteger":1`) {
				t.Fatalf("replay: %d %s", replay.status, replay)
			}
			eventually(t, "the replayed forward upstream", func() bool { return up.do("GET", "/MeasureReport/"+id, nil).status == http.StatusOK })
			c.awaitState(t, id, "national", "sent")
			if n := c.do("GET", "/$forward-outbox?state=dead&_summary=count", nil); !strings.Contains(string(n.body), `"valueInteger":0`) {
				t.Errorf("dead after the replay: %s", n)
			}
			// The end of each forward is audited, its outcome as the
			// destination's answer made it: dead, then sent once replayed
			// (the retried attempts are in the entry only).
			for outcome, want := range map[string]float64{"4": 0, "8": 1, "0": 1} {
				a := c.do("GET", "/AuditEvent?subtype=forward&agent=national&entity=MeasureReport/"+id+"&outcome="+outcome, nil).json(t)
				if a["total"] != want {
					t.Errorf("forward AuditEvents with outcome %s: %v, want %v", outcome, a["total"], want)
				}
			}
		})
	}
}

// TestForwardRefusedIsDeadAtOnce: a destination's refusal of the content
// (here: it does not know the Measure) is not retried; its
// OperationOutcome is kept with the forward.
func TestForwardRefusedIsDeadAtOnce(t *testing.T) {
	up := newClient(t, openSQLite(t)) // no definitions
	c := newClient(t, openSQLite(t), forwardingTo(server.Destination{Name: "national", Kind: server.KindFHIR, URL: up.base}))
	c.loadADXDefinitions()
	c.startForwarding(t)
	id := c.sendExample(t)
	st := c.awaitState(t, id, "national", "dead")
	if st["attempts"] != "1" || st["status"] != "422" || !strings.Contains(st["response"], "OperationOutcome") {
		t.Errorf("refused forward: %v", st)
	}
}

// TestForwardOutboxBound: a full outbox refuses the write whole, with
// 503 and Retry-After, and /readyz says the outbox is backing up.
func TestForwardOutboxBound(t *testing.T) {
	forEachForwardingEngine(t, func(o *server.Options) {
		o.Forwarding = server.Forwarding{Destinations: []server.Destination{{Name: "national", Kind: server.KindFHIR, URL: "http://127.0.0.1:9/fhir"}}, MaxPending: 1}
	}, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		body := testdata(t, "adx/dhis2-adx-example.xml")
		r, s := c.postADX("", body)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
		root := strings.TrimSuffix(c.base, "/fhir")
		if r := c.do("GET", root+"/readyz", nil); r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "forward outbox backing up: 1 forwards pending") {
			t.Errorf("readyz: %d %s", r.status, r)
		}
		if r := c.do("GET", root+"/healthz", nil); r.status != http.StatusOK {
			t.Errorf("healthz: %d", r.status)
		}
		july := []byte(strings.Replace(string(body), "2015-06-01/P1M", "2015-07-01/P1M", 1))
		r, _ = c.postADX("", july)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "forward outbox is full") {
			t.Errorf("write past the bound: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r)
		}
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(1) {
			t.Errorf("stored reports: %v, want 1 (the refused write stored nothing)", got)
		}
	})
}

func forEachForwardingEngine(t *testing.T, opt func(*server.Options), fn func(t *testing.T, c *client)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { fn(t, newClient(t, e.open(t), opt)) })
	}
}

// TestForwardOperationRights: the status of a report's forwards is for
// whoever may read the report; the outbox for madx/forward.admin.
func TestForwardOperationRights(t *testing.T) {
	k := newTokenKit(t)
	sec := k.security()
	up := newClient(t, openSQLite(t))
	c := newClient(t, openSQLite(t), func(o *server.Options) {
		o.Security = sec
		forwardingTo(server.Destination{Name: "national", Kind: server.KindFHIR, URL: up.base})(o)
	})
	admin := []string{"Authorization", "Bearer " + k.admin()}
	c.loadADXDefinitions(admin...)
	id := c.sendExample(t, admin...)
	bearer := func(sub, scope string, subjects ...string) []string {
		return []string{"Authorization", "Bearer " + k.token(k.claims(sub, scope, subjects...))}
	}
	for _, tc := range []struct {
		name, method, path string
		who                []string
		status             int
	}{
		{"own facility reads its report's status", "GET", "/MeasureReport/" + id + "/$forward-status", bearer("ou-559", "system/MeasureReport.read", "Location/OU-559"), 200},
		{"another facility does not", "GET", "/MeasureReport/" + id + "/$forward-status", bearer("hp-1", "system/MeasureReport.read", "Location/HealthPost1"), 404},
		{"no read scope", "GET", "/MeasureReport/" + id + "/$forward-status", bearer("ou-559", "system/MeasureReport.c", "Location/OU-559"), 403},
		{"no token", "GET", "/MeasureReport/" + id + "/$forward-status", nil, 401},
		{"the outbox needs forward.admin", "GET", "/$forward-outbox", admin, 403},
		{"forward.admin lists it", "GET", "/$forward-outbox", bearer("ops", "madx/forward.admin"), 200},
		{"replay needs forward.admin", "POST", "/$forward-replay", admin, 403},
		{"forward.admin replays", "POST", "/$forward-replay", bearer("ops", "madx/forward.admin"), 200},
	} {
		var body []byte
		if tc.method == "POST" {
			body = []byte(`{"resourceType":"Parameters"}`)
		}
		if r := c.do(tc.method, tc.path, body, tc.who...); r.status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, r.status, tc.status, r)
		}
	}
	// A server that forwards nowhere says so.
	plain := newClient(t, openSQLite(t))
	if r := plain.do("GET", "/$forward-outbox", nil); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "no --forward destination") {
		t.Errorf("no forwarding: %d %s", r.status, r)
	}
}

func TestParseDestination(t *testing.T) {
	secret := t.TempDir() + "/token"
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := server.ParseDestination("name=dhis2,kind=adx,url=https://hmis.example.org/,token-file=" + secret + ",measure=http://a/Measure/x|http://a/Measure/y,location=Location/d1,attempts=4,id-scheme=uid")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "dhis2" || d.URL != "https://hmis.example.org" || d.Token != "s3cret" || len(d.Measures) != 2 || d.Locations[0] != "Location/d1" || d.MaxAttempts != 4 || d.Scheme.String() != "uid" {
		t.Errorf("parsed: %+v", d)
	}
	for spec, want := range map[string]string{
		"name=x,kind=fhir":                                 "url",
		"name=X,kind=fhir,url=http://a":                    "name",
		"name=x,kind=soap,url=http://a":                    "kind",
		"name=x,kind=fhir,url=http://a,token=abc":          "file",
		"name=x,kind=fhir,url=http://a,policy=quarter":     "not",
		"name=x,kind=fhir,url=http://a,user=u":             "both",
		"name=x,kind=fhir,url=http://a,location=District1": "Location/<id>",
		"name=x,kind=fhir,url=http://a,colour=blue":        "unknown key",
	} {
		if _, err := server.ParseDestination(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", spec, err, want)
		}
	}
}

// dhis2Double is a test double for DHIS2's /api/dataValueSets, for the
// answers madx cannot give: it refuses, with 409 and an ImportSummary in
// DHIS2's words, any message holding a group for refusedPeriod, and
// imports every other one.
func dhis2Double(t *testing.T, refusedPeriod string) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := strings.Count(string(b), "<dataValue ")
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(b), `period="`+refusedPeriod+`"`) {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"httpStatus":"Conflict","httpStatusCode":409,"status":"ERROR","message":"One more conflicts encountered, please check import summary.",`+
				`"response":{"responseType":"ImportSummary","status":"ERROR","importOptions":{"idSchemes":{},"dryRun":false,"atomicMode":"ALL"},`+
				`"importCount":{"imported":0,"updated":0,"ignored":%d,"deleted":0},"conflicts":[{"object":"VCCT_0","objects":{"dataElement":"VCCT_0"},`+
				`"value":"Period: 2015-07 is after latest open future period: 202412 for data element: VCCT_0","errorCode":"E7641","property":"period"}],"dataSetComplete":"false"}}`, n)
			return
		}
		fmt.Fprintf(w, `{"httpStatus":"OK","httpStatusCode":200,"status":"OK","message":"Import was successful.","response":{"responseType":"ImportSummary","status":"SUCCESS",`+
			`"importCount":{"imported":%d,"updated":0,"ignored":0,"deleted":0},"conflicts":[],"dataSetComplete":"false"}}`, n)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestForwardADXConflict: DHIS2 refusing a message (409, atomicMode=ALL)
// is narrowed down to the report it refused, which goes dead-letter with
// DHIS2's ImportSummary kept; the reports sent with it are sent.
func TestForwardADXConflict(t *testing.T) {
	c := newClient(t, openSQLite(t), forwardingTo(server.Destination{Name: "dhis2", Kind: server.KindADX, URL: dhis2Double(t, "2015-07-01/P1M")}))
	c.loadADXDefinitions()
	body := string(testdata(t, "adx/dhis2-adx-example.xml"))
	start, end := strings.Index(body, "<group "), strings.Index(body, "</group>")+len("</group>")
	group := body[start:end]
	var groups []string
	for _, p := range []string{"2015-06-01/P1M", "2015-07-01/P1M", "2015-08-01/P1M", "2015-09-01/P1M"} {
		groups = append(groups, strings.Replace(group, "2015-06-01/P1M", p, 1))
	}
	// One message, one commit: the four forwards go in one batch.
	r, s := c.postADX("", []byte(body[:start]+strings.Join(groups, "")+body[end:]))
	wantCounts(t, r, s, http.StatusOK, "SUCCESS", 80, 0, 0, 0)
	c.startForwarding(t)
	eventually(t, "the outbox drained", func() bool {
		return strings.Contains(string(c.do("GET", "/$forward-outbox?state=pending&_summary=count", nil).body), `"valueInteger":0`)
	})
	dead := c.do("GET", "/$forward-outbox?state=dead", nil)
	p := forwardParts(t, dead, "dhis2")
	if !strings.Contains(string(dead.body), `"name":"total","valueInteger":1`) || p["status"] != "409" || p["attempts"] != "1" ||
		!strings.Contains(p["response"], "E7641") || !strings.Contains(p["error"], "latest open future period") {
		t.Errorf("dead-letter: %v\n%s", p, dead)
	}
	m := c.do("GET", "/MeasureReport?period=2015-07", nil).json(t)
	july := m["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
	if p["report"] != "MeasureReport/"+july+"/_history/1" {
		t.Errorf("the dead forward is %s, want July's report %s", p["report"], july)
	}
	if sent := c.do("GET", "/$forward-outbox?state=sent&_summary=count", nil); !strings.Contains(string(sent.body), `"valueInteger":3`) {
		t.Errorf("sent: %s", sent)
	}
}
