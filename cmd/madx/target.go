package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/madx-project/madx/internal/inprocess"
	"github.com/madx-project/madx/store"
)

// target is where madx load and madx validate send their requests: a
// running server (--server, --token), or the server embedded in process
// over a store, so that either gets exactly what an HTTP client gets.
type target struct {
	sc       storeConfig
	server   string
	token    string
	logLevel string
}

// register adds the flags that choose the target; what names the command's
// action on the server in the --server help.
func (t *target) register(fset *flag.FlagSet, getenv func(string) string, what string) {
	t.sc.register(fset, getenv)
	fset.StringVar(&t.server, "server", getenv("MADX_SERVER"), "FHIR base URL of a running server to "+what+", instead of opening the store directly (MADX_SERVER)")
	fset.StringVar(&t.token, "token", getenv("MADX_TOKEN"), "bearer token for --server (MADX_TOKEN)")
	fset.StringVar(&t.logLevel, "log-level", envOr(getenv, "MADX_LOG_LEVEL", "warn"), "log level of the embedded server (MADX_LOG_LEVEL)")
}

// embeddedBase is the base URL of the embedded server; it never leaves the
// process.
const embeddedBase = "http://madx.invalid/fhir"

// connect returns a client and base URL for the target. The embedded
// server runs over st, or over the configured store when st is nil (then
// closing it is done by the returned func).
func (t *target) connect(ctx context.Context, st store.Store, stderr io.Writer) (*http.Client, string, func(), error) {
	if t.server != "" {
		return &http.Client{}, strings.TrimSuffix(t.server, "/"), func() {}, nil
	}
	log, err := newLogger(stderr, t.logLevel)
	if err != nil {
		return nil, "", nil, err
	}
	done := func() {}
	if st == nil {
		if st, err = t.sc.open(ctx, log); err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		done = func() { st.Close() }
	}
	h, err := newHandler(st, log, handlerOptions{baseURL: embeddedBase, basePath: "/fhir", maxBody: 1 << 30, maxBundleEntries: 1 << 20})
	if err != nil {
		done()
		return nil, "", nil, err
	}
	return inprocess.Client(h), embeddedBase, done, nil
}

// sender is what load and validate hold to talk to a target: the client,
// the FHIR base URL, the bearer token for a remote server, and where their
// lines go.
type sender struct {
	client *http.Client
	base   string
	token  string
	out    io.Writer
}
