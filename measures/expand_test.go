package measures

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

const hierarchy = `{"resourceType":"CodeSystem","id":"h","url":"http://t/h","version":"1","status":"active","content":"complete",
 "property":[{"code":"colour","type":"string"},{"code":"parent","type":"code"}],
 "concept":[
  {"code":"a","concept":[
    {"code":"a1","property":[{"code":"colour","valueString":"red"}],"concept":[{"code":"a11"}]},
    {"code":"a2"}]},
  {"code":"b","concept":[{"code":"b1","property":[{"code":"colour","valueString":"blue"}]}]},
  {"code":"c","property":[{"code":"parent","valueCode":"b"}]}]}`

// terminologyOf parses FHIR JSON resources into a fake Terminology.
func terminologyOf(tb testing.TB, resources ...string) fakeTerminology {
	tb.Helper()
	term := fakeTerminology{}
	for _, r := range resources {
		term.add(unwrap(parse(tb, []byte(r))))
	}
	return term
}

func vs(url, body string) string {
	return `{"resourceType":"ValueSet","url":"` + url + `","status":"active",` + body + `}`
}

func TestExpand(t *testing.T) {
	term := terminologyOf(t,
		hierarchy,
		`{"resourceType":"CodeSystem","url":"http://t/ci","status":"active","content":"complete","caseSensitive":false,"concept":[{"code":"Yes"},{"code":"No"}]}`,
		`{"resourceType":"CodeSystem","url":"http://t/frag","status":"active","content":"fragment","concept":[{"code":"x1"}]}`,
		vs("http://t/vs/concepts", `"compose":{"include":[{"system":"http://t/h","concept":[{"code":"a"},{"code":"b"}]}]}`),
		vs("http://t/vs/whole", `"compose":{"include":[{"system":"http://t/h"}]}`),
		vs("http://t/vs/versioned", `"compose":{"include":[{"system":"http://t/h","version":"1"}]}`),
		vs("http://t/vs/exclude", `"compose":{"include":[{"system":"http://t/h"}],"exclude":[{"system":"http://t/h","concept":[{"code":"a1"}]}]}`),
		vs("http://t/vs/exclude-system", `"compose":{"include":[{"system":"http://t/h"},{"system":"http://t/ci"}],"exclude":[{"system":"http://t/ci"}]}`),
		vs("http://t/vs/nested", `"compose":{"include":[{"valueSet":["http://t/vs/concepts"]},{"system":"http://t/ci","concept":[{"code":"Yes"}]}]}`),
		vs("http://t/vs/intersect", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"is-a","value":"a"}],"valueSet":["http://t/vs/concepts"]}]}`),
		vs("http://t/vs/is-a", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}`),
		vs("http://t/vs/descendent-of", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"descendent-of","value":"a"}]}]}`),
		vs("http://t/vs/is-not-a", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"is-not-a","value":"a"}]}]}`),
		vs("http://t/vs/generalizes", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"generalizes","value":"a11"}]}]}`),
		vs("http://t/vs/in", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"in","value":"a,b1"}]}]}`),
		vs("http://t/vs/regex", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"code","op":"regex","value":"a.*"}]}]}`),
		vs("http://t/vs/property", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"colour","op":"=","value":"red"}]}]}`),
		vs("http://t/vs/parent-property", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"concept","op":"is-a","value":"b"}]}]}`),
		vs("http://t/vs/unsupported", `"compose":{"include":[{"system":"http://t/h","filter":[{"property":"colour","op":"is-a","value":"red"}]}]}`),
		vs("http://t/vs/expansion", `"expansion":{"timestamp":"2025-01-01T00:00:00Z","contains":[{"system":"http://t/e","code":"e1","contains":[{"system":"http://t/e","code":"e2"}]}]}`),
		vs("http://t/vs/absent-system", `"compose":{"include":[{"system":"http://t/absent"}]}`),
		vs("http://t/vs/absent-nested", `"compose":{"include":[{"valueSet":["http://t/vs/nowhere"]}]}`),
		vs("http://t/vs/cycle", `"compose":{"include":[{"valueSet":["http://t/vs/cycle"]}]}`),
		vs("http://t/vs/fragment", `"compose":{"include":[{"system":"http://t/frag"}]}`),
		vs("http://t/vs/ci", `"compose":{"include":[{"system":"http://t/ci"}]}`),
	)
	type probe struct {
		system, code string
		want         membership
	}
	h := func(code string, want membership) probe { return probe{"http://t/h", code, want} }
	tests := []struct {
		canonical string
		gaps      bool
		probes    []probe
	}{
		{"http://t/vs/concepts", false, []probe{h("a", member), h("b", member), h("a1", notMember), {"http://t/other", "a", notMember}}},
		{"http://t/vs/whole", false, []probe{h("a", member), h("a11", member), h("c", member), h("zz", notMember)}},
		{"http://t/vs/versioned", false, []probe{h("b1", member)}},
		{"http://t/h", false, []probe{h("a2", member), h("zz", notMember)}}, // a CodeSystem named directly
		{"http://t/h|1", false, []probe{h("a2", member)}},
		{"http://t/vs/exclude", false, []probe{h("a1", notMember), h("a11", member), h("a", member)}},
		{"http://t/vs/exclude-system", false, []probe{{"http://t/ci", "Yes", notMember}, h("a", member)}},
		{"http://t/vs/nested", false, []probe{h("a", member), h("a1", notMember), {"http://t/ci", "Yes", member}, {"http://t/ci", "No", notMember}}},
		{"http://t/vs/intersect", false, []probe{h("a", member), h("b", notMember), h("a1", notMember)}},
		{"http://t/vs/is-a", false, []probe{h("a", member), h("a1", member), h("a11", member), h("a2", member), h("b", notMember)}},
		{"http://t/vs/descendent-of", false, []probe{h("a", notMember), h("a11", member)}},
		{"http://t/vs/is-not-a", false, []probe{h("a1", notMember), h("b1", member), h("c", member)}},
		{"http://t/vs/generalizes", false, []probe{h("a", member), h("a1", member), h("a11", member), h("a2", notMember)}},
		{"http://t/vs/in", false, []probe{h("a", member), h("b1", member), h("b", notMember)}},
		{"http://t/vs/regex", false, []probe{h("a11", member), h("b", notMember)}},
		{"http://t/vs/property", false, []probe{h("a1", member), h("b1", notMember)}},
		{"http://t/vs/parent-property", false, []probe{h("b1", member), h("c", member), h("a", notMember)}},
		{"http://t/vs/unsupported", true, []probe{h("a1", unverified), {"http://t/other", "a1", notMember}}},
		{"http://t/vs/expansion", false, []probe{{"http://t/e", "e1", member}, {"http://t/e", "e2", member}, {"http://t/e", "e3", notMember}}},
		{"http://t/vs/absent-system", true, []probe{{"http://t/absent", "anything", unverified}, h("a", notMember)}},
		{"http://t/vs/absent-nested", true, []probe{h("a", unverified)}},
		{"http://t/vs/cycle", true, []probe{h("a", unverified)}},
		{"http://t/vs/fragment", true, []probe{{"http://t/frag", "x1", member}, {"http://t/frag", "x2", unverified}}},
		{"http://t/vs/ci", false, []probe{{"http://t/ci", "yes", member}, {"http://t/ci", "maybe", notMember}}},
	}
	for _, tc := range tests {
		t.Run(tc.canonical, func(t *testing.T) {
			e := newExpander(context.Background(), term)
			x, err := e.expand(tc.canonical, 0)
			if err != nil || !x.found {
				t.Fatalf("expand: %+v, %v", x, err)
			}
			if got := len(x.gaps) > 0; got != tc.gaps {
				t.Errorf("gaps %q, want some: %v", x.gaps, tc.gaps)
			}
			for _, p := range tc.probes {
				if got := x.set.lookup(codeKey{p.system, p.code}); got != p.want {
					t.Errorf("lookup %s|%s = %d, want %d", p.system, p.code, got, p.want)
				}
			}
		})
	}
}

// failingTerminology fails every lookup, as a broken store would.
type failingTerminology struct{ err error }

func (f failingTerminology) Resolve(context.Context, string) (proto.Message, bool, error) {
	return nil, false, f.err
}

func TestCompileTerminologyFailure(t *testing.T) {
	boom := errors.New("store down")
	d, issues, err := Compile(context.Background(), loadMeasure(t), failingTerminology{boom}, Options{})
	if !errors.Is(err, boom) || d != nil || issues != nil {
		t.Errorf("Compile = %v, %v, %v; want nil, nil, an error wrapping %v", d, issues, err, boom)
	}
}

func TestCompileIssues(t *testing.T) {
	full, _ := fixtures(t)
	withoutTB := fakeTerminology{}
	for k, v := range full {
		if k != "http://ihe.net/qrph/madx/TBdiagnosisResult-stratifiers-example" {
			withoutTB[k] = v
		}
	}
	fragmentWarning := issueShape{warning, oo.Incomplete, "Measure.relatedArtifact[0]"}
	tests := []struct {
		name string
		term Terminology
		opts Options
		want []issueShape
	}{
		{"IHE example: fragment ISO8601DerivedPeriods", full, Options{}, []issueShape{fragmentWarning}},
		{"unresolvable artifact", withoutTB, Options{}, []issueShape{fragmentWarning, {warning, oo.NotFound, "Measure.relatedArtifact[2]"}}},
		{"unresolvable artifact, strict", withoutTB, Options{StrictTerminology: true}, []issueShape{fragmentWarning, {fatal, oo.NotFound, "Measure.relatedArtifact[2]"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, issues, err := Compile(context.Background(), loadMeasure(t), tc.term, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			assertWellFormed(t, issues)
			if diff := cmp.Diff(tc.want, shapes(issues)); diff != "" {
				t.Errorf("issues (-want +got):\n%s\nall: %+v", diff, issues)
			}
			wantDeps := []string{
				"http://hl7.org/fhir/administrative-gender",
				"http://ihe.net/qrph/madx/TBdiagnosisResult-stratifiers-example",
				"https://profiles.ihe.net/QRPH/mADX/CodeSystem/ISO8601DerivedPeriods",
			}
			if diff := cmp.Diff(wantDeps, d.Dependencies()); diff != "" {
				t.Errorf("Dependencies (-want +got):\n%s", diff)
			}
		})
	}
}
