package server_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/adx"
)

// adxValues is every value of an ADX message as "orgUnit period
// dataElement attr=value... = value", sorted; totals (values without
// disaggregation) are left out when strataOnly.
func adxValues(tb testing.TB, body []byte, strataOnly bool) []string {
	tb.Helper()
	m, err := adx.Parse(body, adx.Limits{})
	if err != nil {
		tb.Fatalf("not ADX: %v\n%s", err, body)
	}
	var out []string
	for _, g := range m.Groups {
		for _, v := range g.Values {
			if strataOnly && len(v.Disaggs) == 0 {
				continue
			}
			var attrs []string
			for _, a := range v.Disaggs {
				attrs = append(attrs, a.Name+"="+a.Value)
			}
			slices.Sort(attrs)
			out = append(out, g.OrgUnit+" "+g.Period+" "+v.DataElement+" "+strings.Join(attrs, " ")+" = "+v.Value)
		}
	}
	slices.Sort(out)
	return out
}

// withoutExported drops adx/@exported, the one attribute two exports of
// the same reports differ by.
func withoutExported(b []byte) string {
	return regexp.MustCompile(` exported="[^"]*"`).ReplaceAllString(string(b), "")
}

// TestADXFromFHIR: Accept: application/adx+xml (or _format=adx) on a
// MeasureReport read or search gives the ADX the export gives; any other
// answer is negotiated among the FHIR formats, and ADX alone is a 406.
func TestADXFromFHIR(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadADXDefinitions()
		in := testdata(t, "adx/dhis2-adx-example.xml")
		r, s := c.postADX("", in)
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 20, 0, 0, 0)
		export := c.getADX("?dataSet=(TB/HIV)VCCT&orgUnit=OU_559&period=2015-06-01/P1M")
		if export.status != http.StatusOK {
			t.Fatalf("export: %d %s", export.status, export)
		}
		// The round trip keeps every value sent (the export adds the totals).
		if diff := cmp.Diff(adxValues(t, in, false), adxValues(t, export.body, true)); diff != "" {
			t.Errorf("values sent and exported differ (-sent +exported):\n%s", diff)
		}
		id := c.do("GET", "/MeasureReport", nil).json(t)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["id"].(string)

		for _, tc := range []struct{ name, path, accept string }{
			{"read, Accept", "/MeasureReport/" + id, "application/adx+xml"},
			{"read, _format", "/MeasureReport/" + id + "?_format=adx", ""},
			{"read, DHIS2's spelling ranked first", "/MeasureReport/" + id, "application/fhir+json;q=0.5, application/xml+adx"},
			{"vread", "/MeasureReport/" + id + "/_history/1", "application/adx+xml"},
			{"search", "/MeasureReport?subject=Location/OU-559", "application/adx+xml"},
			{"search, _format", "/MeasureReport?subject=Location/OU-559&_format=application/adx%2Bxml", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("GET", tc.path, nil, "Accept", tc.accept)
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/adx+xml") {
					t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r)
				}
				if diff := cmp.Diff(withoutExported(export.body), withoutExported(r.body)); diff != "" {
					t.Errorf("not the export's ADX (-export +here):\n%s", diff)
				}
				checkADXSchema(t, r.body)
			})
		}

		// A second report: a page of one has a next link, as a Link header.
		r, s = c.postADX("", adxMsg(adxGroup(ou+` period="2015-07-01/P1M"`, dv0)))
		wantCounts(t, r, s, http.StatusOK, "SUCCESS", 1, 0, 0, 0)
		page := c.do("GET", "/MeasureReport?_count=1&_sort=period", nil, "Accept", "application/adx+xml")
		if page.status != http.StatusOK || strings.Count(string(page.body), "<group ") != 1 || !strings.Contains(page.header.Get("Link"), `rel="next"`) {
			t.Errorf("a page of one: %d Link %q\n%s", page.status, page.header.Get("Link"), page)
		}
		checkADXSchema(t, page.body)

		// A report of a Location with no identifier cannot be named in ADX.
		loc := `{"resourceType":"Location","id":"NOID","status":"active","mode":"instance","name":"no code","managingOrganization":{"reference":"Organization/OU-559"}}`
		if r := c.do("PUT", "/Location/NOID", []byte(loc)); r.status >= 300 {
			t.Fatalf("PUT Location/NOID: %d %s", r.status, r)
		}
		stored := c.do("GET", "/MeasureReport/"+id, nil).body
		stored = []byte(strings.NewReplacer(`"id":"`+id+`"`, `"id":"noid"`, `"reference":"Location/OU-559"`, `"reference":"Location/NOID"`).Replace(string(stored)))
		if r := c.do("PUT", "/MeasureReport/noid", stored); r.status >= 300 {
			t.Fatalf("PUT MeasureReport/noid: %d %s", r.status, r)
		}
		if r := c.do("GET", "/MeasureReport/noid", nil, "Accept", "application/adx+xml"); r.status != http.StatusNotAcceptable ||
			!strings.Contains(string(r.body), "idScheme=uid") {
			t.Errorf("a report ADX cannot name: %d %s", r.status, r)
		}

		for _, tc := range []struct {
			name, path, accept string
			status             int
			contentType        string
		}{
			{"another type, ADX only", "/Measure/dhis2-TBHIV-VCCT", "application/adx+xml", http.StatusNotAcceptable, "application/fhir+json"},
			{"another type, _format=adx", "/Location/OU-559?_format=adx", "", http.StatusNotAcceptable, "application/fhir+json"},
			{"another type, a FHIR format accepted too", "/Measure/dhis2-TBHIV-VCCT", "application/adx+xml, application/fhir+xml;q=0.5", http.StatusOK, "application/fhir+xml"},
			{"a history Bundle", "/MeasureReport/" + id + "/_history", "application/adx+xml", http.StatusNotAcceptable, "application/fhir+json"},
			{"an empty search", "/MeasureReport?subject=Location/NOPE", "application/adx+xml", http.StatusNotFound, "application/fhir+json"},
			{"_elements", "/MeasureReport?_elements=period", "application/adx+xml", http.StatusBadRequest, "application/fhir+json"},
			{"an unknown report", "/MeasureReport/nope", "application/adx+xml", http.StatusNotFound, "application/fhir+json"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do("GET", tc.path, nil, "Accept", tc.accept)
				if r.status != tc.status || !strings.HasPrefix(r.header.Get("Content-Type"), tc.contentType) {
					t.Errorf("got %d %s, want %d %s\n%s", r.status, r.header.Get("Content-Type"), tc.status, tc.contentType, r)
				}
			})
		}
	})
}
