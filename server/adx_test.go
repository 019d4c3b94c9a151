package server_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madx-project/madx/internal/adxlint"
)

// loadADXDefinitions PUTs testdata/adx/definitions: the Measure of the
// DHIS2 example's dataSet, its category option CodeSystems, and OU_559.
func (c *client) loadADXDefinitions(headers ...string) {
	c.tb.Helper()
	c.loadDefinitionsFrom(filepath.Join("adx", "definitions"), headers...)
}

// importSummary is the part of DHIS2's WebMessage the tests read.
type importSummary struct {
	HTTPStatusCode int    `json:"httpStatusCode"`
	Status         string `json:"status"`
	Response       struct {
		ResponseType string `json:"responseType"`
		Status       string `json:"status"`
		ImportCount  struct {
			Imported, Updated, Ignored, Deleted int
		} `json:"importCount"`
		Conflicts []struct{ Object, Value string } `json:"conflicts"`
	} `json:"response"`
}

// postADX sends an ADX message to /api/dataValueSets with a query.
func (c *client) postADX(query string, body []byte, headers ...string) (response, importSummary) {
	c.tb.Helper()
	url := strings.TrimSuffix(c.base, "/fhir") + "/api/dataValueSets" + query
	r := c.do("POST", url, body, append([]string{"Content-Type", "application/adx+xml"}, headers...)...)
	var s importSummary
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.body, &s); err != nil {
			c.tb.Fatalf("answer is not a WebMessage: %v\n%s", err, r)
		}
	}
	return r, s
}

func wantCounts(tb testing.TB, r response, s importSummary, status int, sumStatus string, imported, updated, ignored, deleted int) {
	tb.Helper()
	got := s.Response.ImportCount
	if r.status != status || s.Response.Status != sumStatus || got.Imported != imported || got.Updated != updated || got.Ignored != ignored || got.Deleted != deleted {
		tb.Fatalf("got %d %s %+v, want %d %s imported=%d updated=%d ignored=%d deleted=%d\n%s",
			r.status, s.Response.Status, got, status, sumStatus, imported, updated, ignored, deleted, r)
	}
	if s.HTTPStatusCode != status || s.Response.ResponseType != "ImportSummary" {
		tb.Errorf("envelope: httpStatusCode %d, responseType %q\n%s", s.HTTPStatusCode, s.Response.ResponseType, r)
	}
}

// wantConflict checks that a conflict about object says all of the words.
func wantConflict(tb testing.TB, r response, s importSummary, object string, words ...string) {
	tb.Helper()
	for _, c := range s.Response.Conflicts {
		if strings.HasPrefix(c.Object, object) {
			for _, w := range words {
				if !strings.Contains(c.Value, w) {
					tb.Errorf("conflict %s: %q does not say %q", c.Object, c.Value, w)
				}
			}
			return
		}
	}
	tb.Errorf("no conflict about %s:\n%s", object, r)
}

const adxHead = `<?xml version="1.0" encoding="UTF-8"?>
<adx xmlns="urn:ihe:qrph:adx:2015" exported="2015-02-08T19:30:00Z">`

func adxGroup(attrs string, values ...string) string {
	return "<group " + attrs + ">" + strings.Join(values, "") + "</group>"
}

func adxMsg(groups ...string) []byte { return []byte(adxHead + strings.Join(groups, "") + "</adx>") }

func TestADXImportDHIS2Example(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		body := testdata(t, "adx/dhis2-adx-example.xml")

		r, s := c.postADX("?dryRun=true", body)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(0) {
			t.Fatalf("dryRun stored something: total %v", got)
		}

		r, s = c.postADX("", body)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
		search := c.do("GET", "/MeasureReport?subject=Location/OU-559", nil).json(t)
		if search["total"] != float64(1) {
			t.Fatalf("stored reports: %v", search["total"])
		}
		rep := search["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
		b, _ := json.Marshal(rep)
		for _, want := range []string{`"measure":"http://example.org/dhis2/Measure/TBHIV-VCCT"`, `"period":{"end":"2015-06-30","start":"2015-06-01"}`,
			`"date":"2015-07-01"`, `"count":128`, `"code":"FMLE"`, `"status":"complete"`, `"type":"summary"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("stored report lacks %s:\n%s", want, b)
			}
		}

		// The same message again changes nothing: ignored, not updated.
		r, s = c.postADX("", body)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 0, 20, 0)
		// In XML when asked, as DHIS2 answers.
		r, _ = c.postADX("", body, "Accept", "application/xml")
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/xml") ||
			!strings.Contains(string(r.body), `<webMessage xmlns="http://dhis2.org/schema/dxf/2.0">`) ||
			!strings.Contains(string(r.body), `<importCount imported="0" updated="0" ignored="20" deleted="0">`) {
			t.Errorf("XML answer: %s %s", r.header.Get("Content-Type"), r)
		}
		// A corrected value updates the stored report (its 20 values).
		changed := []byte(strings.Replace(string(body), `value="32"`, `value="33"`, 1))
		r, s = c.postADX("", changed)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 20, 0, 0)
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(1) {
			t.Fatalf("a resubmission made another report: total %v", got)
		}
		r, s = c.postADX("?importStrategy=CREATE", changed)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 20, 0)
		wantConflict(t, r, s, "/adx/group[1]", "already stored", "importStrategy=CREATE")

		// The versioned path and DHIS2's spelling of the media type.
		url := strings.TrimSuffix(c.base, "/fhir") + "/api/40/dataValueSets?importStrategy=DELETE"
		r = c.do("POST", url, changed, "Content-Type", "application/xml+adx")
		if err := json.Unmarshal(r.body, &s); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 0, 0, 20)
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(0) {
			t.Fatalf("DELETE left reports: total %v", got)
		}
	})
}

const (
	ou  = `orgUnit="OU_559" dataSet="(TB/HIV)VCCT"`
	fa  = `GENDER="FMLE" HIV_AGE="AGE0-14"`
	ma  = `GENDER="MLE" HIV_AGE="AGE0-14"`
	dv0 = `<dataValue dataElement="VCCT_0" ` + fa + ` value="3"/>`
)

func TestADXImportPeriodsAndRaggedRight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		ragged := adxMsg(
			adxGroup(ou+` period="2015-04-01/P1Y"`, dv0,
				`<dataValue dataElement="VCCT_0" `+ma+` value="4"/>`,
				`<dataValue dataElement="PLHIV_TB_0" GENDER="FMLE" value="5"/>`,
				`<dataValue dataElement="PLHIV_TB_0" GENDER="MLE" value="6"/>`,
				`<dataValue dataElement="PLHIV_TB_1" value="9"/>`),
			adxGroup(ou+` period="2015-06-01/P7D"`, dv0),
			adxGroup(ou+` period="2015-07-01/P3M"`, dv0))
		r, s := c.postADX("", ragged)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 7, 0, 0, 0)
		all := c.do("GET", "/MeasureReport", nil).json(t)
		b, _ := json.Marshal(all)
		for _, want := range []string{
			`"period":{"end":"2016-03-31","start":"2015-04-01"}`, // financial year from April
			`"period":{"end":"2015-06-07","start":"2015-06-01"}`, // ISO week 23
			`"period":{"end":"2015-09-30","start":"2015-07-01"}`, // third quarter
			`"count":7`,  // VCCT_0: 3 + 4 by GENDER x HIV_AGE
			`"count":11`, // PLHIV_TB_0: 5 + 6 by GENDER alone (ragged right)
			`"count":9`,  // PLHIV_TB_1: sent without disaggregation
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("stored reports lack %s:\n%s", want, b)
			}
		}
	})
}

func TestADXImportRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		good := adxGroup(ou+` period="2015-01-01/P1M"`, dv0)
		for _, tc := range []struct {
			name, query string
			body        []byte
			status      int
			object      string
			words       []string
		}{
			{"unknown dataSet", "", adxMsg(adxGroup(`orgUnit="OU_559" dataSet="NOPE" period="2015-01-01/P1M"`, dv0)), 409,
				"/adx/group[1]/@dataSet", []string{`"NOPE"`, "identifier value or name"}},
			{"unknown orgUnit", "", adxMsg(adxGroup(`orgUnit="OU_1" dataSet="(TB/HIV)VCCT" period="2015-01-01/P1M"`, dv0)), 409,
				"/adx/group[1]/@orgUnit", []string{`"OU_1"`, "Location.identifier"}},
			{"orgUnit by uid", "?orgUnitIdScheme=uid", adxMsg(good), 409, "/adx/group[1]/@orgUnit", []string{"id of a stored Location"}},
			{"period not start/duration", "", adxMsg(adxGroup(ou+` period="2015-01"`, dv0)), 409, "/adx/group[1]/@period", []string{"start/duration"}},
			{"unsupported duration", "", adxMsg(adxGroup(ou+` period="2015-01-01/P5M"`, dv0)), 409, "/adx/group[1]/@period", []string{"P1D, P7D"}},
			{"month not on the 1st", "", adxMsg(adxGroup(ou+` period="2015-01-02/P1M"`, dv0)), 409, "/adx/group[1]/@period", []string{"first day of a month"}},
			{"week on a Tuesday", "", adxMsg(adxGroup(ou+` period="2015-06-02/P7D"`, dv0)), 409, "/adx/group[1]/@period", []string{"Tuesday", "Monday"}},
			{"unknown group attribute", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M" mechanism="X"`, dv0)), 409, "/adx/group[1]/@mechanism", []string{"not mapped"}},
			{"unknown dataElement", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, `<dataValue dataElement="X" value="1"/>`)), 409,
				"/adx/group[1]/dataValue[1]/@dataElement", []string{`"X"`, "VCCT_0"}},
			{"value not a number", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, `<dataValue dataElement="VCCT_0" value="many"/>`)), 409,
				"/adx/group[1]/dataValue[1]/@value", []string{`"many"`, "decimal"}},
			{"unknown category option", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, `<dataValue dataElement="VCCT_0" GENDER="X" HIV_AGE="AGE0-14" value="1"/>`)), 409,
				"/adx/group[1]/dataValue[1]/@GENDER", []string{`"X"`, "FMLE"}},
			{"unknown disaggregation", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, `<dataValue dataElement="VCCT_0" COLOUR="red" value="1"/>`)), 409,
				"/adx/group[1]/dataValue[1]", []string{"COLOUR", "GENDER, HIV_AGE"}},
			{"same stratum twice", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, dv0, dv0)), 409, "/adx/group[1]/dataValue[2]", []string{"dataValue[1]"}},
			{"stratifiers disagree on the total", "", adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`,
				`<dataValue dataElement="PLHIV_TB_0" `+fa+` value="5"/>`, `<dataValue dataElement="PLHIV_TB_0" GENDER="FMLE" value="6"/>`)), 409,
				"/adx/group[1]/dataValue[2]", []string{"add up to 6", "5"}},
			{"two groups, one report", "", adxMsg(good, good), 409, "/adx/group[1]", []string{"group[1], group[2]"}},
			{"no namespace", "", []byte(`<adx><group/></adx>`), 400, "/", []string{"urn:ihe:qrph:adx:2015"}},
			{"DTD", "", []byte(`<?xml version="1.0"?><!DOCTYPE adx [<!ENTITY x "y">]><adx xmlns="urn:ihe:qrph:adx:2015"/>`), 400, "/", []string{"DTD"}},
			{"missing period", "", adxMsg(`<group orgUnit="OU_559" dataSet="(TB/HIV)VCCT">` + dv0 + `</group>`), 400, "/adx/group[1]/@period", []string{"required"}},
			{"not UTF-8", "", []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><adx xmlns=\"urn:ihe:qrph:adx:2015\">\xe9</adx>"), 400, "/", []string{"UTF-8"}},
			{"bad idScheme", "?idScheme=name", adxMsg(good), 400, "?idScheme", []string{"code, uid or id"}},
			{"ATTRIBUTE without a system", "?orgUnitIdScheme=ATTRIBUTE:", adxMsg(good), 400, "?orgUnitIdScheme", []string{"ATTRIBUTE:<the identifier system"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, s := c.postADX(tc.query, tc.body)
				if r.status != tc.status || s.Response.Status != "ERROR" {
					t.Fatalf("got %d %s, want %d ERROR: %s", r.status, s.Response.Status, tc.status, r)
				}
				wantConflict(t, r, s, tc.object, tc.words...)
			})
		}
		r := c.do("POST", strings.TrimSuffix(c.base, "/fhir")+"/api/dataValueSets", adxMsg(good), "Content-Type", "application/json")
		if r.status != http.StatusUnsupportedMediaType {
			t.Errorf("JSON body: %d %s", r.status, r)
		}
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(0) {
			t.Fatalf("a refused message stored reports: total %v", got)
		}
	})
}

func TestADXImportAtomicMode(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		good := adxGroup(ou+` period="2015-01-01/P1M"`, dv0, `<dataValue dataElement="VCCT_0" `+ma+` value="4"/>`)
		bad := adxGroup(ou+` period="2015-02-01/P1M"`, `<dataValue dataElement="VCCT_0" GENDER="X" HIV_AGE="AGE0-14" value="1"/>`)
		r, s := c.postADX("?atomicMode=ALL", adxMsg(good, bad))
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 3, 0)
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(0) {
			t.Fatalf("atomicMode=ALL stored a group: total %v", got)
		}
		r, s = c.postADX("", adxMsg(good, bad))
		wantCounts(t, r, s, http.StatusOK, "WARNING", 2, 0, 1, 0)
		wantConflict(t, r, s, "/adx/group[2]/dataValue[1]/@GENDER", `"X"`)
	})
}

func TestADXImportRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		c.loadADXDefinitions("Authorization", "Bearer "+k.admin())
		msg := adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, dv0))
		r, _ := c.postADX("", msg)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("no token: %d %s", r.status, r)
		}
		other := k.token(k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"))
		r, s := c.postADX("", msg, "Authorization", "Bearer "+other)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 1, 0)
		wantConflict(t, r, s, "/adx/group[1]")
		readOnly := k.token(k.claims("ou-559", "system/MeasureReport.read", "Location/OU-559"))
		r, s = c.postADX("", msg, "Authorization", "Bearer "+readOnly)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 1, 0)
		own := k.token(k.claims("ou-559", "system/MeasureReport.write", "Location/OU-559"))
		r, s = c.postADX("", msg, "Authorization", "Bearer "+own)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 1, 0, 0, 0)

		// Each import is audited, refused or not, like every write.
		a := c.do("GET", "/AuditEvent?agent=jwt:"+testIssuer+"|ou-559", nil, "Authorization", "Bearer "+k.admin())
		var events struct {
			Entry []struct{ Resource struct{ Outcome string } }
		}
		if err := json.Unmarshal(a.body, &events); err != nil || a.status != http.StatusOK {
			t.Fatalf("AuditEvent search: %d %v %s", a.status, err, a)
		}
		outcomes := map[string]int{}
		for _, e := range events.Entry {
			outcomes[e.Resource.Outcome]++
		}
		if len(events.Entry) != 2 || outcomes["0"] != 1 {
			t.Errorf("AuditEvents of ou-559's two imports: outcomes %v, want one success and one refusal\n%s", outcomes, a)
		}
		if strings.Contains(string(a.body), "measureScore") {
			t.Error("the audit trail holds report content")
		}
	})
}

func TestADXExportRoundTrip(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := []string{"Authorization", "Bearer " + k.admin()}
		c.loadADXDefinitions(admin...)
		body := testdata(t, "adx/dhis2-adx-example.xml")
		r, s := c.postADX("", body, admin...)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)

		api := strings.TrimSuffix(c.base, "/fhir") + "/api/dataValueSets"
		query := "?dataSet=(TB/HIV)VCCT&orgUnit=OU_559&period=2015-06-01/P1M&period=2015-07-01/P1M"
		out := c.do("GET", api+query, nil, append([]string{"Accept", "application/adx+xml"}, admin...)...)
		if out.status != http.StatusOK || !strings.HasPrefix(out.header.Get("Content-Type"), "application/adx+xml") {
			t.Fatalf("export: %d %s %s", out.status, out.header.Get("Content-Type"), out)
		}
		for _, want := range []string{`<adx xmlns="urn:ihe:qrph:adx:2015"`, `dataSet="(TB/HIV)VCCT" orgUnit="OU_559" period="2015-06-01/P1M" completeDate="2015-07-01"`,
			`<dataValue dataElement="VCCT_0" value="128"></dataValue>`, `<dataValue dataElement="VCCT_0" GENDER="FMLE" HIV_AGE="AGE0-14" value="32"></dataValue>`} {
			if !strings.Contains(string(out.body), want) {
				t.Errorf("export lacks %s:\n%s", want, out)
			}
		}
		checkADXSchema(t, out.body)
		if n := strings.Count(string(out.body), "<group "); n != 1 {
			t.Errorf("%d groups exported, want 1 (July is not stored)", n)
		}
		// ADX in, ADX out, ADX in again: the same report, so nothing changes.
		r, s = c.postADX("", out.body, admin...)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 0, 25, 0)

		// A facility token reads only its own facility's reports.
		other := k.token(k.claims("healthpost-1", "system/MeasureReport.read", "Location/HealthPost1"))
		// Reports it may not read are left out, as in a search; with none
		// left, 404 (an ADX message must hold a group).
		if r := c.do("GET", api+query, nil, "Authorization", "Bearer "+other); r.status != http.StatusNotFound {
			t.Errorf("another facility's token: %d %s", r.status, r)
		}
		own := k.token(k.claims("ou-559", "system/MeasureReport.read", "Location/OU-559"))
		if r := c.do("GET", api+query, nil, "Authorization", "Bearer "+own); r.status != http.StatusOK {
			t.Errorf("the facility's own token: %d %s", r.status, r)
		}
		if r := c.do("GET", api+"?dataSet=NOPE&orgUnit=OU_559&period=2015-06-01/P1M", nil, admin...); r.status != http.StatusConflict ||
			!strings.Contains(string(r.body), "?dataSet=NOPE") {
			t.Errorf("unknown dataSet: %d %s", r.status, r)
		}
	})
}

// checkADXSchema validates ADX written by madx against the IHE schema
// with xmllint (internal/adxlint: required in CI).
func checkADXSchema(t *testing.T, doc []byte) {
	t.Helper()
	adxlint.Check(t, doc)
}
