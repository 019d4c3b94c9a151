package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
	"github.com/rs/zerolog"
)

// engine opens a fresh, empty store of one kind.
type engine struct {
	name string
	open func(tb testing.TB) store.Store
}

// engines lists every store engine the HTTP tests run against.
func engines() []engine {
	return append([]engine{{"sqlite", openSQLite}}, extraEngines()...)
}

func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	return s
}

// forEachEngine runs fn as a subtest per engine, each with its own server.
func forEachEngine(t *testing.T, fn func(t *testing.T, c *client)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			fn(t, newClient(t, e.open(t)))
		})
	}
}

// client talks HTTP to a test server.
type client struct {
	tb   testing.TB
	base string
	srv  *httptest.Server
	s    *server.Server
}

// startAsync runs the server's async workers until the test ends.
func (c *client) startAsync(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	c.s.StartAsync(ctx, 2)
}

func newClient(tb testing.TB, st store.Store, opt ...func(*server.Options)) *client {
	tb.Helper()
	c := &client{tb: tb}
	ts := httptest.NewUnstartedServer(nil)
	c.base = "http://" + ts.Listener.Addr().String() + "/fhir"
	o := server.Options{Store: st, BaseURL: c.base, Logger: testLogger(tb)}
	for _, f := range opt {
		f(&o)
	}
	h, err := server.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	c.srv, c.s = ts, h
	tb.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return c
}

func testLogger(tb testing.TB) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(tb))
	}
	return zerolog.Nop()
}

// noRedirects lets tests see 303 answers instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// response is a received answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// String is the body for failure messages, cut to a readable length.
func (r response) String() string {
	if len(r.body) > 1500 {
		return string(r.body[:1500]) + "...(cut)"
	}
	return string(r.body)
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		tb.Fatalf("answer is not JSON (%d): %v\n%s", r.status, err, r)
	}
	return m
}

func (c *client) do(method, path string, body []byte, headers ...string) response {
	c.tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// testdata reads a file of the project's testdata.
func testdata(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// loadDefinitions PUTs every definition of testdata/madx/definitions,
// with the request headers given as name, value pairs.
func (c *client) loadDefinitions(headers ...string) {
	c.tb.Helper()
	c.loadDefinitionsFrom(filepath.Join("madx", "definitions"), headers...)
}

// loadDefinitionsFrom PUTs the definitions of a testdata folder,
// terminology first, as madx load does.
func (c *client) loadDefinitionsFrom(dir string, headers ...string) {
	c.tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		c.tb.Fatalf("no definitions in testdata/%s: %v", dir, err)
	}
	for _, prefix := range []string{"CodeSystem", "ValueSet", "Organization", "Location", "Measure"} {
		for _, f := range files {
			if !strings.HasPrefix(filepath.Base(f), prefix+"-") {
				continue
			}
			b, _ := os.ReadFile(f)
			var head struct{ ResourceType, ID string }
			_ = json.Unmarshal(b, &head)
			if r := c.do("PUT", "/"+head.ResourceType+"/"+head.ID, b, headers...); r.status >= 300 {
				c.tb.Fatalf("load %s: %d %s", f, r.status, r)
			}
		}
	}
}

// wantOutcome checks that r is an OperationOutcome with the status, and
// that its first issue has severity, code and a diagnostic text.
func wantOutcome(tb testing.TB, r response, status int) map[string]any {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d; body %s", r.status, status, r)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		tb.Errorf("Content-Type %q, want application/fhir+json", ct)
	}
	m := r.json(tb)
	if m["resourceType"] != "OperationOutcome" {
		tb.Fatalf("resourceType %v, want OperationOutcome: %s", m["resourceType"], r)
	}
	issues, _ := m["issue"].([]any)
	if len(issues) == 0 {
		tb.Fatalf("OperationOutcome without issues: %s", r)
	}
	first := issues[0].(map[string]any)
	for _, k := range []string{"severity", "code", "diagnostics"} {
		if s, _ := first[k].(string); s == "" {
			tb.Errorf("issue[0].%s is empty: %s", k, r)
		}
	}
	return m
}

// expressions lists every issue expression of an OperationOutcome.
func expressions(m map[string]any) []string {
	var out []string
	issues, _ := m["issue"].([]any)
	for _, is := range issues {
		exprs, _ := is.(map[string]any)["expression"].([]any)
		for _, e := range exprs {
			out = append(out, e.(string))
		}
	}
	return out
}
