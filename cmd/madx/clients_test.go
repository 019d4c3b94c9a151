package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// clientsDir holds the real-client harness: package.json and its lock file
// pin fhir-kit-client, fhirclient and @medplum/core; run.mjs drives a
// server through each library's own API.
var clientsDir = filepath.Join("..", "..", ".ci", "clients")

// TestRealFHIRClients runs .ci/clients/run.mjs against an in-process `madx
// serve` holding the test definitions: each client library creates,
// updates (If-Match), reads, searches and resends a MeasureReport, sends a
// transaction, calls $validate and meets a 422 as its own error.
func TestRealFHIRClients(t *testing.T) {
	node := requireClients(t)
	base, _ := startServe(t, "--data-dir", t.TempDir(),
		"--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(clientsDir, "run.mjs"))
	cmd.Env = append(os.Environ(), "MADX_BASE="+base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node .ci/clients/run.mjs: %v\n%s", err, out)
	}
	t.Logf("\n%s", out)
}

// requireClients returns the node binary, or skips (fails when
// MADX_REQUIRE_CLIENTS=1, as .ci/run sets) when node or the client
// packages are missing.
func requireClients(tb testing.TB) string {
	tb.Helper()
	missing := func(why string) {
		msg := why + "; install the clients with `npm ci --prefix .ci/clients` (needs node 20.19+)"
		if os.Getenv("MADX_REQUIRE_CLIENTS") == "1" {
			tb.Fatal(msg + " (MADX_REQUIRE_CLIENTS=1)")
		}
		tb.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	for _, pkg := range []string{"fhir-kit-client", "fhirclient", filepath.Join("@medplum", "core")} {
		if _, err := os.Stat(filepath.Join(clientsDir, "node_modules", pkg, "package.json")); err != nil {
			missing(".ci/clients/node_modules has no " + pkg)
		}
	}
	return node
}
