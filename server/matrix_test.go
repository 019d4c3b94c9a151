package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
)

// The rule × entry-point matrix (issue 11): every rule of the write
// pipeline through every way a write gets in, on both engines. A way sends
// one write and reports its outcome as the client sees it; a rule sets up
// what it needs, sends its write through the way and checks the answer,
// what is stored afterwards, and the AuditEvent the attempt left. A cell a
// way cannot express (a DELETE has no body to validate) names why. madx
// load, which embeds this same handler, has its row in cmd/madx
// (TestLoadGoesThroughThePipeline).

// mWrite is one write as a rule asks for it.
type mWrite struct {
	op          string // create, update, delete
	typ, id     string
	body        []byte
	ifMatch     string
	ifNoneExist string
}

// mOutcome is what the client learnt about its write: the status of the
// write itself (an entry's response.status inside a 200 batch-response),
// its OperationOutcome, and how to find its AuditEvent.
type mOutcome struct {
	status    int
	issues    string
	requestID string
	job       string
}

type mWay struct {
	name string
	op   string // the one operation this way carries
	// form: single, batch, transaction, collection, async, async-bundle, validate
	form string
	// route is the route pattern this way enters by (for the coverage
	// check below).
	route string
}

func (w mWay) conditions() bool { return w.form != "collection" && w.form != "adx" }
func (w mWay) stores() bool     { return w.form != "validate" }

func matrixWays() []mWay {
	return []mWay{
		{"PUT", "update", "single", "PUT /fhir/:type/:id"},
		{"POST", "create", "single", "POST /fhir/:type"},
		{"DELETE", "delete", "single", "DELETE /fhir/:type/:id"},
		{"batch PUT entry", "update", "batch", "POST /fhir/"},
		{"batch POST entry", "create", "batch", "POST /fhir/"},
		{"batch DELETE entry", "delete", "batch", "POST /fhir/"},
		{"transaction PUT entry", "update", "transaction", "POST /fhir/"},
		{"transaction POST entry", "create", "transaction", "POST /fhir/"},
		{"transaction DELETE entry", "delete", "transaction", "POST /fhir/"},
		{"collection entry with id", "update", "collection", "POST /fhir/"},
		{"collection entry without id", "create", "collection", "POST /fhir/"},
		{"async PUT", "update", "async", "PUT /fhir/:type/:id"},
		{"async transaction PUT entry", "update", "async-bundle", "POST /fhir/"},
		{"async transaction DELETE entry", "delete", "async-bundle", "POST /fhir/"},
		{"$validate update", "update", "validate", "POST /fhir/:type/:id/$validate"},
		{"$validate create", "create", "validate", "POST /fhir/:type/$validate"},
		{"$validate delete", "delete", "validate", "POST /fhir/:type/:id/$validate"},
		{"ADX import", "create", "adx", "POST /api/dataValueSets"},
		{"ADX import, versioned path", "create", "adx", "POST /api/:version/dataValueSets"},
	}
}

// matrixEnv is one engine's secured server with its clients.
type matrixEnv struct {
	c               *client
	admin, hpA, hpB string
	month           atomic.Int64 // a fresh reporting month per cell
	requests        atomic.Int64
	ways            []mWay
}

func (e *matrixEnv) nextMonth() int { return int(e.month.Add(1)) }

// do sends a request as tok and returns the server's request id for it,
// which its AuditEvent names.
func (e *matrixEnv) do(tok, method, path string, body []byte, headers ...string) (response, string) {
	e.requests.Add(1)
	h := append([]string{"Authorization", "Bearer " + tok}, headers...)
	r := e.c.do(method, path, body, h...)
	return r, r.header.Get("X-Request-Id")
}

func entryJSON(w mWrite, request bool) string {
	var parts []string
	if request {
		method := map[string]string{"create": "POST", "update": "PUT", "delete": "DELETE"}[w.op]
		url := w.typ
		if w.op != "create" {
			url += "/" + w.id
		}
		req := fmt.Sprintf(`"method":%q,"url":%q`, method, url)
		if w.ifMatch != "" {
			req += fmt.Sprintf(`,"ifMatch":%q`, w.ifMatch)
		}
		if w.ifNoneExist != "" {
			req += fmt.Sprintf(`,"ifNoneExist":%q`, w.ifNoneExist)
		}
		parts = append(parts, `"request":{`+req+`}`)
	}
	if w.body != nil {
		parts = append(parts, `"resource":`+string(w.body))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// send writes w through way as tok.
func (e *matrixEnv) send(t *testing.T, way mWay, tok string, w mWrite) mOutcome {
	t.Helper()
	cond := []string{}
	if w.ifMatch != "" {
		cond = append(cond, "If-Match", w.ifMatch)
	}
	if w.ifNoneExist != "" {
		cond = append(cond, "If-None-Exist", w.ifNoneExist)
	}
	path := "/" + w.typ
	if w.op != "create" {
		path += "/" + w.id
	}
	switch way.form {
	case "single":
		method := map[string]string{"create": "POST", "update": "PUT", "delete": "DELETE"}[w.op]
		r, rid := e.do(tok, method, path, w.body, cond...)
		return mOutcome{status: r.status, issues: string(r.body), requestID: rid}
	case "batch", "transaction", "collection":
		body := fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[%s]}`, way.form, entryJSON(w, way.form != "collection"))
		r, rid := e.do(tok, "POST", "/", []byte(body))
		return bundleOutcome(t, r, rid)
	case "async":
		r, rid := e.do(tok, "PUT", path, w.body, append(cond, "Prefer", "respond-async")...)
		if r.status != http.StatusAccepted {
			return mOutcome{status: r.status, issues: string(r.body), requestID: rid}
		}
		return e.poll(t, tok, r)
	case "async-bundle":
		body := fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[%s]}`, entryJSON(w, true))
		r, rid := e.do(tok, "POST", "/", []byte(body), "Prefer", "respond-async")
		if r.status != http.StatusAccepted {
			return mOutcome{status: r.status, issues: string(r.body), requestID: rid}
		}
		o := e.poll(t, tok, r)
		if o.status == http.StatusOK {
			o = bundleOutcome(t, response{status: o.status, body: []byte(o.issues)}, "")
		}
		o.job = jobOfURL(r.header.Get("Content-Location"))
		return o
	case "adx":
		path := "/api/dataValueSets"
		if strings.Contains(way.name, "versioned") {
			path = "/api/41/dataValueSets"
		}
		msg, query := adxOf(t, w.body)
		r, rid := e.do(tok, "POST", strings.TrimSuffix(e.c.base, "/fhir")+path+query, msg, "Content-Type", "application/adx+xml")
		return mOutcome{status: adxStatus(t, r), issues: string(r.body), requestID: rid}
	case "validate":
		vpath := path + "/$validate?mode=" + w.op
		if w.op == "create" {
			vpath = "/" + w.typ + "/$validate"
		}
		r, rid := e.do(tok, "POST", vpath, w.body, cond...)
		return mOutcome{status: validateStatus(t, r), issues: string(r.body), requestID: rid}
	}
	t.Fatalf("unknown way %s", way.form)
	return mOutcome{}
}

// bundleOutcome is the outcome of a Bundle's only entry: the Bundle's own
// error when it was refused as a whole, else the entry's response.
func bundleOutcome(t *testing.T, r response, rid string) mOutcome {
	t.Helper()
	if r.status != http.StatusOK {
		return mOutcome{status: r.status, issues: string(r.body), requestID: rid}
	}
	var b struct {
		Entry []struct {
			Response struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Entry) != 1 {
		t.Fatalf("not a response Bundle of one entry: %v %s", err, r)
	}
	code, _ := strconv.Atoi(strings.Fields(b.Entry[0].Response.Status)[0])
	return mOutcome{status: code, issues: string(b.Entry[0].Response.Outcome), requestID: rid}
}

// validateStatus reads $validate's 200 OperationOutcome as the status the
// write would have had: the issue codes the pipeline gives each refusal.
// A status other than 200 means validation was not performed, and is kept.
func validateStatus(t *testing.T, r response) int {
	t.Helper()
	if r.status != http.StatusOK {
		return r.status
	}
	var oc struct {
		Issue []struct{ Severity, Code string }
	}
	if err := json.Unmarshal(r.body, &oc); err != nil {
		t.Fatalf("$validate answered no OperationOutcome: %s", r)
	}
	for _, is := range oc.Issue {
		if is.Severity != "error" && is.Severity != "fatal" {
			continue
		}
		switch is.Code {
		case "forbidden":
			return http.StatusForbidden
		case "conflict":
			return http.StatusPreconditionFailed
		case "duplicate":
			return http.StatusConflict
		case "not-supported":
			return http.StatusNotImplemented
		}
		return http.StatusUnprocessableEntity
	}
	return http.StatusOK
}

// adxOf is a report of the matrix as the ADX message of one group that a
// DHIS2-speaking sender would send for it: dataSet the Measure's
// identifier, orgUnit the Location's identifier, the month, and the
// group's population count. A subject named by a sender's code becomes
// that orgUnit, with its system in orgUnitIdScheme=ATTRIBUTE:<system>.
func adxOf(t *testing.T, body []byte) (msg []byte, query string) {
	t.Helper()
	var r struct {
		Subject struct {
			Reference  string
			Identifier struct{ System, Value string }
		}
		Period struct{ Start string }
		Group  []struct {
			Code       struct{ Coding []struct{ Code string } }
			Population []struct{ Count int }
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Group) == 0 {
		t.Fatalf("not a report the ADX way can carry: %v", err)
	}
	org := map[string]string{"Location/HealthPost1": "HP-001", "Location/HealthPost2": "HP-002", "Location/HealthPost3": "HP-003"}[r.Subject.Reference]
	if id := r.Subject.Identifier; id.Value != "" {
		org, query = id.Value, "?orgUnitIdScheme=ATTRIBUTE:"+url.QueryEscape(id.System)
	}
	g := r.Group[0]
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><adx xmlns="urn:ihe:qrph:adx:2015" exported="2025-01-01T00:00:00Z">`+
		`<group dataSet="madx-hiv-indicator-example" orgUnit=%q period="%s/P1M"><dataValue dataElement=%q value="%d"/></group></adx>`,
		org, r.Period.Start, g.Code.Coding[0].Code, g.Population[0].Count)), query
}

// adxStatus reads DHIS2's ImportSummary of a one-group message as the
// status the FHIR write would have had, from what its conflict says.
func adxStatus(t *testing.T, r response) int {
	t.Helper()
	var s struct {
		Response struct {
			Status    string
			Conflicts []struct{ Object, Value string }
		}
	}
	if err := json.Unmarshal(r.body, &s); err != nil {
		return r.status // not an ImportSummary: refused before the import (401, 415)
	}
	if s.Response.Status != "ERROR" {
		return http.StatusOK
	}
	for _, c := range s.Response.Conflicts {
		switch {
		case strings.Contains(c.Value, "may not report for"):
			return http.StatusForbidden
		case strings.Contains(c.Value, "same measure, subject and period"):
			return http.StatusConflict
		}
	}
	return http.StatusUnprocessableEntity
}

func jobOfURL(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// poll follows an accepted submission to its result, as its submitter.
func (e *matrixEnv) poll(t *testing.T, tok string, accepted response) mOutcome {
	t.Helper()
	status := accepted.header.Get("Content-Location")
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r, _ := e.do(tok, "GET", status, nil)
		switch r.status {
		case http.StatusAccepted:
			continue
		case http.StatusSeeOther:
			res, _ := e.do(tok, "GET", r.header.Get("Location"), nil)
			return mOutcome{status: res.status, issues: string(res.body), job: jobOfURL(status)}
		default:
			t.Fatalf("poll %s: %d %s", status, r.status, r)
		}
	}
	t.Fatalf("submission %s did not finish in time", status)
	return mOutcome{}
}

// auditOutcome finds the AuditEvent of an attempt and returns its outcome
// code ("" when there is none).
func (e *matrixEnv) auditOutcome(t *testing.T, o mOutcome) string {
	t.Helper()
	r, _ := e.do(e.admin, "GET", "/AuditEvent?_count=1000", nil)
	var b struct {
		Entry []struct {
			Resource struct {
				Outcome, OutcomeDesc string
				Source               struct{ Site string }
			}
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("AuditEvent search: %v %s", err, r)
	}
	for _, en := range b.Entry {
		ev := en.Resource
		if o.job != "" && ev.Source.Site == "asynchronous job "+o.job ||
			o.job == "" && o.requestID != "" && strings.HasSuffix(ev.OutcomeDesc, "request id "+o.requestID) {
			return ev.Outcome
		}
	}
	return ""
}

// version is the ETag of a stored resource as the admin reads it, or the
// status when it is not there.
func (e *matrixEnv) version(typ, id string) string {
	r, _ := e.do(e.admin, "GET", "/"+typ+"/"+id, nil)
	if r.status != http.StatusOK {
		return strconv.Itoa(r.status)
	}
	return r.header.Get("ETag")
}

// reportsAt counts the stored reports about subject for month.
func (e *matrixEnv) reportsAt(t *testing.T, subject string, month int) int {
	t.Helper()
	start := time.Date(1991, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
	r, _ := e.do(e.admin, "GET", fmt.Sprintf("/MeasureReport?subject=Location/%s&period=ge%s&period=le%s", subject,
		start.Format("2006-01-02"), start.AddDate(0, 1, -1).Format("2006-01-02")), nil)
	entries, _ := r.json(t)["entry"].([]any)
	return len(entries)
}

// withoutID is a resource body with its id removed (a collection entry
// that creates).
func withoutID(t *testing.T, body []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "id")
	return must(json.Marshal(m))
}

// writeAs fits a report body to the way: a creating collection entry
// carries no id.
func (w mWay) body(t *testing.T, b []byte) []byte {
	if w.form == "collection" && w.op == "create" {
		return withoutID(t, b)
	}
	return b
}

// mRule is one rule of the pipeline.
type mRule struct {
	name string
	// na says why the rule does not apply to a way, or "".
	na  func(w mWay) string
	run func(t *testing.T, e *matrixEnv, w mWay, cell string)
}

func expectStatus(t *testing.T, what string, o mOutcome, want ...int) {
	t.Helper()
	for _, s := range want {
		if o.status == s {
			return
		}
	}
	t.Errorf("%s: status %d, want %v: %s", what, o.status, want, cut(o.issues))
}

func cut(s string) string {
	if len(s) > 600 {
		return s[:600] + "...(cut)"
	}
	return s
}

// expectAudit checks the attempt left an AuditEvent with the outcome of
// its status; $validate stores nothing and is not audited.
func expectAudit(t *testing.T, e *matrixEnv, w mWay, o mOutcome) {
	t.Helper()
	if !w.stores() {
		return
	}
	want := "0"
	if o.status >= 400 {
		want = "4"
	}
	if got := e.auditOutcome(t, o); got != want {
		t.Errorf("AuditEvent outcome %q, want %q (status %d)", got, want, o.status)
	}
}

func matrixRules() []mRule {
	onlyOps := func(ops ...string) func(w mWay) string {
		return func(w mWay) string {
			for _, op := range ops {
				if w.op == op {
					return ""
				}
			}
			return "the rule is about a " + strings.Join(ops, " or ") + "; this way is a " + w.op
		}
	}
	return []mRule{
		{name: "type served and writable", na: func(w mWay) string {
			if w.form == "adx" {
				return "an ADX message carries only MeasureReports: its dataSet names a Measure"
			}
			return ""
		},
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				// An AuditEvent written by a client would forge the trail.
				id := "forged-" + cell
				ev := []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":%q,"type":{"code":"rest"},"recorded":"2025-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`, id))
				if w.op == "delete" {
					ev = nil
				}
				o := e.send(t, w, e.admin, mWrite{op: w.op, typ: "AuditEvent", id: id, body: w.body(t, ev)})
				expectStatus(t, "write of an AuditEvent", o, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnprocessableEntity)
				if v := e.version("AuditEvent", id); v != "404" {
					t.Errorf("AuditEvent/%s is stored (%s)", id, v)
				}
				expectAudit(t, e, w, o)
			}},
		{name: "rights on the new body", na: onlyOps("create", "update"),
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				m := e.nextMonth()
				o := e.send(t, w, e.hpA, mWrite{op: w.op, typ: "MeasureReport", id: "n-" + cell, body: w.body(t, report(t, "n-"+cell, "HealthPost2", m))})
				expectStatus(t, "facility A reporting for B", o, http.StatusForbidden)
				if n := e.reportsAt(t, "HealthPost2", m); n != 0 {
					t.Errorf("%d reports stored for B", n)
				}
				expectAudit(t, e, w, o)
			}},
		{name: "rights on the stored version", na: onlyOps("update", "delete"),
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				id := "b-" + cell
				if r, _ := e.do(e.hpB, "PUT", "/MeasureReport/"+id, report(t, id, "HealthPost2", e.nextMonth())); r.status != http.StatusCreated {
					t.Fatalf("B's report: %d %s", r.status, r)
				}
				wr := mWrite{op: w.op, typ: "MeasureReport", id: id}
				if w.op == "update" {
					wr.body = report(t, id, "HealthPost1", e.nextMonth()) // names A's own facility
				}
				o := e.send(t, w, e.hpA, wr)
				expectStatus(t, "facility A replacing B's report", o, http.StatusForbidden)
				if v := e.version("MeasureReport", id); v != `W/"1"` {
					t.Errorf("B's report is at %s, want W/\"1\"", v)
				}
				expectAudit(t, e, w, o)
			}},
		{name: "If-Match", na: func(w mWay) string {
			if !w.conditions() {
				return "this way carries no request conditions (a collection entry has no request; an ADX message has none)"
			}
			return onlyOps("update", "delete")(w)
		}, run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
			id := "m-" + cell
			m := e.nextMonth()
			if r, _ := e.do(e.hpA, "PUT", "/MeasureReport/"+id, report(t, id, "HealthPost1", m)); r.status != http.StatusCreated {
				t.Fatalf("A's report: %d %s", r.status, r)
			}
			wr := mWrite{op: w.op, typ: "MeasureReport", id: id, ifMatch: `W/"7"`}
			if w.op == "update" {
				wr.body = []byte(strings.Replace(string(report(t, id, "HealthPost1", m)), `"count": 426`, `"count": 425`, 1))
			}
			o := e.send(t, w, e.hpA, wr)
			expectStatus(t, "stale If-Match", o, http.StatusPreconditionFailed)
			if v := e.version("MeasureReport", id); v != `W/"1"` {
				t.Errorf("the report is at %s, want W/\"1\"", v)
			}
			expectAudit(t, e, w, o)
		}},
		{name: "If-None-Exist", na: func(w mWay) string {
			switch {
			case w.form == "validate":
				return "$validate judges the resource, not the request's conditions"
			case !w.conditions():
				return "this way carries no request conditions (a collection entry has no request; an ADX message has none)"
			}
			return onlyOps("create")(w)
		}, run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
			m := e.nextMonth()
			o := e.send(t, w, e.hpA, mWrite{op: "create", typ: "MeasureReport", body: report(t, "c-"+cell, "HealthPost1", m), ifNoneExist: "identifier=x|" + cell})
			expectStatus(t, "conditional create", o, http.StatusNotImplemented)
			if n := e.reportsAt(t, "HealthPost1", m); n != 0 {
				t.Errorf("%d reports stored", n)
			}
			expectAudit(t, e, w, o)
		}},
		{name: "no-op update", na: func(w mWay) string {
			if !w.stores() {
				return "$validate stores nothing, so it makes no version either way"
			}
			return onlyOps("update")(w)
		}, run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
			id := "noop-" + strings.ReplaceAll(cell, "_", "-")
			loc := []byte(fmt.Sprintf(`{"resourceType":"Location","id":%q,"status":"active","name":"No-op %s"}`, id, cell))
			if r, _ := e.do(e.admin, "PUT", "/Location/"+id, loc); r.status != http.StatusCreated {
				t.Fatalf("Location: %d %s", r.status, r)
			}
			o := e.send(t, w, e.admin, mWrite{op: "update", typ: "Location", id: id, body: loc})
			expectStatus(t, "unchanged definition", o, http.StatusOK)
			if v := e.version("Location", id); v != `W/"1"` {
				t.Errorf("the Location is at %s, want W/\"1\" (no new version)", v)
			}
			expectAudit(t, e, w, o)
		}},
		{name: "natural key", na: onlyOps("create", "update"),
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				holder, m := "k-"+cell, e.nextMonth()
				if r, _ := e.do(e.hpA, "PUT", "/MeasureReport/"+holder, report(t, holder, "HealthPost1", m)); r.status != http.StatusCreated {
					t.Fatalf("holder: %d %s", r.status, r)
				}
				other := "k2-" + cell
				o := e.send(t, w, e.hpA, mWrite{op: w.op, typ: "MeasureReport", id: other, body: w.body(t, report(t, other, "HealthPost1", m))})
				if w.op == "update" {
					// Another id for the same measure, subject and period.
					expectStatus(t, "a second report for a held key", o, http.StatusConflict)
					if v := e.version("MeasureReport", other); v != "404" {
						t.Errorf("MeasureReport/%s is stored (%s)", other, v)
					}
				} else {
					// A create of a held key corrects the holder.
					expectStatus(t, "a resent report", o, http.StatusOK, http.StatusCreated)
					want := `W/"2"`
					if !w.stores() {
						want = `W/"1"`
					}
					if v := e.version("MeasureReport", holder); v != want {
						t.Errorf("the holder is at %s, want %s", v, want)
					}
				}
				if n := e.reportsAt(t, "HealthPost1", m); n != 1 {
					t.Errorf("%d reports stored for the key, want 1", n)
				}
				expectAudit(t, e, w, o)
			}},
		{name: "reporting schedule", na: onlyOps("create", "update"),
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				m := 12*(2999-1991) + e.nextMonth() // a month of 2999, which has not started
				o := e.send(t, w, e.hpA, mWrite{op: w.op, typ: "MeasureReport", id: "s-" + cell, body: w.body(t, report(t, "s-"+cell, "HealthPost1", m))})
				expectStatus(t, "a report for a future period", o, http.StatusUnprocessableEntity)
				if !strings.Contains(o.issues, "has not started yet") {
					t.Errorf("the answer does not say the period has not started: %s", cut(o.issues))
				}
				if n := e.reportsAt(t, "HealthPost1", m); n != 0 {
					t.Errorf("%d reports stored", n)
				}
				expectAudit(t, e, w, o)
			}},
		{name: "site codes", na: onlyOps("create", "update"),
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				// A sender's own facility code, which the jurisdiction's
				// ConceptMap maps to HealthPost1: resolved before rights, so
				// facility A's token may send it and B's may not.
				cm := testdata(t, "madx/sites/ConceptMap-emr-sites.json")
				if r, _ := e.do(e.admin, "PUT", "/ConceptMap/emr-sites", cm); r.status >= 300 {
					t.Fatalf("ConceptMap: %d %s", r.status, r)
				}
				coded := func(id, code string, m int) []byte {
					return w.body(t, []byte(strings.Replace(string(report(t, id, "HealthPost1", m)), `"subject": {"reference":"Location/HealthPost1"}`,
						`"subject": {"identifier":{"system":"http://emr.example.org/fhir/sid/facility","value":"`+code+`"}}`, 1)))
				}
				m := e.nextMonth()
				o := e.send(t, w, e.hpB, mWrite{op: w.op, typ: "MeasureReport", id: "sb-" + cell, body: coded("sb-"+cell, "EMR-HP1", m)})
				expectStatus(t, "facility B sending A's code", o, http.StatusForbidden)
				expectAudit(t, e, w, o)
				o = e.send(t, w, e.hpA, mWrite{op: w.op, typ: "MeasureReport", id: "sx-" + cell, body: coded("sx-"+cell, "EMR-NOPE", m)})
				expectStatus(t, "an unmapped code", o, http.StatusUnprocessableEntity)
				if !strings.Contains(o.issues, "EMR-NOPE") || !strings.Contains(o.issues, "http://emr.example.org/fhir/sid/facility") {
					t.Errorf("the refusal names neither the code nor its system: %s", cut(o.issues))
				}
				expectAudit(t, e, w, o)
				if n := e.reportsAt(t, "HealthPost1", m); n != 0 {
					t.Errorf("%d reports stored for refused codes", n)
				}
				o = e.send(t, w, e.hpA, mWrite{op: w.op, typ: "MeasureReport", id: "sa-" + cell, body: coded("sa-"+cell, "EMR-HP1", m)})
				expectStatus(t, "facility A sending its code", o, http.StatusOK, http.StatusCreated)
				expectAudit(t, e, w, o)
				if !w.stores() {
					return
				}
				if n := e.reportsAt(t, "HealthPost1", m); n != 1 {
					t.Fatalf("%d reports stored at Location/HealthPost1, want 1", n)
				}
				r, _ := e.do(e.admin, "GET", "/MeasureReport?subject=Location/HealthPost1&period=ge"+time.Date(1991, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02"), nil)
				if !strings.Contains(string(r.body), `"subject":{"identifier":{"system":"http://emr.example.org/fhir/sid/facility","value":"EMR-HP1"},"reference":"Location/HealthPost1"}`) {
					t.Errorf("the stored report does not name the Location and keep the code: %s", cut(string(r.body)))
				}
			}},
		{name: "validation against the Measure", na: onlyOps("create", "update"),
			run: func(t *testing.T, e *matrixEnv, w mWay, cell string) {
				m := e.nextMonth()
				bad := strings.Replace(string(report(t, "v-"+cell, "HealthPost1", m)), `"code":"QRPH_mADX_ART1_N"`, `"code":"NO_SUCH_GROUP"`, 1)
				o := e.send(t, w, e.hpA, mWrite{op: w.op, typ: "MeasureReport", id: "v-" + cell, body: w.body(t, []byte(bad))})
				expectStatus(t, "an invalid report", o, http.StatusUnprocessableEntity)
				if !regexp.MustCompile(`"(Bundle\.entry\[0\]\.resource|MeasureReport)\.group\[0\]\.code"|/adx/group\[1\]/dataValue\[1\]/@dataElement`).MatchString(o.issues) {
					t.Errorf("the issue does not point at the group code: %s", cut(o.issues))
				}
				if n := e.reportsAt(t, "HealthPost1", m); n != 0 {
					t.Errorf("%d reports stored", n)
				}
				expectAudit(t, e, w, o)
			}},
	}
}

func TestRuleEntryPointMatrix(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		c.startAsync(t)
		e := &matrixEnv{c: c, admin: k.admin(), ways: matrixWays(),
			hpA: k.token(k.claims("healthpost-1", "system/*.write system/MeasureReport.read", "Location/HealthPost1")),
			hpB: k.token(k.claims("healthpost-2", "system/MeasureReport.write", "Location/HealthPost2"))}
		loadDefinitionsAs(c, e.admin)
		// A schedule that every 1991 report of the other rules fits (late,
		// never closed), so that the schedule rule can be tried too.
		if r, _ := e.do(e.admin, "PUT", "/Measure/madx-hiv-indicator-example", scheduled(t, "1990-01-01", 10, "")); r.status != http.StatusOK {
			t.Fatalf("the scheduled Measure: %d %s", r.status, r)
		}
		for _, rule := range matrixRules() {
			t.Run(rule.name, func(t *testing.T) {
				for i, w := range e.ways {
					t.Run(w.name, func(t *testing.T) {
						if why := rule.na(w); why != "" {
							t.Skip("not applicable: " + why)
						}
						rule.run(t, e, w, fmt.Sprintf("%s-%d", strings.ReplaceAll(rule.name[:4], " ", ""), i))
					})
				}
			})
		}
		t.Run("every writing route is a way in the matrix", func(t *testing.T) {
			checkWritingRoutesCovered(t, c.s, e.ways)
		})
	})
}

// notWrites are the routes that take a write method but write no
// resource a client sent, each with the reason.
var notWrites = map[string]string{
	"POST /fhir/:type/_search": "a search sent as a form",
	"PATCH /fhir/:type/:id":    "answers 501 (not implemented), audited as a refused write",
	// Reading operations take POST for their Parameters (FHIR
	// operations.html#request) and write nothing.
	"POST /fhir/:type/:id/$completeness": "a reading operation: its parameters sent as a Parameters body",
	"POST /fhir/:type/:id/$aggregate":    "a reading operation: its parameters sent as a Parameters body",
	// An operator's command over madx's own outbox records: it writes no
	// resource, and forwards only what the pipeline already accepted
	// (forward_test.go tests its rights).
	"POST /fhir/$forward-replay": "moves dead-letter forwards back to pending",
	// ADX answers DHIS2 ImportSummaries, not FHIR, so the matrix's ways
	// (which read OperationOutcomes) cannot send it yet; each of its rules
	// (scope, facility rights, validation, natural key, dryRun, atomicity)
	// is tested on both engines in adx_test.go.
}

// checkWritingRoutesCovered fails when the server serves a route with a
// write method that no way of the matrix enters by: a new way in must be
// added to the matrix, and so be proven to obey every rule.
func checkWritingRoutesCovered(t *testing.T, s *server.Server, ways []mWay) {
	covered := map[string]bool{}
	for _, w := range ways {
		covered[w.route] = true
	}
	typeSeg := regexp.MustCompile(`^/fhir/[A-Z][A-Za-z]+`)
	for _, rt := range s.Routes() {
		method, path, _ := strings.Cut(rt, " ")
		if method == http.MethodGet || method == http.MethodHead {
			continue
		}
		generic := method + " " + typeSeg.ReplaceAllString(path, "/fhir/:type")
		if !covered[generic] && notWrites[generic] == "" && !(generic == "POST /fhir" && covered["POST /fhir/"]) {
			t.Errorf("%s writes but no way of the rule matrix enters by it (as %s): add it to matrixWays", rt, generic)
		}
	}
}
