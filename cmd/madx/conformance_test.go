package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// expectedFailures reads .ci/conformance.xfail, the one list of known
// non-conformances that CI and this test share.
func expectedFailures(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", ".ci", "conformance.xfail"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// TestConformanceKitAgainstOurServer runs the whole black-box kit over real
// HTTP against an in-process `madx serve` on the embedded store, as
// .ci/conformance.sh does with the binary.
func TestConformanceKitAgainstOurServer(t *testing.T) {
	base, _ := startServe(t, "--data-dir", t.TempDir(),
		"--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	junit := filepath.Join(t.TempDir(), "conformance.xml")
	html := filepath.Join(t.TempDir(), "conformance.html")
	args := []string{"conformance", "--base", base, "--junit", junit, "--html", html}
	for _, n := range expectedFailures(t) {
		args = append(args, "--expect-fail", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, args, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("madx conformance: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	for _, f := range []string{junit, html} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("report %s not written: %v", f, err)
		}
	}
}

// TestConformanceKitWithTokenAuth runs the kit against a server that
// requires bearer tokens, with a token from `madx token`: the auth test
// must pass (401 without a token and with a wrong one) rather than skip.
func TestConformanceKitWithTokenAuth(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "hs256.secret")
	if err := os.WriteFile(secret, []byte("conformance-kit-test-secret-of-at-least-32-bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{"--auth-issuer", "madx-kit", "--auth-audience", "madx", "--auth-hs256-secret-file", secret}
	base, _ := startServe(t, append([]string{"--data-dir", t.TempDir(),
		"--load", filepath.Join("..", "..", "testdata", "madx", "definitions")}, keys...)...)
	env := func(string) string { return "" }
	var tok bytes.Buffer
	if err := run(context.Background(), append(append([]string{"token"}, keys...), "--scope", "system/*.*", "--subject", "*"), env, &tok, &tok); err != nil {
		t.Fatalf("madx token: %v\n%s", err, tok.String())
	}
	args := []string{"conformance", "--base", base, "--token", strings.TrimSpace(tok.String())}
	for _, n := range expectedFailures(t) {
		args = append(args, "--expect-fail", n)
	}
	var out bytes.Buffer
	if err := run(context.Background(), args, env, &out, &out); err != nil {
		t.Fatalf("madx conformance: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PASS    FHIR/auth-401") {
		t.Errorf("the auth test did not pass:\n%s", out.String())
	}
}

func TestConformanceUsage(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{
		{"conformance"},
		{"conformance", "--base", "http://127.0.0.1:1/fhir", "--token", "a", "--token-cmd", "echo b"},
		{"conformance", "--base", "http://127.0.0.1:1/fhir", "--expect-fail", "no/such-test"},
	} {
		if err := run(context.Background(), args, env, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("run %v: %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"conformance", "--list"}, env, &out, &out); err != nil || !strings.Contains(out.String(), "QRPH-58/test-case-2-invalid-code\n") {
		t.Errorf("--list: %v\n%s", err, out.String())
	}
}

func TestRunTokenCmd(t *testing.T) {
	tok, err := runTokenCmd(context.Background(), "printf ' secret-token \\n'")
	if err != nil || tok != "secret-token" {
		t.Errorf("runTokenCmd = %q, %v", tok, err)
	}
	if _, err := runTokenCmd(context.Background(), "exit 3"); err == nil {
		t.Error("a failing --token-cmd gave a token")
	}
	if _, err := runTokenCmd(context.Background(), "true"); err == nil {
		t.Error("an empty --token-cmd output gave a token")
	}
}
