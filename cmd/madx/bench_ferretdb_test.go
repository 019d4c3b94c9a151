package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madx-project/madx/store/mongotest"
)

// TestBenchMongoOnFerretDB measures the MongoDB engine over the wire
// against the embedded FerretDB test server (not a real MongoDB: figures
// from it are labelled so in docs/benchmarks.md). It runs only when
// MADX_BENCH_FERRETDB holds the bench flags, e.g.
//
//	MADX_BENCH_FERRETDB="--phases put,bundle --duration 5s" go test ./cmd/madx -run BenchMongoOnFerretDB -v
func TestBenchMongoOnFerretDB(t *testing.T) {
	flags := os.Getenv("MADX_BENCH_FERRETDB")
	if flags == "" {
		t.Skip("set MADX_BENCH_FERRETDB to the madx bench flags to run")
	}
	uri := mongotest.Start(t)
	base, _ := startServe(t, "--mongodb-uri", uri, "--mongodb-database", "madx_bench",
		"--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	var out bytes.Buffer
	args := append([]string{"bench", "--base", base, "--pid", "-1"}, strings.Fields(flags)...)
	err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
	t.Logf("madx bench %s (MongoDB engine, embedded FerretDB test server, same process):\n%s", flags, out.String())
	if err != nil {
		t.Fatal(err)
	}
}
