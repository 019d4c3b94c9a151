package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
)

// TestLoadGoesThroughThePipeline is madx load's row of the rule matrix
// (server/matrix_test.go): the embedded loader writes through the same
// handler and pipeline as a client, so validation refuses a bad Measure,
// an unchanged definition makes no version, and every attempt, refused or
// not, leaves an AuditEvent with its outcome.
func TestLoadGoesThroughThePipeline(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join("..", "..", "testdata", "madx", "definitions")
	bad := filepath.Join(t.TempDir(), "Measure-bad.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Measure","id":"bad","status":"active"}`), 0o600)
	env := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"load", "--data-dir", dir, defs, bad}, env, &out, io.Discard); err == nil {
		t.Fatalf("a load with an invalid Measure succeeded:\n%s", out.String())
	}
	loaded := strings.Count(out.String(), ` created (W/"1")`)
	if loaded == 0 || !strings.Contains(out.String(), "Measure/bad FAILED") || !strings.Contains(out.String(), "422") {
		t.Fatalf("load output:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"load", "--data-dir", dir, defs}, env, &out, io.Discard); err != nil {
		t.Fatalf("second load: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), ` unchanged (W/"1")`); n != loaded {
		t.Errorf("second load: %d unchanged, want all %d:\n%s", n, loaded, out.String())
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	outcomes := map[string]int{}
	err = st.List(ctx, "AuditEvent", func(r store.Resource) error {
		var ev struct{ Outcome string }
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			return err
		}
		outcomes[ev.Outcome]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if outcomes["0"] != 2*loaded || outcomes["4"] != 1 {
		t.Errorf("AuditEvent outcomes %v, want %d successes (two loads) and 1 refusal", outcomes, 2*loaded)
	}
}
