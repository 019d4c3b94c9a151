package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// loadADXHierarchy adds two Locations below OU_559 (testdata/adx/definitions):
// OU_559_A, partOf OU-559, and OU_559_A1, partOf OU_559_A.
func (c *client) loadADXHierarchy(headers ...string) {
	c.tb.Helper()
	for _, l := range []struct{ id, code, parent string }{{"OU-559-A", "OU_559_A", "OU-559"}, {"OU-559-A1", "OU_559_A1", "OU-559-A"}} {
		body := `{"resourceType":"Location","id":"` + l.id + `","status":"active","mode":"instance","name":"` + l.code + `",
			"identifier":[{"system":"http://example.org/dhis2/orgUnit","value":"` + l.code + `"}],
			"managingOrganization":{"reference":"Organization/OU-559"},"partOf":{"reference":"Location/` + l.parent + `"}}`
		if r := c.do("PUT", "/Location/"+l.id, []byte(body), headers...); r.status >= 300 {
			c.tb.Fatalf("PUT Location/%s: %d %s", l.id, r.status, r)
		}
	}
}

// exportGroups is the "orgUnit period" of each group of an ADX export.
func exportGroups(tb testing.TB, r response) []string {
	tb.Helper()
	var out []string
	for _, m := range regexp.MustCompile(`orgUnit="([^"]*)" period="([^"]*)"`).FindAllStringSubmatch(string(r.body), -1) {
		out = append(out, m[1]+" "+m[2])
	}
	slices.Sort(out)
	return out
}

// getADX sends an export query to /api/dataValueSets.
func (c *client) getADX(query string, headers ...string) response {
	c.tb.Helper()
	return c.do("GET", strings.TrimSuffix(c.base, "/fhir")+"/api/dataValueSets"+query, nil, append([]string{"Accept", "application/adx+xml"}, headers...)...)
}

func TestADXExportFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		c.loadADXHierarchy()
		group := func(orgUnit, period string) string {
			return adxGroup(`dataSet="(TB/HIV)VCCT" orgUnit="`+orgUnit+`" period="`+period+`"`, dv0)
		}
		r, s := c.postADX("", adxMsg(group("OU_559", "2015-01-01/P1M"), group("OU_559", "2015-02-01/P1M"),
			group("OU_559_A", "2015-01-01/P1M"), group("OU_559_A1", "2015-01-01/P3M")))
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 4, 0, 0, 0)
		time.Sleep(20 * time.Millisecond)
		between := time.Now().UTC()
		time.Sleep(20 * time.Millisecond)
		r, s = c.postADX("", adxMsg(group("OU_559", "2016-01-01/P1M"), group("OU_559_A1", "2015-04-01/P1M")))
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 2, 0, 0, 0)

		const ds = "?dataSet=(TB/HIV)VCCT"
		since := url.QueryEscape(between.Format("2006-01-02T15:04:05.000Z07:00"))
		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"period", ds + "&orgUnit=OU_559&period=2015-01-01/P1M", []string{"OU_559 2015-01-01/P1M"}},
			{"two periods", ds + "&orgUnit=OU_559&period=2015-01-01/P1M&period=2015-02-01/P1M", []string{"OU_559 2015-01-01/P1M", "OU_559 2015-02-01/P1M"}},
			{"a period is not a span", ds + "&orgUnit=OU_559_A1&period=2015-01-01/P1M", nil},
			{"children", ds + "&orgUnit=OU_559&children=true&period=2015-01-01/P1M", []string{"OU_559 2015-01-01/P1M", "OU_559_A 2015-01-01/P1M"}},
			{"children at any depth", ds + "&orgUnit=OU_559&children=true&period=2015-01-01/P3M", []string{"OU_559_A1 2015-01-01/P3M"}},
			{"children of a child", ds + "&orgUnit=OU_559_A&children=true&startDate=2015-01-01&endDate=2015-12-31",
				[]string{"OU_559_A 2015-01-01/P1M", "OU_559_A1 2015-01-01/P3M", "OU_559_A1 2015-04-01/P1M"}},
			{"without children", ds + "&orgUnit=OU_559&children=false&startDate=2015-01-01&endDate=2015-12-31",
				[]string{"OU_559 2015-01-01/P1M", "OU_559 2015-02-01/P1M"}},
			{"startDate/endDate: periods within", ds + "&orgUnit=OU_559&children=true&startDate=2015-01-01&endDate=2015-03-31",
				[]string{"OU_559 2015-01-01/P1M", "OU_559 2015-02-01/P1M", "OU_559_A 2015-01-01/P1M", "OU_559_A1 2015-01-01/P3M"}},
			{"a period not wholly within is left out", ds + "&orgUnit=OU_559&children=true&startDate=2015-01-15&endDate=2015-03-15",
				[]string{"OU_559 2015-02-01/P1M"}},
			{"lastUpdated alone", ds + "&orgUnit=OU_559&children=true&lastUpdated=" + since,
				[]string{"OU_559 2016-01-01/P1M", "OU_559_A1 2015-04-01/P1M"}},
			{"lastUpdated with startDate/endDate", ds + "&orgUnit=OU_559&children=true&startDate=2015-01-01&endDate=2015-12-31&lastUpdated=" + since,
				[]string{"OU_559_A1 2015-04-01/P1M"}},
			{"lastUpdatedDuration", ds + "&orgUnit=OU_559&period=2016-01-01/P1M&lastUpdatedDuration=1d", []string{"OU_559 2016-01-01/P1M"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.getADX(tc.query)
				if tc.want == nil {
					if r.status != http.StatusNotFound {
						t.Fatalf("want 404 (nothing matches), got %d %s", r.status, r)
					}
					return
				}
				if r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r)
				}
				if diff := cmp.Diff(tc.want, exportGroups(t, r)); diff != "" {
					t.Errorf("groups (-want +got):\n%s\n%s", diff, r)
				}
				checkADXSchema(t, r.body)
			})
		}
	})
}

func TestADXExportRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		const ds, ou = "dataSet=(TB/HIV)VCCT", "&orgUnit=OU_559"
		for _, tc := range []struct {
			name, query string
			status      int
			object      string
			words       []string
		}{
			{"no dataSet", "?period=2015-01-01/P1M" + ou, 409, "?dataSet", []string{"E2001"}},
			{"no period, dates or lastUpdated", "?" + ds + ou, 409, "?period", []string{"E2002", "start/end dates"}},
			{"startDate alone", "?" + ds + ou + "&startDate=2015-01-01", 409, "?startDate", []string{"E2002", "endDate"}},
			{"period and dates", "?" + ds + ou + "&period=2015-01-01/P1M&startDate=2015-01-01&endDate=2015-02-01", 409, "?period", []string{"E2003"}},
			{"start after end", "?" + ds + ou + "&startDate=2015-03-01&endDate=2015-02-01", 409, "?startDate", []string{"E2004"}},
			{"no orgUnit", "?" + ds + "&period=2015-01-01/P1M", 409, "?orgUnit", []string{"E2006"}},
			{"bad startDate", "?" + ds + ou + "&startDate=2015-01&endDate=2015-02-01", 400, "?startDate", []string{"YYYY-MM-DD"}},
			{"bad children", "?" + ds + ou + "&period=2015-01-01/P1M&children=yes", 400, "?children", []string{"true or false"}},
			{"bad lastUpdated", "?" + ds + ou + "&lastUpdated=yesterday", 400, "?lastUpdated", []string{"not a FHIR date"}},
			{"bad lastUpdatedDuration", "?" + ds + ou + "&lastUpdatedDuration=2w", 400, "?lastUpdatedDuration", []string{"10d"}},
			{"bad period", "?" + ds + ou + "&period=2015-01", 409, "?period=2015-01", []string{"start/duration"}},
			{"unknown orgUnit", "?" + ds + "&orgUnit=NOPE&children=true&period=2015-01-01/P1M", 409, "?orgUnit=NOPE", []string{"Location.identifier"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("GET", strings.TrimSuffix(c.base, "/fhir")+"/api/dataValueSets"+tc.query, nil)
				var s importSummary
				if err := json.Unmarshal(r.body, &s); err != nil || r.status != tc.status || s.Response.Status != "ERROR" {
					t.Fatalf("got %d %s (%v), want %d ERROR: %s", r.status, s.Response.Status, err, tc.status, r)
				}
				wantConflict(t, r, s, tc.object, tc.words...)
			})
		}
	})
}

// TestADXExportAndFHIRSideRights: children=true and the FHIR-side ADX widen
// nothing: a facility token sees the reports of its Location and those
// below it (docs/security.md), as in a FHIR search, and no others.
func TestADXExportAndFHIRSideRights(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		admin := []string{"Authorization", "Bearer " + k.admin()}
		c.loadADXDefinitions(admin...)
		c.loadADXHierarchy(admin...)
		group := func(orgUnit string) string {
			return adxGroup(`dataSet="(TB/HIV)VCCT" orgUnit="`+orgUnit+`" period="2015-01-01/P1M"`, dv0)
		}
		r, s := c.postADX("", adxMsg(group("OU_559"), group("OU_559_A")), admin...)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 2, 0, 0, 0)
		const q = "?dataSet=(TB/HIV)VCCT&orgUnit=OU_559&children=true&period=2015-01-01/P1M"
		if got := exportGroups(t, c.getADX(q, admin...)); len(got) != 2 {
			t.Errorf("admin: %v, want both", got)
		}
		child := []string{"Authorization", "Bearer " + k.token(k.claims("ou-559-a", "system/MeasureReport.read", "Location/OU-559-A"))}
		if diff := cmp.Diff([]string{"OU_559_A 2015-01-01/P1M"}, exportGroups(t, c.getADX(q, child...))); diff != "" {
			t.Errorf("OU-559-A's token, children=true of OU-559 (-want +got):\n%s", diff)
		}
		search := c.do("GET", "/MeasureReport", nil, append([]string{"Accept", "application/adx+xml"}, child...)...)
		if diff := cmp.Diff([]string{"OU_559_A 2015-01-01/P1M"}, exportGroups(t, search)); diff != "" {
			t.Errorf("OU-559-A's token, FHIR search as ADX (-want +got):\n%s", diff)
		}
		other := []string{"Authorization", "Bearer " + k.token(k.claims("healthpost-1", "system/MeasureReport.read", "Location/HealthPost1"))}
		if r := c.do("GET", "/MeasureReport", nil, append([]string{"Accept", "application/adx+xml"}, other...)...); r.status != http.StatusNotFound {
			t.Errorf("another facility's token, FHIR search as ADX: %d %s", r.status, r)
		}
	})
}
