package storetest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ExampleReport is the IHE mADX example MeasureReport (27 strata), compact
// as the codec writes it (13.8 KB): the document the store benchmarks and
// the body-packing tests write.
func ExampleReport(tb testing.TB) []byte {
	tb.Helper()
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "testdata", "madx", "reports", "MeasureReport-mADX-MeasureReport-example.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
