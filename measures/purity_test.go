package measures

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
)

// TestPure keeps the engine pure (STYLE.md: measures never does I/O): no
// file, network, logging or database package, and no clock.
func TestPure(t *testing.T) {
	forbidden := map[string]bool{"os": true, "io/ioutil": true, "net": true, "net/http": true, "log": true,
		"log/slog": true, "database/sql": true, "math/rand": true, "math/rand/v2": true, "os/exec": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); forbidden[p] {
				t.Errorf("%s imports %s: the engine must not do I/O", f, p)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since" || sel.Sel.Name == "LoadLocation") {
					t.Errorf("%s: time.%s: the engine has no clock and reads no zone database", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}

// TestIssuesWellFormed sweeps degenerate inputs through every entry point:
// each issue must have diagnostics and one expression rooted at Measure or
// MeasureReport, and nothing may panic on empty resources.
func TestIssuesWellFormed(t *testing.T) {
	assertWellFormed(t, ValidateMeasure(&mpb.Measure{}))
	d, issues, err := Compile(context.Background(), loadMeasure(t), nil, Options{StrictTerminology: true})
	if err != nil {
		t.Fatal(err)
	}
	assertWellFormed(t, issues)
	empty := &mrpb.MeasureReport{}
	assertWellFormed(t, d.Check(empty, nil))
	if got := len(d.Check(empty, nil)); got < 5 {
		t.Errorf("empty report: %d issues, want measure, status, type, subject, period, group", got)
	}
	_, reg := fixtures(t)
	r := loadReport(t, exampleReport)
	for _, g := range r.Group {
		for _, s := range g.Stratifier {
			for _, st := range s.Stratum {
				st.MeasureScore.Value.Value = "-1"
			}
		}
	}
	all := d.Check(r, reg)
	assertWellFormed(t, all)
	if len(all) < 32 {
		t.Errorf("got %d issues, want one per negative stratum at least", len(all))
	}
	dEmpty, _, err := Compile(context.Background(), &mpb.Measure{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertWellFormed(t, dEmpty.Check(r, reg))
}
