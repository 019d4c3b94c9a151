package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/madx-project/madx/store"
)

// writeLog is a store that notes the types of every Write it is given.
type writeLog struct {
	store.Store
	mu     sync.Mutex
	writes [][]string
}

func (w *writeLog) Write(ctx context.Context, changes []store.Change) ([]store.Result, error) {
	types := make([]string, len(changes))
	for i, c := range changes {
		types[i] = c.Type
	}
	w.mu.Lock()
	w.writes = append(w.writes, types)
	w.mu.Unlock()
	return w.Store.Write(ctx, changes)
}

// OneCommit passes the engine's answer on (the pipeline asks for it).
func (w *writeLog) OneCommit() bool {
	oc, ok := w.Store.(interface{ OneCommit() bool })
	return ok && oc.OneCommit()
}

func (w *writeLog) take() [][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

// TestAuditInTheSameCommit: on SQLite an acknowledged single write and its
// AuditEvent are one Store.Write (one transaction, one fsync), so the write
// is never acknowledged without its record; a refused write is still
// audited, in a Write of its own (issue 13).
func TestAuditInTheSameCommit(t *testing.T) {
	log := &writeLog{Store: openSQLite(t)}
	c := newClient(t, log)
	c.loadDefinitions()
	body := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	id := "mADX-MeasureReport-example-literal-subject"
	log.take()

	for _, tc := range []struct {
		name, method string
		body         []byte
		status       int
		want         string
		outcome      string
	}{
		{"create", "PUT", body, http.StatusCreated, "MeasureReport+AuditEvent", "201 Created"},
		{"update", "PUT", body, http.StatusOK, "MeasureReport+AuditEvent", "200 OK"},
		{"refused", "PUT", []byte(`{"resourceType":"MeasureReport","id":"` + id + `","status":"bogus"}`), http.StatusBadRequest, "AuditEvent", "400 Bad Request"},
		{"delete", "DELETE", nil, http.StatusNoContent, "MeasureReport+AuditEvent", "204 No Content"},
	} {
		r := c.do(tc.method, "/MeasureReport/"+id, tc.body)
		if r.status != tc.status && !(tc.name == "refused" && r.status >= 400) {
			t.Fatalf("%s: %s", tc.name, r)
		}
		var got []string
		for _, w := range log.take() {
			got = append(got, strings.Join(w, "+"))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: writes %q, want %q", tc.name, got, tc.want)
		}
		if tc.name == "refused" {
			continue
		}
		ev := c.do("GET", "/AuditEvent?_sort=-date&_count=1", nil).json(t)
		desc, _ := ev["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["outcomeDesc"].(string)
		if !strings.Contains(desc, tc.outcome) {
			t.Errorf("%s: outcomeDesc %q, want %q", tc.name, desc, tc.outcome)
		}
	}
}
