package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
)

// scheduled is the example Measure with a monthly reporting schedule from
// first, due after due days and closed after lock days ("" never).
func scheduled(t *testing.T, first string, due int, lock string) []byte {
	m := string(testdata(t, "madx/definitions/Measure-madx-hiv-indicator-example.json"))
	days := func(n string) string {
		return `{"value":` + n + `,"unit":"days","system":"http://unitsofmeasure.org","code":"d"}`
	}
	parts := fmt.Sprintf(`{"url":"periodType","valueCode":"month"},{"url":"firstPeriod","valueDate":%q},{"url":"due","valueDuration":%s}`, first, days(fmt.Sprint(due)))
	if lock != "" {
		parts += `,{"url":"lock","valueDuration":` + days(lock) + `}`
	}
	ext := `"extension":[{"url":"https://github.com/madx-project/madx/fhir/StructureDefinition/reporting-schedule","extension":[` +
		parts + `,{"url":"reporters","valueReference":{"reference":"Organization/HealthPost1"}}]}],`
	return []byte(strings.Replace(m, `"resourceType": "Measure",`, `"resourceType": "Measure",`+ext, 1))
}

// periodReport is the example report for HealthPost1 over [start, end].
func periodReport(t *testing.T, id, start, end string) []byte {
	r := string(report(t, id, "HealthPost1", 1))
	return []byte(strings.Replace(r, `"period": {"start":"1991-01-01","end":"1991-01-31"}`,
		fmt.Sprintf(`"period": {"start":%q,"end":%q}`, start, end), 1))
}

// TestReportingSchedule: a Measure's schedule decides, at ingest, which
// periods may be reported and when (issue 16, docs/reporting.md), on every
// engine. Today is 2025-05-20.
func TestReportingSchedule(t *testing.T) {
	now := time.Date(2025, 5, 20, 9, 0, 0, 0, time.UTC)
	k := newTokenKit(t)
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			c := newClient(t, e.open(t), func(o *server.Options) { o.Security = k.security(); o.Now = func() time.Time { return now } })
			loadDefinitionsAs(c, k.admin())
			admin := []string{"Authorization", "Bearer " + k.admin()}
			if r := c.do("PUT", "/Measure/madx-hiv-indicator-example", scheduled(t, "2024-01-01", 10, "60"), admin...); r.status != http.StatusOK {
				t.Fatalf("the scheduled Measure: %d %s", r.status, r)
			}
			hp := []string{"Authorization", "Bearer " + k.token(k.claims("healthpost-1", "system/MeasureReport.write system/MeasureReport.read", "Location/HealthPost1"))}
			manager := []string{"Authorization", "Bearer " + k.token(k.claims("data-manager", "system/MeasureReport.write madx/late.write", "Location/HealthPost1"))}
			for _, tc := range []struct {
				name, id, start, end string
				as                   []string
				want                 int
				says                 string // in the answer's issues
				late                 bool
			}{
				{"the current month", "may", "2025-05-01", "2025-05-31", hp, http.StatusCreated, "", false},
				{"last month, before its due date has passed", "apr-early", "2025-04-01", "2025-04-30", hp, http.StatusCreated, "tagged late", true},
				{"a future month", "jun", "2025-06-01", "2025-06-30", hp, http.StatusUnprocessableEntity, "has not started yet", false},
				{"not a period of the schedule", "odd", "2025-03-05", "2025-04-04", hp, http.StatusUnprocessableEntity, "expected 2025-03-01 to 2025-03-31", false},
				{"before the first period", "old", "2023-12-01", "2023-12-31", hp, http.StatusUnprocessableEntity, "before the Measure's first reporting period (2024-01-01)", false},
				{"a closed month", "jan", "2025-01-01", "2025-01-31", hp, http.StatusUnprocessableEntity, "closed on 2025-04-02", false},
				{"a closed month, by the data manager", "jan", "2025-01-01", "2025-01-31", manager, http.StatusCreated, "accepted because the client holds madx/late.write", true},
			} {
				r := c.do("PUT", "/MeasureReport/"+tc.id, periodReport(t, tc.id, tc.start, tc.end), append(tc.as, "Prefer", "return=OperationOutcome")...)
				if r.status != tc.want {
					t.Errorf("%s: %d, want %d: %s", tc.name, r.status, tc.want, r)
					continue
				}
				if tc.says != "" && !strings.Contains(r.String(), tc.says) {
					t.Errorf("%s: the answer does not say %q: %s", tc.name, tc.says, r)
				}
				if tc.want == http.StatusCreated {
					if got := lateTagged(t, c, tc.id, admin); got != tc.late {
						t.Errorf("%s: tagged late %v, want %v", tc.name, got, tc.late)
					}
				}
			}
			// The tag is the server's: one the client sends is dropped.
			body := strings.Replace(string(periodReport(t, "may-2", "2025-05-01", "2025-05-31")), `"meta": {`,
				`"meta": {"tag":[{"system":"https://github.com/madx-project/madx/fhir/CodeSystem/timeliness","code":"late"}],`, 1)
			body = strings.ReplaceAll(body, `"reference":"Location/HealthPost1"`, `"reference":"Location/HealthPost2"`)
			if r := c.do("PUT", "/MeasureReport/may-2", []byte(body), admin...); r.status != http.StatusCreated {
				t.Errorf("a report sending its own timeliness tag: %d %s", r.status, r)
			} else if lateTagged(t, c, "may-2", admin) {
				t.Error("a report sending its own timeliness tag kept it; the tag is the server's to set")
			}
			// Late reports are found with _tag, in both spellings.
			for _, q := range []string{"_tag=https://github.com/madx-project/madx/fhir/CodeSystem/timeliness|late", "_tag=late"} {
				ids, _ := searchIDs(t, c, "/MeasureReport?"+q, admin...)
				if fmt.Sprint(ids) != "[apr-early jan]" {
					t.Errorf("GET ?%s: ids %v, want [apr-early jan]", q, ids)
				}
			}
		})
	}
}

// lateTagged reads report id back and tells whether it carries the
// timeliness tag late.
func lateTagged(t *testing.T, c *client, id string, as []string) bool {
	t.Helper()
	r := c.do("GET", "/MeasureReport/"+id, nil, as...)
	if r.status != http.StatusOK {
		t.Fatalf("GET MeasureReport/%s: %d %s", id, r.status, r)
	}
	meta, _ := r.json(t)["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, tag := range tags {
		tag := tag.(map[string]any)
		if tag["system"] == "https://github.com/madx-project/madx/fhir/CodeSystem/timeliness" && tag["code"] == "late" {
			return true
		}
	}
	return false
}
