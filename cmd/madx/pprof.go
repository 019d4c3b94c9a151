//go:build pprof

package main

// A developer build (go build -tags pprof ./cmd/madx) serves the Go
// profiler on MADX_PPROF_ADDR (127.0.0.1 only), to profile the server under
// madx bench. Release builds do not contain it.

import (
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // developer build only, loopback only
	"os"
)

func init() {
	addr := os.Getenv("MADX_PPROF_ADDR")
	if addr == "" {
		return
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		panic("MADX_PPROF_ADDR must be 127.0.0.1:PORT")
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
