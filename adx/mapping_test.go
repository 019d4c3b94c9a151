package adx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	"github.com/madx-project/madx/conformance/fhirjson"
	"github.com/madx-project/madx/measures"
	"google.golang.org/protobuf/proto"
)

// fixture is testdata/adx/definitions in memory.
type fixture struct {
	ms   []*mpb.Measure
	locs []*locpb.Location
	cs   map[string]proto.Message
}

func (f *fixture) Measures() []*mpb.Measure     { return f.ms }
func (f *fixture) Locations() []*locpb.Location { return f.locs }
func (f *fixture) Resolve(_ context.Context, canonical string) (proto.Message, bool, error) {
	m, ok := f.cs[canonical]
	return m, ok, nil
}
func (f *fixture) Compiled(ctx context.Context, canonical string) (*measures.Definition, error) {
	for _, m := range f.ms {
		if m.GetUrl().GetValue() == canonical {
			d, _, err := measures.Compile(ctx, m, f, measures.Options{})
			return d, err
		}
	}
	return nil, os.ErrNotExist
}

func loadFixture(tb testing.TB) *fixture {
	tb.Helper()
	files, _ := filepath.Glob("../testdata/adx/definitions/*.json")
	f := &fixture{cs: map[string]proto.Message{}}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := fhirjson.Unmarshal(b)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		switch r := res.(type) {
		case *mpb.Measure:
			f.ms = append(f.ms, r)
		case *locpb.Location:
			f.locs = append(f.locs, r)
		case *cspb.CodeSystem:
			f.cs[r.GetUrl().GetValue()] = r
		}
	}
	if len(f.ms) == 0 || len(f.locs) == 0 {
		tb.Fatal("testdata/adx/definitions holds no Measure or Location")
	}
	return f
}

func mapText(tb testing.TB, f *fixture, text string, opts Options) []Report {
	tb.Helper()
	m, err := Parse([]byte(text), Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := Map(context.Background(), f, m, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

func TestMapDHIS2Example(t *testing.T) {
	f := loadFixture(t)
	b, err := os.ReadFile("../testdata/adx/dhis2-adx-example.xml")
	if err != nil {
		t.Fatal(err)
	}
	rs := mapText(t, f, string(b), Options{})
	if len(rs) != 1 || rs[0].Report == nil {
		t.Fatalf("reports %+v", rs)
	}
	r := rs[0].Report
	if rs[0].Values != 20 || r.GetMeasure().GetValue() != "http://example.org/dhis2/Measure/TBHIV-VCCT" || r.GetSubject().GetLocationId().GetValue() != "OU-559" {
		t.Fatalf("report head: values %d, measure %s, subject %v", rs[0].Values, r.GetMeasure().GetValue(), r.GetSubject())
	}
	var counts []int32
	for _, g := range r.GetGroup() {
		counts = append(counts, g.GetPopulation()[0].GetCount().GetValue())
		if n := len(g.GetStratifier()[0].GetStratum()); n != 4 {
			t.Errorf("group %s: %d strata, want 4", firstCode(g.GetCode()), n)
		}
	}
	// The README's totals: the sums of the four strata of each dataElement.
	want := []int32{128, 80, 40, 40, 40}
	if len(counts) != len(want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
	for i := range want {
		if counts[i] != want[i] {
			t.Fatalf("counts %v, want %v", counts, want)
		}
	}
}

func TestMapRefusals(t *testing.T) {
	f := loadFixture(t)
	// A second Measure with the same dataSet identifier, and a second
	// Location with the same orgUnit code: ambiguous, naming the candidates.
	twin := proto.Clone(f.ms[0]).(*mpb.Measure)
	twin.Id.Value, twin.Url.Value = "twin", "http://example.org/dhis2/Measure/twin"
	loc := proto.Clone(f.locs[0]).(*locpb.Location)
	loc.Id.Value = "OU-559-b"
	ambiguous := &fixture{ms: append([]*mpb.Measure{twin}, f.ms...), locs: append([]*locpb.Location{loc}, f.locs...), cs: f.cs}

	dv := `<dataValue dataElement="VCCT_0" value="3"/>`
	grp := func(attrs string) string {
		return `<group orgUnit="OU_559" dataSet="(TB/HIV)VCCT" ` + attrs + `>` + dv + `</group>`
	}
	msg := func(groups ...string) string { return head + strings.Join(groups, "") + `</adx>` }
	for _, tc := range []struct {
		name   string
		defs   *fixture
		text   string
		opts   Options
		object string
		says   []string
	}{
		{"ambiguous dataSet", ambiguous, msg(grp(`period="2015-01-01/P1M"`)), Options{}, "/adx/group[1]/@dataSet",
			[]string{"ambiguous", "Measure/twin", "Measure/dhis2-TBHIV-VCCT"}},
		{"ambiguous orgUnit", ambiguous, msg(grp(`period="2015-01-01/P1M"`)), Options{}, "/adx/group[1]/@orgUnit",
			[]string{"ambiguous", "Location/OU-559", "Location/OU-559-b"}},
		{"dataSet by uid", f, msg(`<group orgUnit="OU_559" dataSet="dhis2-TBHIV-VCCT" period="2015-01-01/P1M">` + dv + `</group>`), Options{DataSet: UID}, "", nil},
		{"dataSet by name", f, msg(`<group orgUnit="OU_559" dataSet="TBHIV_VCCT" period="2015-01-01/P1M">` + dv + `</group>`), Options{}, "", nil},
		{"same report twice", f, msg(grp(`period="2015-01-01/P1M"`), grp(`period="2015-01-01/P1M"`)), Options{}, "/adx/group[2]",
			[]string{"group[1], group[2]", "none of them"}},
		{"bad completeDate", f, msg(grp(`period="2015-01-01/P1M" completeDate="July"`)), Options{}, "/adx/group[1]/@completeDate", []string{`"July"`}},
		{"fractional count", f, msg(`<group orgUnit="OU_559" dataSet="(TB/HIV)VCCT" period="2015-01-01/P1M"><dataValue dataElement="VCCT_0" value="2.5"/></group>`), Options{},
			"/adx/group[1]/dataValue[1]/@value", []string{"whole number"}},
		{"negative", f, msg(`<group orgUnit="OU_559" dataSet="(TB/HIV)VCCT" period="2015-01-01/P1M"><dataValue dataElement="VCCT_0" value="-2"/></group>`), Options{},
			"/adx/group[1]/dataValue[1]/@value", []string{"negative"}},
		{"dataElement by uid, sent as code", f, msg(grp(`period="2015-01-01/P1M"`)), Options{DataElement: UID}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := mapText(t, tc.defs, tc.text, tc.opts)
			if tc.object == "" {
				for _, r := range rs {
					if r.Report == nil {
						t.Fatalf("refused: %+v", r.Conflicts)
					}
				}
				return
			}
			for _, r := range rs {
				for _, c := range r.Conflicts {
					if c.Object == tc.object {
						for _, w := range tc.says {
							if !strings.Contains(c.Value, w) {
								t.Errorf("%s: %q does not say %q", c.Object, c.Value, w)
							}
						}
						if r.Report != nil {
							t.Error("a group with a conflict has a report")
						}
						return
					}
				}
			}
			t.Fatalf("no conflict about %s: %+v", tc.object, rs)
		})
	}
}

func TestWhere(t *testing.T) {
	f := loadFixture(t)
	b, _ := os.ReadFile("../testdata/adx/dhis2-adx-example.xml")
	r := mapText(t, f, string(b), Options{})[0]
	for expr, want := range map[string]string{
		"MeasureReport.group[0].stratifier[0].stratum[1].measureScore": "/adx/group[1]/dataValue[6] (MeasureReport.group[0].stratifier[0].stratum[1].measureScore)",
		"MeasureReport.group[4].stratifier[0].stratum[3]":              "/adx/group[1]/dataValue[20] (MeasureReport.group[4].stratifier[0].stratum[3])",
		"MeasureReport.subject":                                        "/adx/group[1]/@orgUnit (MeasureReport.subject)",
		"":                                                             "/adx/group[1]",
	} {
		if got := r.Where(expr); got != want {
			t.Errorf("Where(%q) = %q, want %q", expr, got, want)
		}
	}
}
