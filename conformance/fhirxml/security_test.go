package fhirxml

import (
	"errors"
	"strings"
	"testing"
	"time"

	oo "github.com/madx-project/madx/operationoutcome"
)

// nested returns a MeasureReport whose first extension nests depth levels
// of extensions.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString(`<MeasureReport xmlns="http://hl7.org/fhir">`)
	b.WriteString(strings.Repeat(`<extension url="http://example.org/x">`, depth))
	b.WriteString(`<valueString value="deep"/>`)
	b.WriteString(strings.Repeat(`</extension>`, depth))
	b.WriteString(`</MeasureReport>`)
	return b.String()
}

func TestUnmarshalHostileXML(t *testing.T) {
	const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE MeasureReport [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<MeasureReport xmlns="http://hl7.org/fhir"><id value="&lol9;"/></MeasureReport>`
	const xxe = `<?xml version="1.0"?>
<!DOCTYPE MeasureReport [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MeasureReport xmlns="http://hl7.org/fhir"><id value="x"/><status value="complete"/><type value="summary"/><measure value="&xxe;"/></MeasureReport>`
	body := minimalReport[strings.Index(minimalReport, "<MeasureReport"):]
	cases := []errorCase{
		{name: "billion-laughs", body: billionLaughs, status: 400, issues: []wantIssue{{oo.Security, ""}}},
		{name: "external-entity-file", body: xxe, status: 400, issues: []wantIssue{{oo.Security, ""}}},
		{name: "external-dtd", body: `<!DOCTYPE MeasureReport SYSTEM "http://attacker.example/fhir.dtd">` + body, status: 400,
			issues: []wantIssue{{oo.Security, ""}}},
		{name: "parameter-entity", body: `<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>` + body, status: 400,
			issues: []wantIssue{{oo.Security, ""}}},
		{name: "doctype-inside-element", body: strings.Replace(body, "<status", `<!DOCTYPE x><status`, 1), status: 400,
			issues: []wantIssue{{oo.Security, "MeasureReport"}}},
		{name: "undeclared-entity", body: strings.Replace(body, `value="mr1"`, `value="&xxe;"`, 1), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport"}}},
		{name: "xinclude", body: strings.Replace(body, "<status", `<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/><status`, 1), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.include"}}},
		{name: "too-deep", body: nested(DefaultMaxDepth + 10), status: 400, issues: []wantIssue{{oo.TooCostly, "MeasureReport" + strings.Repeat(".extension[0]", DefaultMaxDepth-1)}}},
		{name: "too-deep-in-skipped-element", body: strings.Replace(body, "<status", strings.Repeat("<junk>", 200)+strings.Repeat("</junk>", 200)+"<status", 1), status: 400,
			issues: []wantIssue{{oo.Structure, "MeasureReport.junk"}, {oo.TooCostly, "MeasureReport.junk"}}},
		{name: "non-utf8-declaration", body: `<?xml version="1.0" encoding="ISO-8859-1"?>` + body, status: 415,
			issues: []wantIssue{{oo.NotSupported, ""}}},
		{name: "utf16-byte-order-mark", body: "\xff\xfe<\x00M\x00", status: 415, issues: []wantIssue{{oo.NotSupported, ""}}},
		{name: "invalid-utf8", body: strings.Replace(body, "mr1", "mr\xff1", 1), status: 400, issues: []wantIssue{{oo.Structure, "MeasureReport"}}},
		{name: "too-many-problems", body: strings.Replace(body, "<status", strings.Repeat(`<junk/>`, 500)+"<status", 1), status: 400,
			issues: append(repeatIssue(wantIssue{oo.Structure, "MeasureReport.junk"}, maxIssues), wantIssue{oo.TooCostly, ""})},
	}
	runErrorCases(t, cases)
}

func repeatIssue(is wantIssue, n int) []wantIssue {
	out := make([]wantIssue, n)
	for i := range out {
		out[i] = is
	}
	return out
}

// TestUnmarshalHostileXMLLeaksNothing: the refusal of an external entity
// must not depend on, or show, the file it names.
func TestUnmarshalHostileXMLLeaksNothing(t *testing.T) {
	body := `<!DOCTYPE MeasureReport [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><MeasureReport xmlns="http://hl7.org/fhir"><id value="&xxe;"/></MeasureReport>`
	_, err := Unmarshal([]byte(body))
	var oe *oo.Error
	if !errors.As(err, &oe) {
		t.Fatalf("Unmarshal error = %v, want *operationoutcome.Error", err)
	}
	for _, is := range oe.Issues {
		if strings.Contains(is.Diagnostics, "root:") || strings.Contains(is.Diagnostics, "passwd") {
			t.Errorf("diagnostics leak the entity: %q", is.Diagnostics)
		}
	}
}

// TestDecoderLimits checks that the limits are configurable and that a
// body at a limit passes while one past it fails.
func TestDecoderLimits(t *testing.T) {
	ok := nested(8) // 1 + 8 + 1 = 10 levels
	cases := []struct {
		name    string
		dec     Decoder
		body    string
		wantErr oo.IssueType
	}{
		{name: "depth-at-limit", dec: Decoder{MaxDepth: 10}, body: ok},
		{name: "depth-past-limit", dec: Decoder{MaxDepth: 9}, body: ok, wantErr: oo.TooCostly},
		{name: "elements-at-limit", dec: Decoder{MaxElements: 10}, body: ok},
		{name: "elements-past-limit", dec: Decoder{MaxElements: 9}, body: ok, wantErr: oo.TooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.dec.Unmarshal([]byte(tc.body))
			if tc.wantErr == "" {
				// Only the limits are under test: the report itself lacks
				// required elements.
				var oe *oo.Error
				if errors.As(err, &oe) {
					for _, is := range oe.Issues {
						if is.Code != oo.Required {
							t.Errorf("unexpected issue %+v", is)
						}
					}
				}
				return
			}
			var oe *oo.Error
			if !errors.As(err, &oe) || oe.Issues[len(oe.Issues)-1].Code != tc.wantErr {
				t.Fatalf("Unmarshal error = %v, want a %s issue", err, tc.wantErr)
			}
		})
	}
}

// TestUnmarshalIgnoresCommentsAndInstructions: comments and processing
// instructions carry nothing and are skipped wherever they are.
func TestUnmarshalIgnoresCommentsAndInstructions(t *testing.T) {
	want := decodeXML(t, []byte(minimalReport))
	body := strings.NewReplacer(
		`<MeasureReport`, `<?xml-stylesheet href="style.xsl" type="text/xsl"?><!-- a comment --><MeasureReport`,
		`<status value="complete"/>`, `<status value="complete"><!-- note --></status><?app ignore me?>`,
		"</MeasureReport>", "</MeasureReport><!-- trailing -->",
	).Replace(minimalReport)
	got := decodeXML(t, []byte(body))
	if diff := diffProto(want, got); diff != "" {
		t.Errorf("comments changed the result (-want +got):\n%s", diff)
	}
}

// TestUnmarshalLargeFlatBodyIsLinear guards against quadratic work: a
// body with 100,000 elements decodes in well under a few seconds.
func TestUnmarshalLargeFlatBodyIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	var b strings.Builder
	b.WriteString(`<MeasureReport xmlns="http://hl7.org/fhir"><status value="complete"/><type value="summary"/><measure value="http://x"/><period><start value="2025"/></period>`)
	for i := 0; i < 25_000; i++ {
		b.WriteString(`<group><population><count value="1"/></population></group>`)
	}
	b.WriteString(`</MeasureReport>`)
	start := time.Now()
	decodeXML(t, []byte(b.String()))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("decoding 100,000 elements took %v", d)
	}
}
