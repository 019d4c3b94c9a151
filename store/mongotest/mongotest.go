// Package mongotest starts an embedded FerretDB (a MongoDB wire-protocol
// server over SQLite) for tests, so that the mongo engine and the server's
// tests run over the real wire without a MongoDB installed. It is a test
// helper: nothing in the madx binary may import it (FerretDB stays out of
// the binary), which store/mongo's tests check.
//
// FerretDB 1.24 is not MongoDB: it has no multi-document transactions (it
// accepts StartTransaction without making anything atomic), no partial
// indexes, and on SQLite it scans whole collections for most lookups. Keep
// test data small, and run the same tests against a real MongoDB through
// MADX_TEST_MONGODB_URI.
package mongotest

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Start runs a FerretDB server (SQLite backend, data in tb.TempDir(),
// listening on 127.0.0.1 on a free port) until the test ends, and returns
// its MongoDB URI. FerretDB's logs are discarded unless the test runs with
// -v, because they drown the test output otherwise.
func Start(tb testing.TB) (uri string) {
	tb.Helper()
	dir := tb.TempDir()
	return start(tb, &ferretdb.Config{
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/"}).String(),
	})
}

// StartPostgreSQL runs a FerretDB server over the PostgreSQL database at
// pgURL (for example postgres://postgres@127.0.0.1:5432/ferretdb), as the
// DEQM side-by-side of issue 13 ran it: a benchmark backend, not a test one.
func StartPostgreSQL(tb testing.TB, pgURL string) (uri string) {
	tb.Helper()
	return start(tb, &ferretdb.Config{Handler: "postgresql", PostgreSQLURL: pgURL})
}

func start(tb testing.TB, cfg *ferretdb.Config) (uri string) {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn})).
			With("component", "ferretdb")
	}
	cfg.Listener = ferretdb.ListenerConfig{TCP: "127.0.0.1:0"}
	cfg.Logger = logger
	f, err := ferretdb.New(cfg)
	if err != nil {
		tb.Fatalf("mongotest: start FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	// MongoDBURI waits for the listener that Run starts.
	return f.MongoDBURI()
}

// testWriter sends FerretDB's log lines to the test log, so they appear
// next to the test that caused them.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}
