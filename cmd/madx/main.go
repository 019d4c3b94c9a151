// Command madx is the IHE mADX Content Consumer: a FHIR R4 server for
// Measure and MeasureReport. Run `madx help` for its subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "madx:", err)
		os.Exit(1)
	}
}
