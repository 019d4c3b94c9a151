package server_test

import (
	"bytes"
	"net/http"
	"testing"
)

// TestWriteEchoesTheStoredBody: the representation a PUT answers with is
// made from the plan's own encoding, not by unpacking the stored body; it
// must be byte for byte what a read returns (meta included).
func TestWriteEchoesTheStoredBody(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		body := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
		path := "/MeasureReport/mADX-MeasureReport-example-literal-subject"
		for _, want := range []int{http.StatusCreated, http.StatusOK} {
			put := c.do("PUT", path, body)
			if put.status != want {
				t.Fatalf("PUT: %s", put)
			}
			get := c.do("GET", path, nil)
			if !bytes.Equal(put.body, get.body) {
				t.Errorf("PUT (%d) answered\n%s\nbut a read gives\n%s", want, put.body, get.body)
			}
			body = bytes.Replace(body, []byte(`"count": 426`), []byte(`"count": 427`), 1)
		}
	})
}
