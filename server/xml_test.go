package server_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
)

// xmlRoot returns the root element name and namespace of an XML answer.
func xmlRoot(tb testing.TB, r response) (name, ns string) {
	tb.Helper()
	d := xml.NewDecoder(strings.NewReader(string(r.body)))
	for {
		tok, err := d.Token()
		if err != nil {
			tb.Fatalf("answer is not XML (%d): %v\n%s", r.status, err, r)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, se.Name.Space
		}
	}
}

// TestXMLInteractions runs every core interaction once in FHIR XML.
func TestXMLInteractions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		x := []string{"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml"}

		r := c.do("GET", "/Measure/madx-hiv-indicator-example", nil, "Accept", "application/fhir+xml")
		if name, ns := xmlRoot(t, r); r.status != http.StatusOK || name != "Measure" || ns != "http://hl7.org/fhir" {
			t.Fatalf("GET Measure as XML: %d <%s xmlns=%s>", r.status, name, ns)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/fhir+xml; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}

		body := testdata(t, "madx/xml/MeasureReport-mADX-MeasureReport-example-literal-subject.xml")
		r = c.do("PUT", "/MeasureReport/mADX-MeasureReport-example-literal-subject", body, x...)
		if name, _ := xmlRoot(t, r); r.status != http.StatusCreated || name != "MeasureReport" {
			t.Fatalf("PUT MeasureReport XML: %d <%s> %s", r.status, name, r)
		}
		// What was stored reads back as JSON with the same content.
		if j := c.do("GET", "/MeasureReport/mADX-MeasureReport-example-literal-subject", nil).json(t); j["status"] != "pending" {
			t.Errorf("the XML report read back as JSON: %v", j["status"])
		}

		bad := strings.Replace(string(body), `value="female"`, `value="F"`, 1)
		r = c.do("PUT", "/MeasureReport/x-bad", []byte(strings.Replace(bad, `value="mADX-MeasureReport-example-literal-subject"`, `value="x-bad"`, 1)), x...)
		if name, _ := xmlRoot(t, r); r.status != http.StatusUnprocessableEntity || name != "OperationOutcome" || !strings.Contains(string(r.body), `<expression value="MeasureReport.group[0].stratifier[0]`) {
			t.Fatalf("invalid XML report: %d <%s> %s", r.status, name, r)
		}

		// The collection holds January for HealthPost1 under another id:
		// free that business key first (see TestResubmittedReport).
		if r := c.do("DELETE", "/MeasureReport/mADX-MeasureReport-example-literal-subject", nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d", r.status)
		}
		r = c.do("POST", "/", testdata(t, "madx/xml/Bundle-hiv-monthly-collection.xml"), x...)
		if name, _ := xmlRoot(t, r); r.status != http.StatusOK || name != "Bundle" || strings.Count(string(r.body), "<entry>") != 12 {
			t.Fatalf("collection Bundle in XML: %d <%s> %s", r.status, name, r)
		}

		r = c.do("GET", "/MeasureReport/mADX-MeasureReport-example-literal-subject/_history", nil, "Accept", "application/fhir+xml")
		// (a history with a deletion entry: request without resource)
		if name, _ := xmlRoot(t, r); r.status != http.StatusOK || name != "Bundle" {
			t.Fatalf("history in XML: %d <%s>", r.status, name)
		}

		r = c.do("PUT", "/MeasureReport/x", []byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><MeasureReport xmlns="http://hl7.org/fhir">&a;</MeasureReport>`), x...)
		if name, _ := xmlRoot(t, r); r.status != http.StatusBadRequest || name != "OperationOutcome" {
			t.Fatalf("DOCTYPE: %d <%s> %s", r.status, name, r)
		}
	})
}

// TestNegotiation is the Accept x _format x Content-Type matrix.
func TestNegotiation(t *testing.T) {
	c := newClient(t, openSQLite(t))
	c.loadDefinitions()
	const json, xmlType = "application/fhir+json; charset=utf-8", "application/fhir+xml; charset=utf-8"
	tests := []struct {
		name   string
		query  string
		accept string
		status int
		ct     string
	}{
		{"no Accept", "", "", 200, json},
		{"fhir+json", "", "application/fhir+json", 200, json},
		{"json", "", "application/json", 200, json},
		{"fhir+xml", "", "application/fhir+xml", 200, xmlType},
		{"xml", "", "application/xml", 200, xmlType},
		{"text/xml", "", "text/xml", 200, xmlType},
		{"any", "", "*/*", 200, json},
		{"quality picks xml", "", "application/fhir+json;q=0.5, application/fhir+xml;q=0.9", 200, xmlType},
		{"quality picks json", "", "application/fhir+xml;q=0.1, application/fhir+json", 200, json},
		{"browser", "", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, xmlType},
		{"html only", "", "text/html", 406, json},
		{"_format=xml wins over Accept", "?_format=xml", "application/fhir+json", 200, xmlType},
		{"_format=json wins over Accept", "?_format=json", "application/fhir+xml", 200, json},
		{"_format MIME type", "?_format=application/fhir%2Bxml", "", 200, xmlType},
		{"_format unknown", "?_format=yaml", "", 406, json},
		{"_pretty", "?_pretty=true", "", 200, json},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.accept != "" {
				h = []string{"Accept", tc.accept}
			}
			r := c.do("GET", "/Measure/madx-hiv-indicator-example"+tc.query, nil, h...)
			if r.status != tc.status || r.header.Get("Content-Type") != tc.ct {
				t.Fatalf("%d %q, want %d %q", r.status, r.header.Get("Content-Type"), tc.status, tc.ct)
			}
			if tc.query == "?_pretty=true" && !strings.Contains(string(r.body), "\n  ") {
				t.Errorf("_pretty=true did not indent")
			}
		})
	}

	report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	reportXML := testdata(t, "madx/xml/MeasureReport-mADX-MeasureReport-example-literal-subject.xml")
	bodies := []struct {
		name        string
		contentType string
		body        []byte
		status      int
	}{
		{"fhir+json", "application/fhir+json", report, 201},
		{"json", "application/json", report, 200},
		{"json with charset", "application/fhir+json; charset=UTF-8", report, 200},
		{"fhir+xml", "application/fhir+xml", reportXML, 200},
		{"xml", "application/xml", reportXML, 200},
		{"text/xml", "text/xml", reportXML, 200},
		{"XML body sent as JSON", "application/fhir+json", reportXML, 400},
		{"form type", "application/x-www-form-urlencoded", report, 415},
		{"text/plain", "text/plain", report, 415},
		{"latin-1", "application/fhir+xml; charset=ISO-8859-1", reportXML, 415},
	}
	for _, tc := range bodies {
		t.Run("Content-Type "+tc.name, func(t *testing.T) {
			r := c.do("PUT", "/MeasureReport/mADX-MeasureReport-example-literal-subject", tc.body, "Content-Type", tc.contentType)
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r)
			}
			if tc.status >= 400 {
				wantOutcome(t, r, tc.status)
			}
		})
	}
}
