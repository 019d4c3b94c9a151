package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/madx-project/madx/conformance/kit"
)

// errNonConformant is returned when the suite ran and found failures; the
// exit status is then non-zero (the table says what failed).
var errNonConformant = errors.New("the server failed conformance tests")

// conformanceCmd runs the black-box mADX suite (conformance/kit) against
// any FHIR server.
func conformanceCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		base, token, tokenCmd, fixtures, junit, html string
		expectFail                                   stringList
		list                                         bool
	)
	fs := flag.NewFlagSet("madx conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&base, "base", getenv("MADX_CONFORMANCE_BASE"), "FHIR base URL of the server under test (MADX_CONFORMANCE_BASE)")
	fs.StringVar(&token, "token", getenv("MADX_TOKEN"), "bearer token to send (MADX_TOKEN)")
	fs.StringVar(&tokenCmd, "token-cmd", "", "shell command whose standard output is the bearer token (run once, by sh -c)")
	fs.StringVar(&fixtures, "fixtures", "", "directory with definitions/*.json and reports/*.json to use instead of the embedded mADX examples")
	fs.StringVar(&junit, "junit", "", "write a JUnit XML report to this file")
	fs.StringVar(&html, "html", "", "write a self-contained HTML report to this file")
	fs.Var(&expectFail, "expect-fail", "name of a test known to fail (a reported non-conformance); repeatable. It is reported XFAIL; if it passes, XPASS fails the run")
	fs.BoolVar(&list, "list", false, "list the test names and exit")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if list {
		for _, n := range kit.Names() {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	if base == "" {
		return fmt.Errorf("%w: madx conformance needs --base URL", errUsage)
	}
	if token != "" && tokenCmd != "" {
		return fmt.Errorf("%w: give --token or --token-cmd, not both", errUsage)
	}
	names := kit.Names()
	for _, n := range expectFail {
		if !slices.Contains(names, n) {
			return fmt.Errorf("%w: --expect-fail %q is not a test name (see --list)", errUsage, n)
		}
	}
	o := kit.Options{Base: base, ExpectFail: expectFail}
	switch {
	case token != "":
		o.Token = func(context.Context) (string, error) { return token, nil }
	case tokenCmd != "":
		o.Token = func(ctx context.Context) (string, error) { return runTokenCmd(ctx, tokenCmd) }
	}
	if fixtures != "" {
		o.Fixtures = os.DirFS(fixtures)
	}
	rep, err := kit.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if junit != "" {
		if err := writeFileWith(junit, rep.WriteJUnit); err != nil {
			return err
		}
	}
	if html != "" {
		if err := writeFileWith(html, rep.WriteHTML); err != nil {
			return err
		}
	}
	if n := rep.Failed(); n > 0 {
		return fmt.Errorf("%w: %d of %d", errNonConformant, n, len(rep.Results))
	}
	return nil
}

// runTokenCmd runs cmd with sh -c and returns its trimmed standard output,
// so a token can come from a secret store or an OAuth client without being
// on the command line.
func runTokenCmd(ctx context.Context, cmd string) (string, error) {
	var out, errb bytes.Buffer
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("--token-cmd: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	tok := strings.TrimSpace(out.String())
	if tok == "" {
		return "", errors.New("--token-cmd printed nothing")
	}
	return tok, nil
}

// writeFileWith creates file and fills it with write.
func writeFileWith(file string, write func(io.Writer) error) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}
