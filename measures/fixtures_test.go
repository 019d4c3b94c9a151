package measures

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/value_set_go_proto"
	"google.golang.org/protobuf/proto"
)

const (
	definitionsDir = "../testdata/madx/definitions"
	reportsDir     = "../testdata/madx/reports"
	invalidDir     = "../testdata/invalid"
	exampleMeasure = definitionsDir + "/Measure-madx-hiv-indicator-example.json"
	exampleReport  = reportsDir + "/MeasureReport-mADX-MeasureReport-example.json"
	literalReport  = reportsDir + "/MeasureReport-mADX-MeasureReport-example-literal-subject.json"
)

var t_ctx = context.Background()

// parse decodes FHIR JSON into its ContainedResource.
func parse(tb testing.TB, data []byte) *bcrpb.ContainedResource {
	tb.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := u.Unmarshal(data)
	if err != nil {
		tb.Fatalf("unmarshal: %v", err)
	}
	return m.(*bcrpb.ContainedResource)
}

func load(tb testing.TB, path string) *bcrpb.ContainedResource {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return parse(tb, data)
}

// unwrap returns the resource inside a ContainedResource.
func unwrap(cr *bcrpb.ContainedResource) proto.Message {
	m := cr.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("oneof_resource"))
	if fd == nil {
		return nil
	}
	return m.Get(fd).Message().Interface()
}

func loadMeasure(tb testing.TB) *mpb.Measure {
	tb.Helper()
	return load(tb, exampleMeasure).GetMeasure()
}

func loadReport(tb testing.TB, path string) *mrpb.MeasureReport {
	tb.Helper()
	r := load(tb, path).GetMeasureReport()
	if r == nil {
		tb.Fatalf("%s is not a MeasureReport", path)
	}
	return r
}

// bundleReports returns the MeasureReports inside a Bundle file.
func bundleReports(tb testing.TB, path string) []*mrpb.MeasureReport {
	tb.Helper()
	var out []*mrpb.MeasureReport
	for _, e := range load(tb, path).GetBundle().GetEntry() {
		if r := e.GetResource().GetMeasureReport(); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// fakeTerminology is a map-backed Terminology: canonical ("url" and
// "url|version") -> resource.
type fakeTerminology map[string]proto.Message

func (f fakeTerminology) Resolve(_ context.Context, canonical string) (proto.Message, bool, error) {
	m, ok := f[canonical]
	return m, ok, nil
}

func (f fakeTerminology) add(res proto.Message) {
	var url, version string
	switch r := res.(type) {
	case *vspb.ValueSet:
		url, version = r.GetUrl().GetValue(), r.GetVersion().GetValue()
	case *cspb.CodeSystem:
		url, version = r.GetUrl().GetValue(), r.GetVersion().GetValue()
	}
	f[url] = res
	if version != "" {
		f[url+"|"+version] = res
	}
}

// fixtures loads every definition: the terminology and the registry.
func fixtures(tb testing.TB) (fakeTerminology, *Registry) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(definitionsDir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	term := fakeTerminology{}
	var locs []*locpb.Location
	var orgs []*orgpb.Organization
	for _, f := range files {
		switch r := unwrap(load(tb, f)).(type) {
		case *vspb.ValueSet, *cspb.CodeSystem:
			term.add(r)
		case *locpb.Location:
			locs = append(locs, r)
		case *orgpb.Organization:
			orgs = append(orgs, r)
		}
	}
	return term, NewRegistry(locs, orgs, nil)
}

// exampleDefinition compiles the IHE example Measure over the fixtures.
func exampleDefinition(tb testing.TB, opts Options) (*Definition, *Registry) {
	tb.Helper()
	term, reg := fixtures(tb)
	d, _, err := Compile(context.Background(), loadMeasure(tb), term, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return d, reg
}

// editJSON loads a fixture, applies string replacements and parses it.
func editJSON(tb testing.TB, path string, oldNew ...string) *bcrpb.ContainedResource {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			tb.Fatalf("%s does not contain %q", path, oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return parse(tb, []byte(s))
}
