package fhirxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
)

// repoTestdata is the repository's shared testdata directory.
const repoTestdata = "../../testdata"

// fixture is an XML file written by FHIR.js and the JSON it was made from.
type fixture struct {
	name     string
	xmlPath  string
	jsonPath string
	xmlData  []byte
	jsonData []byte
}

// fixtures returns every testdata/madx/xml file with its JSON twin.
func fixtures(tb testing.TB) []fixture {
	tb.Helper()
	xmls, err := filepath.Glob(filepath.Join(repoTestdata, "madx", "xml", "*.xml"))
	if err != nil || len(xmls) == 0 {
		tb.Fatalf("no XML fixtures: %v", err)
	}
	var out []fixture
	for _, x := range xmls {
		base := strings.TrimSuffix(filepath.Base(x), ".xml")
		var twin string
		for _, dir := range []string{"madx/definitions", "madx/reports", "madx"} {
			p := filepath.Join(repoTestdata, dir, base+".json")
			if _, err := os.Stat(p); err == nil {
				twin = p
				break
			}
		}
		if twin == "" {
			tb.Fatalf("%s has no JSON twin", x)
		}
		out = append(out, fixture{name: base, xmlPath: x, jsonPath: twin, xmlData: readFile(tb, x), jsonData: readFile(tb, twin)})
	}
	return out
}

// jsonResources returns every JSON resource under testdata/madx.
func jsonResources(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, pattern := range []string{"madx/*.json", "madx/definitions/*.json", "madx/reports/*.json"} {
		m, err := filepath.Glob(filepath.Join(repoTestdata, pattern))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		tb.Fatal("no JSON resources")
	}
	return out
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// decodeJSON decodes FHIR JSON the way the server does, returning the
// resource message.
func decodeJSON(tb testing.TB, data []byte) proto.Message {
	tb.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := u.Unmarshal(data)
	if err != nil {
		tb.Fatalf("jsonformat: %v", err)
	}
	return containedMember(msg.ProtoReflect()).Interface()
}

// encodeJSON is jsonformat's canonical JSON of a resource message.
func encodeJSON(tb testing.TB, msg proto.Message) []byte {
	tb.Helper()
	m, err := jsonformat.NewPrettyMarshaller(fhirversion.R4)
	if err != nil {
		tb.Fatal(err)
	}
	// jsonformat's marshaller strips internal extensions in place.
	b, err := m.MarshalResource(proto.Clone(msg))
	if err != nil {
		tb.Fatalf("jsonformat marshal: %v", err)
	}
	return b
}

func decodeXML(tb testing.TB, data []byte) proto.Message {
	tb.Helper()
	msg, err := Unmarshal(data)
	if err != nil {
		tb.Fatalf("Unmarshal: %v", err)
	}
	return msg
}

func encodeXML(tb testing.TB, msg proto.Message) []byte {
	tb.Helper()
	b, err := Marshal(msg, true)
	if err != nil {
		tb.Fatalf("Marshal: %v", err)
	}
	return b
}

// normalizeNarratives replaces every narrative div in msg (contained
// resources included) by its canonicalXML form. FHIR.js re-serialises
// XHTML when it writes XML (it drops whitespace-only text and writes &quot;
// in text as "), so only the canonical forms of the divs can agree.
func normalizeNarratives(tb testing.TB, msg proto.Message) proto.Message {
	tb.Helper()
	msg = proto.Clone(msg)
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if x, ok := m.Interface().(*dpb.Xhtml); ok {
			x.Value = canonicalXML(tb, []byte(x.Value))
			return
		}
		if a, ok := m.Interface().(*anypb.Any); ok {
			cr := &bundlepb.ContainedResource{}
			if err := a.UnmarshalTo(cr); err != nil {
				tb.Fatal(err)
			}
			walk(cr.ProtoReflect())
			if err := a.MarshalFrom(cr); err != nil {
				tb.Fatal(err)
			}
			return
		}
		m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case f.Message() == nil:
			case f.IsList():
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message())
				}
			default:
				walk(v.Message())
			}
			return true
		})
	}
	walk(msg.ProtoReflect())
	return msg
}

// canonicalXML renders XML as one line per element, attribute set and
// text, for comparisons a reviewer can read in a diff. It drops what FHIR
// XML does not give meaning to: whitespace-only text, comments, processing
// instructions, attribute order and quoting, entity versus literal
// characters. A namespace is shown where it changes.
func canonicalXML(tb testing.TB, data []byte) string {
	tb.Helper()
	var b strings.Builder
	xd := xml.NewDecoder(bytes.NewReader(data))
	depth := 0
	spaces := []string{""}
	for {
		tok, err := xd.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("canonicalXML: %v", err)
		}
		pad := strings.Repeat("  ", depth)
		switch t := tok.(type) {
		case xml.StartElement:
			fmt.Fprintf(&b, "%s<%s", pad, t.Name.Local)
			if t.Name.Space != spaces[len(spaces)-1] {
				fmt.Fprintf(&b, " xmlns=%q", t.Name.Space)
			}
			spaces = append(spaces, t.Name.Space)
			var attrs []string
			for _, a := range t.Attr {
				if isNamespaceDecl(a) {
					continue
				}
				attrs = append(attrs, fmt.Sprintf("%s=%q", attrName(a.Name), a.Value))
			}
			sort.Strings(attrs)
			for _, a := range attrs {
				b.WriteString(" " + a)
			}
			b.WriteString(">\n")
			depth++
		case xml.EndElement:
			depth--
			spaces = spaces[:len(spaces)-1]
		case xml.CharData:
			if !isSpace(t) {
				fmt.Fprintf(&b, "%s%q\n", pad, string(t))
			}
		}
	}
	return b.String()
}

// diffProto is cmp.Diff for protos, skipping cmp's slow walk when the
// messages are equal.
func diffProto(want, got proto.Message) string {
	if proto.Equal(want, got) {
		return ""
	}
	return cmp.Diff(want, got, protocmp.Transform())
}
