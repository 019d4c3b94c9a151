package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/madx-project/madx/store/sqlite"
)

// TestStoredBodiesArePacked checks end to end that the server hands the
// store packed bodies (store.Template) for reports, single and in Bundles,
// that the database holds them packed, and that reads give the canonical
// JSON back.
func TestStoredBodiesArePacked(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, st)
	c.loadDefinitions()
	report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	if r := c.do("PUT", "/MeasureReport/mADX-MeasureReport-example-literal-subject", report); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r)
	}
	if r := c.do("POST", "/", testdata(t, "madx/reports/Bundle-hiv-2025-02-transaction.json")); r.status != http.StatusOK {
		t.Fatalf("transaction: %d %s", r.status, r)
	}

	db, err := sql.Open("sqlite", "file:"+st.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, body FROM history WHERE type = 'MeasureReport'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			t.Fatal(err)
		}
		n++
		if len(body) == 0 || body[0] != 0 || len(body) > 2500 {
			t.Errorf("MeasureReport/%s is stored in %d bytes starting %q: not packed", id, len(body), body[:min(len(body), 8)])
		}
		r := c.do("GET", "/MeasureReport/"+id, nil)
		var doc struct {
			Type string `json:"resourceType"`
			ID   string `json:"id"`
			Meta struct {
				VersionID string `json:"versionId"`
			} `json:"meta"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &doc) != nil || doc.ID != id || doc.Meta.VersionID != "1" || doc.Type != "MeasureReport" || bytes.Contains(r.body, []byte("\n")) {
			t.Errorf("GET MeasureReport/%s: %d, not its compact JSON at version 1: %.200s", id, r.status, r.body)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("%d reports stored, want the PUT one and the transaction's", n)
	}
}
