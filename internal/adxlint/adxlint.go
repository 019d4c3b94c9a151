// Package adxlint is a test helper: it validates what madx writes as ADX
// against the IHE ADX schema (testdata/adx/schema/adx_loose.xsd) with
// xmllint, for the server's tests and the command's alike. Tests only: it
// imports testing.
package adxlint

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Schema is the path of the IHE ADX schema beside the project.
func Schema() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "testdata", "adx", "schema", "adx_loose.xsd")
}

// Check validates an ADX document with xmllint against the IHE schema and
// fails tb when it does not validate. It skips when xmllint or the schema
// is missing, unless MADX_REQUIRE_XMLLINT is set (.ci/run sets it when both
// are there), then it fails.
func Check(tb testing.TB, doc []byte) {
	tb.Helper()
	schema := Schema()
	_, lintErr := exec.LookPath("xmllint")
	_, schemaErr := os.Stat(schema)
	if lintErr != nil || schemaErr != nil {
		if os.Getenv("MADX_REQUIRE_XMLLINT") != "" {
			tb.Fatalf("xmllint or the ADX schema is missing: %v %v", lintErr, schemaErr)
		}
		tb.Skip("xmllint or testdata/adx/schema is missing")
	}
	f := filepath.Join(tb.TempDir(), "adx.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", schema, f).CombinedOutput(); err != nil {
		tb.Fatalf("the ADX does not validate against the IHE ADX schema: %v\n%s\n%s", err, out, doc)
	}
}
