package kit

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// testdataMadx is the repository's copy of the fixtures; go:embed cannot
// reach above the package, so the kit keeps its own (fixtures/NOTICE.md).
var testdataMadx = filepath.Join("..", "..", "testdata", "madx")

// TestFixturesAreCopiesOfTestdata keeps the two copies one: every embedded
// JSON fixture is byte for byte the file of the same name under
// testdata/madx, and every definition there is embedded, so a fixture
// edited in one place only fails here rather than making the kit check
// other data than the server's own tests.
func TestFixturesAreCopiesOfTestdata(t *testing.T) {
	embeddedJSON := map[string]bool{}
	err := fs.WalkDir(embeddedFixtures(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		embeddedJSON[p] = true
		embeddedBody, err := fs.ReadFile(embeddedFixtures(), p)
		if err != nil {
			return err
		}
		src := filepath.Join(testdataMadx, filepath.FromSlash(p))
		orig, err := os.ReadFile(src)
		switch {
		case err != nil:
			t.Errorf("conformance/kit/fixtures/%s has no original: %v", p, err)
		case !bytes.Equal(embeddedBody, orig):
			t.Errorf("conformance/kit/fixtures/%s differs from testdata/madx/%s: edit the original and copy it (cp testdata/madx/%s conformance/kit/fixtures/%s)",
				p, p, p, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defs, err := filepath.Glob(filepath.Join(testdataMadx, "definitions", "*.json"))
	if err != nil || len(defs) == 0 {
		t.Fatalf("no definitions under %s (%v)", testdataMadx, err)
	}
	for _, f := range defs {
		if p := "definitions/" + filepath.Base(f); !embeddedJSON[p] {
			t.Errorf("testdata/madx/%s is not in conformance/kit/fixtures: copy it (cp testdata/madx/%s conformance/kit/fixtures/%s)", p, p, p)
		}
	}
}
