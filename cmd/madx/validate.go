package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/store/sqlite"
)

// validateCmd is `madx validate FILE...`: each resource goes to $validate,
// the write pipeline short of the commit, of an embedded server over the
// definitions of --definitions (or of a data dir), or of a running server
// (--server). A sender can check its reports before the deadline with no
// server at all.
func validateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		t       target
		defsDir string
	)
	fset := flag.NewFlagSet("madx validate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	t.register(fset, getenv, "validate with (its $validate)")
	fset.StringVar(&defsDir, "definitions", "", "file or directory of definitions (Measure, ValueSet, CodeSystem, Location, Organization) to validate against, in a temporary store; without it the store of --data-dir or --mongodb-uri is used")
	if err := fset.Parse(args); err != nil {
		return usageError(err)
	}
	if fset.NArg() == 0 {
		return fmt.Errorf("%w: madx validate needs at least one file", errUsage)
	}
	if defsDir != "" && t.server != "" {
		return fmt.Errorf("%w: --definitions validates offline; --server uses the definitions of that server: give one of them", errUsage)
	}
	snd := sender{token: t.token, out: stdout}
	var done func()
	var err error
	if defsDir != "" {
		snd, done, err = offline(ctx, defsDir, t.logLevel, stderr)
		snd.out = stdout
	} else {
		snd.client, snd.base, done, err = t.connect(ctx, nil, stderr)
	}
	if err != nil {
		return err
	}
	defer done()
	v := &validator{snd}
	return v.validatePaths(ctx, fset.Args())
}

// offline is the server of --definitions DIR: embedded in process over a
// temporary store that holds those definitions, loaded as madx load loads
// them (their own problems are the loader's to tell, on stderr). done
// closes the store and removes it.
func offline(ctx context.Context, defsDir, logLevel string, stderr io.Writer) (sender, func(), error) {
	dir, err := os.MkdirTemp("", "madx-offline-")
	if err != nil {
		return sender{}, nil, err
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return sender{}, nil, fmt.Errorf("open a temporary store: %w", err)
	}
	t := target{logLevel: logLevel}
	client, base, _, err := t.connect(ctx, st, stderr)
	done := func() {
		st.Close()
		os.RemoveAll(dir)
	}
	if err != nil {
		done()
		return sender{}, nil, err
	}
	l := &loader{sender{client: client, base: base, out: io.Discard}}
	if err := l.loadPaths(ctx, []string{defsDir}); err != nil {
		l.out = stderr
		_ = l.loadPaths(ctx, []string{defsDir})
		done()
		return sender{}, nil, fmt.Errorf("--definitions %s: %w", defsDir, err)
	}
	return sender{client: client, base: base}, done, nil
}

// validator sends resources to a server's $validate.
type validator struct{ sender }

// validateItem is one resource of a file: the file itself, or an entry of a
// JSON Bundle.
type validateItem struct {
	where, typ, contentType string
	body                    []byte
}

func (v *validator) validatePaths(ctx context.Context, paths []string) error {
	invalid := 0
	for _, p := range paths {
		items, err := validateItems(p)
		if err != nil {
			fmt.Fprintf(v.out, "%s: FAILED: %v\n", p, err)
			invalid++
			continue
		}
		for _, it := range items {
			ok, err := v.validate(ctx, it)
			if err != nil {
				fmt.Fprintf(v.out, "%s: FAILED: %v\n", it.where, err)
				invalid++
			} else if !ok {
				invalid++
			}
		}
	}
	if invalid > 0 {
		return fmt.Errorf("%d resource(s) or file(s) are not valid", invalid)
	}
	return nil
}

// validateItems reads a file: a JSON or XML resource, or the entries of a
// JSON Bundle, each validated on its own.
func validateItems(file string) ([]validateItem, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(filepath.Ext(file), ".xml") {
		typ := xmlRoot(b)
		if typ == "" {
			return nil, fmt.Errorf("no FHIR resource element found")
		}
		return []validateItem{{where: file, typ: typ, contentType: conformance.MediaFHIRXML, body: b}}, nil
	}
	rs, err := jsonResources(file, b)
	if err != nil {
		return nil, err
	}
	out := make([]validateItem, len(rs))
	for k, r := range rs {
		out[k] = validateItem{where: r.where, typ: r.typ, contentType: conformance.MediaFHIRJSON, body: r.body}
	}
	return out, nil
}

// xmlRoot is the local name of the first element of a FHIR XML document.
func xmlRoot(b []byte) string {
	for s := string(b); ; {
		i := strings.IndexByte(s, '<')
		if i < 0 || i+1 >= len(s) {
			return ""
		}
		s = s[i+1:]
		if s[0] == '?' || s[0] == '!' {
			continue
		}
		end := strings.IndexAny(s, " \t\r\n/>")
		if end < 0 {
			return ""
		}
		name := s[:end]
		if _, local, ok := strings.Cut(name, ":"); ok {
			name = local
		}
		return name
	}
}

// validate posts one resource to $validate and prints its OperationOutcome;
// ok is false when it holds an error or a fatal issue.
func (v *validator) validate(ctx context.Context, it validateItem) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/"+it.typ+"/$validate", bytes.NewReader(it.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", it.contentType)
	req.Header.Set("Accept", conformance.MediaFHIRJSON)
	if v.token != "" {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	var outcome struct {
		Issue []struct {
			Severity string `json:"severity"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &outcome); err != nil {
		return false, fmt.Errorf("%s answered %d with no OperationOutcome", v.base, resp.StatusCode)
	}
	ok := resp.StatusCode == http.StatusOK
	for _, is := range outcome.Issue {
		if is.Severity == "error" || is.Severity == "fatal" {
			ok = false
		}
	}
	verdict := "valid"
	if !ok {
		verdict = "NOT VALID"
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "  ", "  ") != nil {
		pretty.Write(body)
	}
	fmt.Fprintf(v.out, "%s: %s %s\n  %s\n", it.where, it.typ, verdict, pretty.String())
	return ok, nil
}
