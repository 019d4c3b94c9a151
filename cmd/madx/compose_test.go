package main

import (
	"os"
	"strings"
	"testing"
)

// TestComposeIsSecureByDefault: the production recipe never runs anonymous
// writes on a published port; it reads its authentication settings from an
// env file it requires, and the key from a compose secret. Only the named
// development override allows anonymous calls, on loopback (issue 11,
// defect 21). No Docker engine runs here, so the files are read.
func TestComposeIsSecureByDefault(t *testing.T) {
	prod := readFile(t, "../../docker-compose.yml")
	for _, bad := range []string{"MADX_ALLOW_ANONYMOUS", "MADX_AUTH_HS256_SECRET:"} {
		if strings.Contains(prod, bad) {
			t.Errorf("docker-compose.yml sets %s", bad)
		}
	}
	for _, want := range []string{"env_file:", "required: true", "./madx.env", "madx_auth_secret"} {
		if !strings.Contains(prod, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
	dev := readFile(t, "../../docker-compose.dev.yml")
	if !strings.Contains(dev, `"127.0.0.1:8080:8080"`) || !strings.Contains(dev, "!override") {
		t.Errorf("docker-compose.dev.yml must publish anonymous madx on loopback only:\n%s", dev)
	}
	env := readFile(t, "../../madx.env.example")
	for _, want := range []string{"MADX_AUTH_ISSUER=", "MADX_AUTH_AUDIENCE=", "MADX_AUTH_HS256_SECRET_FILE=/run/secrets/madx_auth_secret"} {
		if !strings.Contains(env, want) {
			t.Errorf("madx.env.example lacks %q", want)
		}
	}
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
