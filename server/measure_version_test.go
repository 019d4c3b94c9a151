package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestNewMeasureVersionKeepsCorrections: a stored report is pinned to the
// Measure version that validated it (searchable as validated-against), and
// publishing a new version does not turn away a correction of a period
// reported under the old one; new periods are held to the new version.
func TestNewMeasureVersionKeepsCorrections(t *testing.T) {
	const url = "http://ohie.org/Measure/madx-hiv-indicator-example"
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		jan := report(t, "jan", "HealthPost1", 1)
		if r := c.do("PUT", "/MeasureReport/jan", jan); r.status != http.StatusCreated {
			t.Fatalf("January under 0.0.1: %d %s", r.status, r)
		}
		// 0.0.2 renames the group: a 0.0.1 report no longer meets it.
		m := string(testdata(t, "madx/definitions/Measure-madx-hiv-indicator-example.json"))
		m = strings.Replace(m, `"id": "madx-hiv-indicator-example"`, `"id": "madx-hiv-indicator-example-2"`, 1)
		m = strings.Replace(m, `"version": "0.0.1"`, `"version": "0.0.2"`, 1)
		m = strings.Replace(m, `"code":"QRPH_mADX_ART1_N"`, `"code":"QRPH_mADX_ART1_N_V2"`, 1)
		if r := c.do("PUT", "/Measure/madx-hiv-indicator-example-2", []byte(m)); r.status != http.StatusCreated {
			t.Fatalf("publish 0.0.2: %d %s", r.status, r)
		}

		r := c.do("PUT", "/MeasureReport/jan", []byte(strings.Replace(string(jan), `"count": 426`, `"count": 427`, 1)), "Prefer", "return=OperationOutcome")
		if r.status != http.StatusOK {
			t.Fatalf("correction of January after 0.0.2: %d, want 200 (checked against 0.0.1, which accepted January): %s", r.status, r)
		}
		if !strings.Contains(r.String(), "version 0.0.1") || !strings.Contains(r.String(), "0.0.2") {
			t.Errorf("the correction's warning should name both versions: %s", r)
		}
		if r := c.do("PUT", "/MeasureReport/feb", report(t, "feb", "HealthPost1", 2)); r.status != http.StatusUnprocessableEntity {
			t.Errorf("a new period in 0.0.1's shape: %d, want 422 (held to 0.0.2): %s", r.status, r)
		}
		mar := strings.Replace(string(report(t, "mar", "HealthPost1", 3)), `"code":"QRPH_mADX_ART1_N"`, `"code":"QRPH_mADX_ART1_N_V2"`, 1)
		if r := c.do("PUT", "/MeasureReport/mar", []byte(mar)); r.status != http.StatusCreated {
			t.Fatalf("a new period in 0.0.2's shape: %d %s", r.status, r)
		}
		for q, want := range map[string]string{
			"validated-against=" + url + "|0.0.1": "jan",
			"validated-against=" + url + "|0.0.2": "mar",
			"validated-against=" + url + "|":      "jan,mar",
		} {
			r := c.do("GET", "/MeasureReport?_sort=_id&"+q, nil)
			var ids []string
			for _, e := range r.json(t)["entry"].([]any) {
				ids = append(ids, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
			}
			if got := strings.Join(ids, ","); got != want {
				t.Errorf("?%s: %s, want %s", q, got, want)
			}
		}
	})
}
