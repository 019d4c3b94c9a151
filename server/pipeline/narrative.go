package pipeline

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	oo "github.com/madx-project/madx/operationoutcome"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Narrative rules (FHIR R4 narrative.html#xhtml, constraints txt-1 and
// txt-2): a resource's text.div is XHTML of the basic formatting elements,
// without scripts, event handlers, forms or active content, and holds some
// text or an image. A dashboard that shows narrative would otherwise run
// what a sender stored in it (issue 14: stored HTML).

// narrativeElements are the XHTML elements txt-1 allows (HTML 4.0 chapters
// 7-11 and 15, without forms and frames, plus a, img and style attributes).
var narrativeElements = map[string]bool{
	"a": true, "abbr": true, "acronym": true, "address": true, "b": true, "bdo": true, "big": true, "blockquote": true,
	"br": true, "caption": true, "cite": true, "code": true, "col": true, "colgroup": true, "dd": true, "del": true,
	"dfn": true, "div": true, "dl": true, "dt": true, "em": true, "h1": true, "h2": true, "h3": true, "h4": true,
	"h5": true, "h6": true, "hr": true, "i": true, "img": true, "ins": true, "kbd": true, "li": true, "ol": true,
	"p": true, "pre": true, "q": true, "samp": true, "small": true, "span": true, "strong": true, "sub": true,
	"sup": true, "table": true, "tbody": true, "td": true, "tfoot": true, "th": true, "thead": true, "tr": true,
	"tt": true, "ul": true, "var": true, "s": true, "strike": true, "u": true, "center": true, "font": true,
}

// checkNarratives returns one issue per unsafe narrative of res and of the
// resources it contains, and one per contained resource that contains
// others (dom-2).
func checkNarratives(res proto.Message) []oo.Issue {
	var issues []oo.Issue
	typ := ResourceType(res)
	if div := narrativeDiv(res); div != "" {
		if err := checkXHTML(div); err != nil {
			issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Value, typ+".text.div",
				"%s.text.div is not narrative FHIR accepts (txt-1, txt-2): %v.", typ, err))
		}
	}
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("contained")
	if fd == nil || !fd.IsList() {
		return issues
	}
	list := m.Get(fd).List()
	for i := 0; i < list.Len(); i++ {
		a, ok := list.Get(i).Message().Interface().(*anypb.Any)
		if !ok {
			continue
		}
		cr := &bcrpb.ContainedResource{}
		if a.UnmarshalTo(cr) != nil {
			continue
		}
		inner := Unwrap(cr)
		if n := containedCount(inner); n > 0 {
			issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Invariant, fmt.Sprintf("%s.contained[%d].contained", typ, i),
				"%s.contained[%d] (a %s) contains %d resource(s) of its own; FHIR dom-2: a contained resource SHALL NOT contain resources. Put them all in %s.contained.",
				typ, i, ResourceType(inner), n, typ))
		}
		if !bytes.Contains(a.GetValue(), []byte("<")) {
			continue // no markup in its wire bytes (strings are stored as written): no narrative
		}
		if div := narrativeDiv(inner); div != "" {
			if err := checkXHTML(div); err != nil {
				issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Value, fmt.Sprintf("%s.contained[%d].text.div", typ, i),
					"%s.contained[%d].text.div is not narrative FHIR accepts (txt-1, txt-2): %v.", typ, i, err))
			}
		}
	}
	return issues
}

// containedCount is the number of resources res contains.
func containedCount(res proto.Message) int {
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("contained")
	if fd == nil || !fd.IsList() {
		return 0
	}
	return m.Get(fd).List().Len()
}

// narrativeDiv is res.text.div, or "".
func narrativeDiv(res proto.Message) string {
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("text")
	if fd == nil || fd.Kind() != protoreflect.MessageKind || !m.Has(fd) {
		return ""
	}
	n, ok := m.Get(fd).Message().Interface().(*dpb.Narrative)
	if !ok {
		return ""
	}
	return n.GetDiv().GetValue()
}

// checkXHTML says what is wrong with a narrative div, or nil.
func checkXHTML(div string) error {
	d := xml.NewDecoder(strings.NewReader(div))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	depth, text, root := 0, false, true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("it is not well-formed XHTML (%v)", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if root && name != "div" {
				return fmt.Errorf("its root element is <%s>, expected <div xmlns=\"http://www.w3.org/1999/xhtml\">", name)
			}
			root = false
			if !narrativeElements[name] {
				return fmt.Errorf("<%s> is not allowed in narrative (scripts, forms, frames and objects never are)", name)
			}
			if name == "img" {
				text = true
			}
			for _, a := range t.Attr {
				an := strings.ToLower(a.Name.Local)
				v := strings.ToLower(strings.Join(strings.Fields(a.Value), ""))
				switch {
				case strings.HasPrefix(an, "on"):
					return fmt.Errorf("<%s> has the event handler attribute %s, which narrative may not carry", name, a.Name.Local)
				case (an == "href" || an == "src") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:text/html")):
					return fmt.Errorf("<%s %s> is a script URL, which narrative may not carry", name, a.Name.Local)
				case an == "style" && (strings.Contains(v, "expression(") || strings.Contains(v, "url(javascript")):
					return fmt.Errorf("<%s style> holds a script, which narrative may not carry", name)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				text = true
			}
		case xml.ProcInst, xml.Directive:
			return errors.New("it holds a processing instruction or a DTD declaration")
		}
	}
	if root {
		return errors.New("it has no <div> element")
	}
	if !text {
		return errors.New("it holds no text or image (txt-2)")
	}
	return nil
}
