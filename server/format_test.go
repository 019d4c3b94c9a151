package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestFormatWithUnescapedPlus: _format=application/fhir+xml sent with a raw
// '+' (which a query string reads as a space) still selects XML (issue 11,
// defect 15; it answered 406).
func TestFormatWithUnescapedPlus(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		for _, q := range []string{"_format=application/fhir+xml", "_format=application/fhir%2Bxml", "_format=xml"} {
			r := c.do("GET", "/Measure/madx-hiv-indicator-example?"+q, nil)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+xml") {
				t.Errorf("?%s: %d %s, want 200 FHIR XML", q, r.status, r.header.Get("Content-Type"))
			}
		}
	})
}
