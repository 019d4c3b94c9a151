package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
)

// TestRoundTripsPerRequest counts the MongoDB commands of whole HTTP
// requests, as a facility sends them (its token, so rights are checked on
// the stored version), on the embedded FerretDB: everything the pipeline,
// the audit trail and the engine do for one PUT, one DELETE and one
// collection Bundle of 100. It fails when a count grows (issue 13); lower a
// budget when a change lowers it. docs/storage.md explains each command.
// FerretDB has no server transactions, so the audit record is a write of
// its own here; on a replica set it joins the report's transaction.
func TestRoundTripsPerRequest(t *testing.T) {
	var cc mongotest.Commands
	st, err := mongo.Open(context.Background(), mongo.Options{URI: mongotest.Start(t), Database: "roundtrips", Monitor: cc.Monitor(), RecoverEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	k := newTokenKit(t)
	c := newClient(t, st, func(o *server.Options) { o.Security = k.security() })
	loadDefinitionsAs(c, k.admin())
	hp := []string{"Authorization", "Bearer " + k.token(k.claims("healthpost-1", "system/MeasureReport.write system/MeasureReport.read", "Location/HealthPost1"))}
	// Warm: the definitions are cached, the collections exist.
	if r := c.do("PUT", "/MeasureReport/warm", report(t, "warm", "HealthPost1", 1), hp...); r.status != http.StatusCreated {
		t.Fatalf("warm-up PUT: %d %s", r.status, r)
	}
	var bundle [][]byte
	for i := range 100 {
		bundle = append(bundle, report(t, fmt.Sprintf("b%03d", i), "HealthPost1", 200+i))
	}
	for _, tc := range []struct {
		name         string
		budget, want int
		method, path string
		body         []byte
	}{
		{"PUT of a new report", 8, http.StatusCreated, "PUT", "/MeasureReport/r1", report(t, "r1", "HealthPost1", 2)},
		{"PUT of a new version", 7, http.StatusOK, "PUT", "/MeasureReport/r1",
			[]byte(strings.Replace(string(report(t, "r1", "HealthPost1", 2)), `"count": 426`, `"count": 427`, 1))},
		{"DELETE", 7, http.StatusNoContent, "DELETE", "/MeasureReport/r1", nil},
		{"collection Bundle of 100", 112, http.StatusOK, "POST", "/", collectionOf(bundle...)},
	} {
		var r response
		n, detail := cc.Count(func() { r = c.do(tc.method, tc.path, tc.body, hp...) })
		if r.status != tc.want {
			t.Fatalf("%s: %d, want %d: %s", tc.name, r.status, tc.want, r)
		}
		if tc.name == "PUT of a new version" && r.header.Get("ETag") != `W/"2"` {
			t.Fatalf("%s: ETag %s, want W/\"2\" (a new version, not the unchanged one)", tc.name, r.header.Get("ETag"))
		}
		t.Logf("%s: %d commands (%s)", tc.name, n, detail)
		if n > tc.budget {
			t.Errorf("%s: %d commands, budget %d (%s)", tc.name, n, tc.budget, detail)
		}
	}
}
