package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const emrSystem = "http://emr.example.org/fhir/sid/facility"

// TestADXImportSiteCodes: a sender's own facility codes (docs/adx.md, Site
// codes), tied to it by its token's madx_site_system, reach the
// jurisdiction's Location through the ConceptMap it uploaded; rights apply
// to that Location.
func TestADXImportSiteCodes(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := []string{"Authorization", "Bearer " + k.admin()}
		c.loadADXDefinitions(admin...)
		if r := c.do("PUT", "/ConceptMap/emr-orgunits", testdata(t, "adx/sites/ConceptMap-emr-orgunits.json"), admin...); r.status != http.StatusCreated {
			t.Fatalf("upload the ConceptMap: %d %s", r.status, r)
		}
		// A map to a Location that is not stored is kept, with a warning.
		stray := `{"resourceType":"ConceptMap","id":"stray","status":"active","group":[{"source":"http://emr.example.org/fhir/sid/facility","element":[{"code":"EMR-1","target":[{"code":"OU-404","equivalence":"equivalent"}]}]}]}`
		if r := c.do("PUT", "/ConceptMap/stray", []byte(stray), append([]string{"Prefer", "return=OperationOutcome"}, admin...)...); r.status != http.StatusCreated ||
			!strings.Contains(string(r.body), "ConceptMap.group[0].element[0].target[0].code") || !strings.Contains(string(r.body), "Location/OU-404") {
			t.Errorf("a map to no stored Location: %d %s", r.status, r)
		}
		sender := func(sub string, rights ...string) []string {
			cl := k.claims(sub, "system/MeasureReport.write system/MeasureReport.read", rights...)
			cl["madx_site_system"] = emrSystem
			return []string{"Authorization", "Bearer " + k.token(cl)}
		}
		emr := sender("emr-559", "Location/OU-559")
		group := func(orgUnit, period string) string {
			return adxGroup(`orgUnit="`+orgUnit+`" dataSet="(TB/HIV)VCCT" period="`+period+`"`, dv0)
		}

		// Mapped through the jurisdiction's identifier system.
		r, s := c.postADX("", adxMsg(group("EMR-559", "2015-01-01/P1M")), emr...)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 1, 0, 0, 0)
		stored := c.do("GET", "/MeasureReport?subject=Location/OU-559", nil, admin...)
		if !strings.Contains(string(stored.body), `"subject":{"identifier":{"system":"`+emrSystem+`","value":"EMR-559"},"reference":"Location/OU-559"}`) {
			t.Errorf("the stored report does not name the Location and keep the code:\n%s", stored)
		}
		// Mapped by Location id (the map's second group).
		r, s = c.postADX("", adxMsg(group("EMR-559-OLD", "2015-02-01/P1M")), emr...)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 1, 0, 0, 0)

		// The Location's own code is not a code of the sender's system.
		r, s = c.postADX("", adxMsg(group("OU_559", "2015-03-01/P1M")), emr...)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 1, 0)
		wantConflict(t, r, s, "/adx/group[1]/@orgUnit", `"OU_559"`, emrSystem, "ConceptMap/emr-orgunits")
		r, s = c.postADX("", adxMsg(group("EMR-404", "2015-03-01/P1M")), emr...)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 1, 0)
		wantConflict(t, r, s, "/adx/group[1]/@orgUnit", `"EMR-404"`, emrSystem, "not mapped")

		// Rights are on the resolved Location: another facility's token of
		// the same EMR may not send OU-559's code.
		other := sender("emr-hp1", "Location/HealthPost1")
		r, s = c.postADX("", adxMsg(group("EMR-559", "2015-03-01/P1M")), other...)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 1, 0)
		wantConflict(t, r, s, "/adx/group[1]/@orgUnit", "Location/OU-559", "may not report for")

		// A token's system cannot be swapped for another by the parameter.
		r, s = c.postADX("?orgUnitIdScheme=ATTRIBUTE:http://example.org/dhis2/orgUnit", adxMsg(group("OU_559", "2015-03-01/P1M")), emr...)
		if r.status != http.StatusBadRequest {
			t.Fatalf("another system than the token's: %d %s", r.status, r)
		}
		wantConflict(t, r, s, "?orgUnitIdScheme", emrSystem)

		// A client without a system in its credential (a mediator relaying
		// the EMR) names it with DHIS2's ATTRIBUTE scheme: the same report,
		// identical, so ignored.
		r, s = c.postADX("?orgUnitIdScheme=ATTRIBUTE:"+url.QueryEscape(emrSystem), adxMsg(group("EMR-559", "2015-01-01/P1M")), admin...)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 0, 1, 0)

		// Two codes that the map sends to one Location are one report:
		// neither group is imported, whatever their order.
		r, s = c.postADX("", adxMsg(group("EMR-559", "2015-04-01/P1M"), group("EMR-559-OLD", "2015-04-01/P1M")), emr...)
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 2, 0)
		wantConflict(t, r, s, "/adx/group[2]", "group[1], group[2]", "same report")
	})
}

// TestADXImportWarningsAndDryRun: the warnings of an accepted report are in
// the ImportSummary (WARNING, with conflicts), and a dry run counts an
// identical resubmission as ignored, as the real import does.
func TestADXImportWarningsAndDryRun(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		// The total of VCCT_0 is 10, its strata add up to 7: accepted, with
		// the validator's warning (docs/validation.md).
		msg := adxMsg(adxGroup(ou+` period="2015-01-01/P1M"`, `<dataValue dataElement="VCCT_0" value="10"/>`, dv0,
			`<dataValue dataElement="VCCT_0" `+ma+` value="4"/>`))
		r, s := c.postADX("?dryRun=true", msg)
		wantCounts(t, r, s, http.StatusOK, "WARNING", 3, 0, 0, 0)
		wantConflict(t, r, s, "/adx/group[1]/dataValue[1]", "warning:", "10")
		r, s = c.postADX("", msg)
		wantCounts(t, r, s, http.StatusOK, "WARNING", 3, 0, 0, 0)
		if s.Status != "WARNING" {
			t.Errorf("WebMessage status %q, want WARNING", s.Status)
		}
		if got := c.do("GET", "/MeasureReport", nil).json(t)["total"]; got != float64(1) {
			t.Fatalf("the report with warnings is not stored: total %v", got)
		}

		good := adxMsg(adxGroup(ou+` period="2015-02-01/P1M"`, dv0))
		r, s = c.postADX("", good)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 1, 0, 0, 0)
		r, s = c.postADX("?dryRun=true", good)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 0, 1, 0)
		changed := adxMsg(adxGroup(ou+` period="2015-02-01/P1M"`, strings.Replace(dv0, `value="3"`, `value="5"`, 1)))
		r, s = c.postADX("?dryRun=true", changed)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 0, 1, 0, 0)
		// An identical group beside a refused one: the refusal decides.
		bad := adxGroup(ou+` period="2015-03-01/P1M"`, `<dataValue dataElement="VCCT_0" GENDER="X" HIV_AGE="AGE0-14" value="1"/>`)
		r, s = c.postADX("?dryRun=true", []byte(strings.Replace(string(good), "</adx>", bad+"</adx>", 1)))
		wantCounts(t, r, s, http.StatusConflict, "ERROR", 0, 0, 2, 0)
	})
}
