package server_test

import (
	"context"
	"fmt"
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

// TestHeadAndConditionalRead: HEAD answers like GET without a body, and a
// read answers 304 to If-None-Match with the current ETag or to an
// If-Modified-Since not before its Last-Modified (issue 11, defect 16).
func TestHeadAndConditionalRead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		path := "/Measure/madx-hiv-indicator-example"
		get := c.do("GET", path, nil)
		head := c.do("HEAD", path, nil)
		if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("ETag") != get.header.Get("ETag") {
			t.Errorf("HEAD: %d, %d body bytes, ETag %q (GET's %q)", head.status, len(head.body), head.header.Get("ETag"), get.header.Get("ETag"))
		}
		for _, tc := range []struct {
			name, header, value string
			want                int
		}{
			{"current ETag", "If-None-Match", get.header.Get("ETag"), http.StatusNotModified},
			{"other ETag", "If-None-Match", `W/"999"`, http.StatusOK},
			{"not modified since", "If-Modified-Since", get.header.Get("Last-Modified"), http.StatusNotModified},
			{"modified since", "If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT", http.StatusOK},
		} {
			if r := c.do("GET", path, nil, tc.header, tc.value); r.status != tc.want {
				t.Errorf("%s (%s: %s): %d, want %d", tc.name, tc.header, tc.value, r.status, tc.want)
			}
		}
	})
}

// TestInstanceHistoryPages: instance history honours _count and links to
// the next page, newest first, total counting every version (issue 11,
// defect 12: it returned every version on one page).
func TestInstanceHistoryPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		for i := 1; i <= 3; i++ {
			loc := fmt.Sprintf(`{"resourceType":"Location","id":"Paged","name":"Paged %d"}`, i)
			if r := c.do("PUT", "/Location/Paged", []byte(loc)); r.status >= 300 {
				t.Fatalf("PUT %d: %d %s", i, r.status, r)
			}
		}
		page := func(path string) (versions []string, next string) {
			t.Helper()
			m := c.do("GET", path, nil).json(t)
			if m["total"] != float64(3) {
				t.Errorf("%s: total %v, want 3", path, m["total"])
			}
			for _, e := range m["entry"].([]any) {
				meta := e.(map[string]any)["resource"].(map[string]any)["meta"].(map[string]any)
				versions = append(versions, meta["versionId"].(string))
			}
			for _, l := range m["link"].([]any) {
				if l.(map[string]any)["relation"] == "next" {
					next = strings.TrimPrefix(l.(map[string]any)["url"].(string), c.base)
				}
			}
			return versions, next
		}
		v1, next := page("/Location/Paged/_history?_count=2")
		if strings.Join(v1, ",") != "3,2" || next == "" {
			t.Fatalf("first page %v, next %q; want versions 3,2 and a next link", v1, next)
		}
		v2, next := page(next)
		if strings.Join(v2, ",") != "1" || next != "" {
			t.Errorf("second page %v, next %q; want version 1 and no next link", v2, next)
		}
	})
}
