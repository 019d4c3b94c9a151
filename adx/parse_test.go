package adx

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const head = `<adx xmlns="urn:ihe:qrph:adx:2015" exported="2015-02-08T19:30:00Z">`

func TestParseExample(t *testing.T) {
	m, err := Parse([]byte(`<?xml version="1.0" encoding="UTF-8"?>`+head+`
	<!-- a comment -->
	<group orgUnit="OU_559" period="2015-06-01/P1M" completeDate="2015-07-01" dataSet="(TB/HIV)VCCT" mechanism="M1">
	  <dataValue dataElement="VCCT_0" GENDER="FMLE" HIV_AGE="AGE0-14" value="32"><annotation>seen</annotation></dataValue>
	  <dataValue dataElement="VCCT_1" value="20"/>
	</group></adx>`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Message{Exported: "2015-02-08T19:30:00Z", Groups: []Group{{
		OrgUnit: "OU_559", Period: "2015-06-01/P1M", DataSet: "(TB/HIV)VCCT", CompleteDate: "2015-07-01",
		Attrs: []Attr{{"mechanism", "M1"}},
		Values: []DataValue{
			{DataElement: "VCCT_0", Value: "32", Disaggs: []Attr{{"GENDER", "FMLE"}, {"HIV_AGE", "AGE0-14"}}},
			{DataElement: "VCCT_1", Value: "20"},
		},
	}}}
	if d := cmp.Diff(want, m); d != "" {
		t.Fatalf("(-want +got)\n%s", d)
	}
}

func TestParseRefusals(t *testing.T) {
	dv := `<dataValue dataElement="A" value="1"/>`
	g := func(inner string) string {
		return head + `<group orgUnit="O" period="2015-01-01/P1M" dataSet="D">` + inner + `</group></adx>`
	}
	for _, tc := range []struct {
		name, in, where, says string
		lim                   Limits
	}{
		{"empty", ``, "", "empty", Limits{}},
		{"not XML", `hello`, "/", "the root is text", Limits{}},
		{"wrong namespace", `<adx xmlns="urn:other"><group/></adx>`, "/", "urn:ihe:qrph:adx:2015", Limits{}},
		{"no namespace", `<adx/>`, "/", "no namespace", Limits{}},
		{"DTD", `<!DOCTYPE adx [<!ENTITY a "b">]>` + g(dv), "", "DTD", Limits{}},
		{"entity", head + `<group orgUnit="&a;" period="p" dataSet="D">` + dv + `</group></adx>`, "", "malformed XML", Limits{}},
		{"Latin-1 declared", `<?xml version="1.0" encoding="ISO-8859-1"?>` + g(dv), "", "UTF-8", Limits{}},
		{"invalid UTF-8", g(`<dataValue dataElement="` + "\xff" + `" value="1"/>`), "", "UTF-8", Limits{}},
		{"processing instruction", `<?php x?>` + g(dv), "", "processing instruction", Limits{}},
		{"no group", head + `</adx>`, "/adx", "no group", Limits{}},
		{"empty group", g(``), "/adx/group[1]", "no dataValue", Limits{}},
		{"missing orgUnit", head + `<group period="p" dataSet="D">` + dv + `</group></adx>`, "/adx/group[1]/@orgUnit", "required", Limits{}},
		{"missing dataSet", head + `<group period="p" orgUnit="O">` + dv + `</group></adx>`, "/adx/group[1]/@dataSet", "required", Limits{}},
		{"missing value", g(dv + `<dataValue dataElement="A"/>`), "/adx/group[1]/dataValue[2]/@value", "required", Limits{}},
		{"missing dataElement", g(`<dataValue value="1"/>`), "/adx/group[1]/dataValue[1]/@dataElement", "required", Limits{}},
		{"foreign element", g(`<value/>`), "/adx/group[1]/dataValue[1]", "expected <dataValue>", Limits{}},
		{"text in group", g(`text`), "/adx/group[1]", "text", Limits{}},
		{"duplicate attribute", g(`<dataValue dataElement="A" GENDER="F" GENDER="M" value="1"/>`), "", "", Limits{}},
		{"too deep", g(`<dataValue dataElement="A" value="1"><annotation><a><b><c><d><e/></d></c></b></a></annotation></dataValue>`), "/adx/group[1]/dataValue[1]/annotation", "deeper", Limits{}},
		{"too big", g(dv), "", "bytes", Limits{MaxBytes: 10}},
		{"too many groups", head + strings.Repeat(`<group orgUnit="O" period="p" dataSet="D">`+dv+`</group>`, 3) + `</adx>`, "/adx/group[3]", "more than 2 groups", Limits{MaxGroups: 2}},
		{"too many values", g(dv + dv + dv), "/adx/group[1]/dataValue[3]", "more than 2 dataValues", Limits{MaxDataValues: 2}},
		{"too many attributes", g(`<dataValue dataElement="A" a="1" b="2" value="1"/>`), "/adx/group[1]/dataValue[1]", "attributes", Limits{MaxAttributes: 3}},
		{"long attribute", g(`<dataValue dataElement="` + strings.Repeat("x", 40) + `" value="1"/>`), "/adx/group[1]/dataValue[1]/@dataElement", "bytes", Limits{MaxAttrBytes: 30}},
		{"unclosed", head + `<group orgUnit="O" period="p" dataSet="D">` + dv, "", "", Limits{}},
		{"trailing content", g(dv) + `<adx/>`, "/adx", "after", Limits{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), tc.lim)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SyntaxError", err)
			}
			if tc.where != "" && se.Where != tc.where {
				t.Errorf("Where = %q, want %q (%v)", se.Where, tc.where, err)
			}
			if !strings.Contains(se.Msg, tc.says) {
				t.Errorf("Msg = %q, want it to say %q", se.Msg, tc.says)
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct{ in, start, end, err string }{
		{"2015-06-01/P1M", "2015-06-01", "2015-06-30", ""},
		{"2016-02-01/P1M", "2016-02-01", "2016-02-29", ""},
		{"2015-06-03/P1D", "2015-06-03", "2015-06-03", ""},
		{"2015-06-01/P7D", "2015-06-01", "2015-06-07", ""}, // Monday: ISO week
		{"2015-06-03/P7D", "2015-06-03", "2015-06-09", ""}, // Wednesday: DHIS2 WeeklyWednesday
		{"2015-03-01/P2M", "2015-03-01", "2015-04-30", ""},
		{"2015-10-01/P3M", "2015-10-01", "2015-12-31", ""},
		{"2015-07-01/P6M", "2015-07-01", "2015-12-31", ""},
		{"2015-04-01/P6M", "2015-04-01", "2015-09-30", ""},
		{"2015-01-01/P1Y", "2015-01-01", "2015-12-31", ""},
		{"2015-04-01/P1Y", "2015-04-01", "2016-03-31", ""}, // financial April
		{"2015-07-01/P1Y", "2015-07-01", "2016-06-30", ""},
		{"2015-10-01/P1Y", "2015-10-01", "2016-09-30", ""},
		{"2015-06", "", "", "start/duration"},
		{"2015-06-01", "", "", "start/duration"},
		{"June/P1M", "", "", "not a date"},
		{"2015-06-01/P4M", "", "", "P1D, P7D, P1M"},
		{"2015-06-01/P1W", "", "", "P1D, P7D, P1M"},
		{"2015-06-02/P7D", "", "", "Tuesday"},
		{"2015-06-15/P1M", "", "", "first day of a month"},
		{"2015-02-01/P2M", "", "", "January, March"},
		{"2015-02-01/P3M", "", "", "January, April"},
		{"2015-02-01/P6M", "", "", "January or July"},
		{"2015-02-01/P1Y", "", "", "financial"},
	} {
		p, err := ParsePeriod(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := p.Start.Format("2006-01-02") + " " + p.End.Format("2006-01-02"); got != tc.start+" "+tc.end {
			t.Errorf("%s: %s, want %s %s", tc.in, got, tc.start, tc.end)
		}
		if p.String() != tc.in {
			t.Errorf("%s: String() = %s", tc.in, p.String())
		}
	}
}

func TestDecimal(t *testing.T) {
	for in, want := range map[string]string{"32": "32", "+032.50": "32.50", ".5": "0.5", "5.": "5", "-0": "0", "-1.5": "-1.5", "007": "7"} {
		if got, ok := decimal(in); !ok || got != want {
			t.Errorf("decimal(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", ".", "1e3", "1,5", "many", "1.2.3", "--1"} {
		if got, ok := decimal(in); ok {
			t.Errorf("decimal(%q) = %q, want refused", in, got)
		}
	}
}
