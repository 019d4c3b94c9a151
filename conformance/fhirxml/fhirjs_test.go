package fhirxml

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fhirjsDir holds the independent FHIR.js checker (.ci/fhirjs).
const fhirjsDir = "../../.ci/fhirjs"

// TestFHIRJSReadsOurXML has FHIR.js, an independent implementation, read
// the XML Marshal writes for every JSON resource in testdata, and checks it
// finds what jsonformat writes as JSON for the same proto. It skips when
// node or .ci/fhirjs/node_modules is missing, unless MADX_REQUIRE_FHIRJS=1
// (as in CI), where it fails instead.
func TestFHIRJSReadsOurXML(t *testing.T) {
	node := requireFHIRJS(t)
	dir := t.TempDir()
	paths := append(jsonResources(t), filepath.Join("testdata", "features.json"))
	for _, p := range paths {
		msg := decodeJSON(t, readFile(t, p))
		base := filepath.Join(dir, strings.TrimSuffix(filepath.Base(p), ".json"))
		if err := os.WriteFile(base+".xml", encodeXML(t, msg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+".json", encodeJSON(t, msg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join(fhirjsDir, "check.mjs"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("FHIR.js disagrees with our XML (%v):\n%s", err, out)
	}
	t.Logf("FHIR.js:\n%s", out)
}

// requireFHIRJS returns the node binary, or skips (fails when
// MADX_REQUIRE_FHIRJS=1) when node or the checker's packages are missing.
func requireFHIRJS(tb testing.TB) string {
	tb.Helper()
	missing := func(why string) {
		msg := why + "; install the checker with `npm ci --prefix .ci/fhirjs` (needs node 20+)"
		if os.Getenv("MADX_REQUIRE_FHIRJS") == "1" {
			tb.Fatal(msg + " (MADX_REQUIRE_FHIRJS=1)")
		}
		tb.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(fhirjsDir, "node_modules", "fhir", "package.json")); err != nil {
		missing(".ci/fhirjs/node_modules has no fhir package")
	}
	return node
}
