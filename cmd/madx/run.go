package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `madx: IHE mADX Content Consumer (FHIR R4)

Usage:
  madx serve [flags]          run the FHIR server (embedded SQLite unless --mongodb-uri)
  madx load [flags] PATH...   load definitions (Measure, ValueSet, CodeSystem, Location,
                              Organization; files, directories or Bundles) into the store
  madx validate [flags] FILE... check reports or definitions as the server would, storing
                              nothing (--definitions DIR: offline, against those definitions)
  madx adx to-fhir|from-fhir --definitions DIR FILE
                              convert ADX to a Bundle of MeasureReports or back, offline,
                              with the server's own mapping and errors
  madx conformance --base URL run the IHE mADX conformance kit against any FHIR server
  madx bench --base URL       load-test a FHIR server with generated mADX reports (loopback)
  madx token [flags]          mint a signed development token (scopes, facilities)
  madx help                   this text

Run 'madx COMMAND -h' for a command's flags. Every flag can also be set by the
environment variable named in its help.
`

// errUsage marks a command-line mistake; run prints the usage with it.
var errUsage = errors.New("usage")

// usageError explains a flag-parsing failure. A request for help (-h,
// --help) is not a failure: the flag set has printed its flags, and the
// command exits 0.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}

// run is the whole program: main only wires the process to it, so tests can
// drive every subcommand end to end.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "load":
		return load(ctx, args[1:], getenv, stdout, stderr)
	case "validate":
		return validateCmd(ctx, args[1:], getenv, stdout, stderr)
	case "adx":
		return adxCmd(ctx, args[1:], getenv, stdout, stderr)
	case "conformance":
		return conformanceCmd(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return token(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
