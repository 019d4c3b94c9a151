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
//
// With MADX_BENCH_FERRETDB_PG set to a PostgreSQL URL (an empty database of
// a local server), FerretDB runs over PostgreSQL instead of SQLite: the
// backend of issue 13's side-by-side with the DEQM test server.
func TestBenchMongoOnFerretDB(t *testing.T) {
	flags := os.Getenv("MADX_BENCH_FERRETDB")
	if flags == "" {
		t.Skip("set MADX_BENCH_FERRETDB to the madx bench flags to run")
	}
	uri := ""
	if pg := os.Getenv("MADX_BENCH_FERRETDB_PG"); pg != "" {
		uri = mongotest.StartPostgreSQL(t, pg)
	} else {
		uri = mongotest.Start(t)
	}
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
