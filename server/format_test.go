package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/madx-project/madx/server"
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

// TestCancelledRequestIsNotA500: a request whose client went away is
// answered (and logged) as 499 client closed request, not as a server
// failure (issue 11, defect 17).
func TestCancelledRequestIsNotA500(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequest("GET", "/fhir/Measure/madx-hiv-indicator-example", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		c.s.ServeHTTP(rec, req)
		if rec.Code != server.StatusClientClosedRequest {
			t.Errorf("status %d, want %d: %s", rec.Code, server.StatusClientClosedRequest, rec.Body)
		}
	})
}
