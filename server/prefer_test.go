package server_test

import (
	"net/http"
	"testing"
)

// TestPreferReturnMinimalBesideOtherPreferences: return=minimal is honoured
// whatever preferences stand beside it and however they are separated
// (issue 11, defect 7: handling=lenient, return=minimal echoed the body).
func TestPreferReturnMinimalBesideOtherPreferences(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		for i, prefer := range []string{
			"return=minimal",
			"handling=lenient, return=minimal",
			"handling=lenient; return=minimal",
			`return="minimal", handling=strict`,
		} {
			id := "prefer-" + string(rune('a'+i))
			r := c.do("PUT", "/MeasureReport/"+id, report(t, id, "HealthPost1", i+1), "Prefer", prefer)
			if r.status != http.StatusCreated {
				t.Fatalf("Prefer %q: status %d: %s", prefer, r.status, r)
			}
			if len(r.body) != 0 {
				t.Errorf("Prefer %q: a body of %d bytes came back, want none", prefer, len(r.body))
			}
		}
	})
}
