package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/madx-project/madx/conformance"
)

func load(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var t target
	fset := flag.NewFlagSet("madx load", flag.ContinueOnError)
	fset.SetOutput(stderr)
	t.register(fset, getenv, "load into")
	if err := fset.Parse(args); err != nil {
		return usageError(err)
	}
	if fset.NArg() == 0 {
		return fmt.Errorf("%w: madx load needs at least one file or directory", errUsage)
	}
	client, base, done, err := t.connect(ctx, nil, stderr)
	if err != nil {
		return err
	}
	defer done()
	l := &loader{sender{client: client, base: base, token: t.token, out: stdout}}
	return l.loadPaths(ctx, fset.Args())
}

// loader PUTs definitions to a FHIR server, in-process or remote, so that a
// load gets exactly the validation and versioning of an HTTP client.
type loader struct{ sender }

// item is one resource to load.
type item struct {
	file string
	typ  string
	id   string
	body json.RawMessage
}

// loadOrder puts what others depend on first: code systems before the value
// sets that include them, organizations before their locations, all
// terminology before the measures that name it.
var loadOrder = []string{"CodeSystem", "ValueSet", "Organization", "Location", "ConceptMap", "Measure"}

func (l *loader) loadPaths(ctx context.Context, paths []string) error {
	var items []item
	var failed int
	for _, p := range paths {
		files, err := definitionFiles(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			its, err := readItems(f)
			if err != nil {
				fmt.Fprintf(l.out, "%s: FAILED: %v\n", f, err)
				failed++
				continue
			}
			items = append(items, its...)
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return rank(items[i].typ) < rank(items[j].typ) })
	loaded := 0
	for _, it := range items {
		msg, err := l.put(ctx, it)
		if err != nil {
			fmt.Fprintf(l.out, "%s: %s/%s FAILED: %v\n", it.file, it.typ, it.id, err)
			failed++
			continue
		}
		fmt.Fprintf(l.out, "%s: %s/%s %s\n", it.file, it.typ, it.id, msg)
		loaded++
	}
	fmt.Fprintf(l.out, "loaded %d resources, %d failed\n", loaded, failed)
	if failed > 0 {
		return fmt.Errorf("%d of the resources or files could not be loaded", failed)
	}
	return nil
}

func rank(typ string) int {
	if i := slices.Index(loadOrder, typ); i >= 0 {
		return i
	}
	return len(loadOrder)
}

// definitionFiles lists the .json files, and the site map .csv files (see
// siteMapItem), at p (a file, or a directory walked in name order).
func definitionFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (strings.EqualFold(ext, ".json") || strings.EqualFold(ext, ".csv")) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// readItems reads a resource, or the resources of a Bundle's entries.
func readItems(file string) ([]item, error) {
	if strings.EqualFold(filepath.Ext(file), ".csv") {
		return siteMapItems(file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rs, err := jsonResources(file, b)
	if err != nil {
		return nil, err
	}
	var out []item
	for _, r := range rs {
		it, err := checkItem(item{file: r.where, typ: r.typ, id: r.id, body: r.body})
		if err != nil {
			return nil, err
		}
		out = append(out, it...)
	}
	return out, nil
}

// rawResource is one resource of a JSON file: the file itself, or an
// entry of the Bundle it holds (where names the entry).
type rawResource struct {
	where, typ, id string
	body           json.RawMessage
}

// jsonResources splits a JSON file into its resources: madx load and madx
// validate read files the same way.
func jsonResources(file string, b []byte) ([]rawResource, error) {
	type head struct {
		ResourceType string                               `json:"resourceType"`
		ID           string                               `json:"id"`
		Entry        []struct{ Resource json.RawMessage } `json:"entry"`
	}
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if h.ResourceType != "Bundle" {
		return []rawResource{{where: file, typ: h.ResourceType, id: h.ID, body: b}}, nil
	}
	var out []rawResource
	for i, e := range h.Entry {
		var r head
		if err := json.Unmarshal(e.Resource, &r); err != nil || r.ResourceType == "" {
			return nil, fmt.Errorf("entry %d of the Bundle (Bundle.entry[%d]) carries no resource", i, i)
		}
		out = append(out, rawResource{where: fmt.Sprintf("%s#Bundle.entry[%d]", file, i), typ: r.ResourceType, id: r.ID, body: e.Resource})
	}
	return out, nil
}

func checkItem(it item) ([]item, error) {
	if !slices.Contains(conformance.DefinitionTypes(), it.typ) {
		return nil, fmt.Errorf("%s is not a definition type (%s)", it.typ, strings.Join(conformance.DefinitionTypes(), ", "))
	}
	if it.id == "" {
		return nil, fmt.Errorf("%s has no id; definitions are loaded by id so that loading twice is idempotent", it.typ)
	}
	return []item{it}, nil
}

// put PUTs one resource and says what happened to it.
func (l *loader) put(ctx context.Context, it item) (string, error) {
	url := l.base + "/" + it.typ + "/" + it.id
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(it.body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", conformance.MediaFHIRJSON)
	req.Header.Set("Prefer", "return=OperationOutcome")
	if l.token != "" {
		req.Header.Set("Authorization", "Bearer "+l.token)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var outcome struct {
		Issue []struct {
			Severity    string   `json:"severity"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	_ = json.Unmarshal(body, &outcome)
	var texts []string
	for _, is := range outcome.Issue {
		t := is.Severity + ": " + is.Diagnostics
		if len(is.Expression) > 0 {
			t += " (at " + strings.Join(is.Expression, ", ") + ")"
		}
		texts = append(texts, t)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		status := "updated"
		if resp.StatusCode == http.StatusCreated {
			status = "created"
		}
		for _, t := range texts {
			if strings.Contains(t, " unchanged at version ") {
				status = "unchanged"
			} else if !strings.HasPrefix(t, "information: ") {
				status += "; " + t
			}
		}
		return status + " (" + resp.Header.Get("ETag") + ")", nil
	}
	if len(texts) == 0 {
		texts = []string{strings.TrimSpace(string(body))}
	}
	return "", errors.New(resp.Status + ": " + strings.Join(texts, "; "))
}
