package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/madx-project/madx"

// rooms says which of our packages may import each third-party library
// (any package under the library's path), in their code or their tests
// (STYLE.md, "Each third-party library lives in one room").
var rooms = []struct {
	lib     string
	name    string
	allowed []string // package paths relative to the module
}{
	{"github.com/gin-gonic/gin", "gin", []string{"server"}},
	{"go.mongodb.org/mongo-driver", "the mongo driver", []string{"store/mongo", "store/mongotest"}},
	{"github.com/golang-jwt/jwt", "jwt", []string{"server/auth"}},
	{"github.com/rs/zerolog", "zerolog", []string{"server", "cmd/madx"}},
	{"modernc.org/sqlite", "SQLite", []string{"store/sqlite"}},
	{"github.com/FerretDB/FerretDB", "FerretDB", []string{"store/mongotest"}},
}

// notInBinary are libraries the madx binary must not link, even through a
// package that may import them.
var notInBinary = []struct{ lib, why string }{
	{"github.com/FerretDB/FerretDB", "FerretDB is a test helper's embedded server"},
}

const binary = module + "/cmd/madx"

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// goList runs `go list -json` with args and decodes its stream of packages.
func goList(tb testing.TB, args ...string) []pkg {
	tb.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Imports,TestImports,XTestImports"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			tb.Fatalf("go list %s: decoding: %v", strings.Join(args, " "), err)
		}
		pkgs = append(pkgs, p)
	}
}

func under(path, lib string) bool {
	return path == lib || strings.HasPrefix(path, lib+"/")
}

// TestThirdPartyLibrariesStayInTheirRooms checks every direct import of our
// packages and of their tests.
func TestThirdPartyLibrariesStayInTheirRooms(t *testing.T) {
	for _, p := range goList(t, module+"/...") {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imports := range []struct {
			where string
			paths []string
		}{{"", p.Imports}, {" (in its tests)", p.TestImports}, {" (in its external tests)", p.XTestImports}} {
			for _, imp := range imports.paths {
				for _, r := range rooms {
					if under(imp, r.lib) && !slices.Contains(r.allowed, rel) {
						t.Errorf("%s imports %s%s: %s may be imported only by %s",
							p.ImportPath, imp, imports.where, r.name, strings.Join(r.allowed, ", "))
					}
				}
			}
		}
	}
}

// TestBinaryLinksNoTestOnlyLibrary walks `go list -deps` of cmd/madx and
// names the chain of imports through which a forbidden library came in.
func TestBinaryLinksNoTestOnlyLibrary(t *testing.T) {
	deps := goList(t, "-deps", binary)
	imports := map[string][]string{}
	for _, p := range deps {
		imports[p.ImportPath] = p.Imports
	}
	for _, f := range notInBinary {
		if chain := importChain(imports, binary, f.lib); chain != nil {
			t.Errorf("the madx binary links %s: %s\n(%s: it may appear only in tests)", chain[len(chain)-1], strings.Join(chain, " -> "), f.why)
		}
	}
}

// importChain is the shortest chain of imports from root to a package
// under lib, or nil.
func importChain(imports map[string][]string, root, lib string) []string {
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if under(p, lib) {
			var chain []string
			for ; p != ""; p = from[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range imports[p] {
			if _, seen := from[imp]; !seen {
				from[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// TestNoTestingPackagesInProductionCode: production code serves requests
// through the router or internal/inprocess, never through httptest's
// recorder, and server/pipeline, which decides every write, takes no HTTP
// types (issue 11).
func TestNoTestingPackagesInProductionCode(t *testing.T) {
	// Test helpers: imported by tests and benchmarks only.
	testHelpers := []string{module + "/store/storetest", module + "/store/mongotest", module + "/internal/cputime", module + "/internal/adxlint"}
	for _, p := range goList(t, module+"/...") {
		for _, imp := range p.Imports {
			if (imp == "net/http/httptest" || imp == "testing") && !slices.Contains(testHelpers, p.ImportPath) {
				t.Errorf("%s imports %s outside its tests", p.ImportPath, imp)
			}
			if p.ImportPath == module+"/server/pipeline" && (under(imp, "github.com/gin-gonic/gin") || imp == "net/http/httptest" || imp == "net/url") {
				t.Errorf("server/pipeline imports %s: the pipeline decides writes from intents, not from HTTP requests", imp)
			}
		}
	}
}
