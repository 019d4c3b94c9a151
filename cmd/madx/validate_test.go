package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateOffline: madx validate checks reports against the
// definitions of --definitions with no server, through the same $validate
// and pipeline as a running server; it exits non-zero on an invalid one
// and names what is wrong and where.
func TestValidateOffline(t *testing.T) {
	defs := filepath.Join("..", "..", "testdata", "madx", "definitions")
	good := filepath.Join("..", "..", "testdata", "madx", "reports", "MeasureReport-mADX-MeasureReport-example.json")
	collection := filepath.Join("..", "..", "testdata", "madx", "reports", "Bundle-hiv-monthly-collection.json")
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, bytes.Replace(b, []byte(`"QRPH_mADX_ART1_N"`), []byte(`"NO_SUCH_GROUP"`), 1), 0o600)
	env := func(string) string { return "" }

	var out bytes.Buffer
	if err := run(context.Background(), []string{"validate", "--definitions", defs, good, collection}, env, &out, io.Discard); err != nil {
		t.Fatalf("valid reports: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), " MeasureReport valid"); n < 2 {
		t.Errorf("want each report and each Bundle entry judged valid:\n%s", out.String())
	}
	out.Reset()
	err = run(context.Background(), []string{"validate", "--definitions", defs, good, bad}, env, &out, io.Discard)
	if err == nil {
		t.Fatalf("an invalid report passed:\n%s", out.String())
	}
	for _, want := range []string{"bad.json: MeasureReport NOT VALID", "NO_SUCH_GROUP", "MeasureReport.group[0].code", `"severity": "fatal"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
