package fhirxml

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestMarshalRefuses(t *testing.T) {
	cases := []struct {
		name string
		msg  proto.Message
	}{
		{name: "nil", msg: nil},
		{name: "nil-resource", msg: (*locpb.Location)(nil)},
		{name: "datatype", msg: &dpb.Coding{}},
		{name: "empty-contained-resource", msg: &bundlepb.ContainedResource{}},
		{name: "div-not-a-div", msg: withDiv(`<p>x</p>`)},
		{name: "div-breaking-out", msg: withDiv(`<div xmlns="http://www.w3.org/1999/xhtml">x</div></text><status value="x"/><text><div>`)},
		{name: "div-with-doctype", msg: withDiv(`<div xmlns="http://www.w3.org/1999/xhtml"><!DOCTYPE x>x</div>`)},
		{name: "div-in-another-namespace", msg: withDiv(`<div xmlns="http://example.org">x</div>`)},
		{name: "div-unclosed", msg: withDiv(`<div xmlns="http://www.w3.org/1999/xhtml"><p>x</div>`)},
		{name: "div-with-undeclared-entity", msg: withDiv(`<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := Marshal(tc.msg, true); err == nil {
				t.Errorf("Marshal succeeded:\n%s", out)
			}
		})
	}
}

func withDiv(div string) *locpb.Location {
	return &locpb.Location{
		Id: &dpb.Id{Value: "l"},
		Text: &dpb.Narrative{
			Status: &dpb.Narrative_StatusCode{Value: 1},
			Div:    &dpb.Xhtml{Value: div},
		},
	}
}

// TestMarshalNarrative: a div is written byte for byte, with the XHTML
// namespace added when the stored div lacks it.
func TestMarshalNarrative(t *testing.T) {
	cases := []struct{ name, div, want string }{
		{name: "as-is", div: `<div xmlns="http://www.w3.org/1999/xhtml"><p a='1'>&#233;&amp;</p></div>`,
			want: `<div xmlns="http://www.w3.org/1999/xhtml"><p a='1'>&#233;&amp;</p></div>`},
		{name: "namespace-added", div: `<div><p>x</p></div>`, want: `<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div>`},
		{name: "empty", div: `<div xmlns="http://www.w3.org/1999/xhtml"/>`, want: `<div xmlns="http://www.w3.org/1999/xhtml"/>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Marshal(withDiv(tc.div), false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("<text><status value=\"generated\"/>"+tc.want+"</text>")) {
				t.Errorf("Marshal wrote\n%s\nwant the div %s", out, tc.want)
			}
			back := decodeXML(t, out).(*locpb.Location)
			if got := back.GetText().GetDiv().GetValue(); got != tc.want {
				t.Errorf("decoded div = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestMarshalLeavesInputAlone: jsonformat's marshaller strips its internal
// extensions from the proto it is given; Marshal must not change it.
func TestMarshalLeavesInputAlone(t *testing.T) {
	msg := decodeXML(t, readFile(t, filepath.Join("testdata", "features.xml")))
	before := proto.Clone(msg)
	encodeXML(t, msg)
	if diff := diffProto(before, msg); diff != "" {
		t.Errorf("Marshal changed its input (-before +after):\n%s", diff)
	}
}

// TestMarshalCompactAndWrapped: pretty only adds whitespace, and a
// ContainedResource is written as the resource it holds.
func TestMarshalCompactAndWrapped(t *testing.T) {
	msg := decodeXML(t, []byte(minimalReport))
	pretty := encodeXML(t, msg)
	compact, err := Marshal(msg, false)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(compact, []byte("\n")) != 0 || canonicalXML(t, compact) != canonicalXML(t, pretty) {
		t.Errorf("compact output differs from pretty beyond whitespace:\n%s", compact)
	}
	cr := &bundlepb.ContainedResource{}
	cr.ProtoReflect().Set(resourceFields()["MeasureReport"], protoreflect.ValueOfMessage(proto.Clone(msg).ProtoReflect()))
	wrapped, err := Marshal(cr, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wrapped, pretty) {
		t.Errorf("Marshal(ContainedResource) differs from Marshal(MeasureReport):\n%s", wrapped)
	}
	if !strings.HasPrefix(string(pretty), xmlDeclaration+"\n<MeasureReport xmlns=\"http://hl7.org/fhir\">\n  <id value=\"mr1\"/>\n") {
		t.Errorf("unexpected start of output:\n%s", pretty)
	}
}

// TestConcurrentUse: Unmarshal and Marshal share only memoised schema
// facts, so they may run from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	data := readFile(t, filepath.Join("testdata", "features.xml"))
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			msg, err := Unmarshal(data)
			if err == nil {
				_, err = Marshal(msg, true)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
