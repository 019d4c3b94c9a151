package fhirxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/fhir/go/jsonformat"
	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	oo "github.com/madx-project/madx/operationoutcome"
)

// The decoding functions below read one element whose start tag has just
// been returned by next, up to and including its end tag. They return an
// error only to stop decoding; problems with the element itself are
// reported (st.report) and the element skipped, so that one answer lists
// them all.

// resource decodes a resource element (the root, or the only child of
// contained or entry.resource) into its member of ContainedResource cr and
// returns the resource message, nil when it was reported and skipped. path
// is where the resource sits: "" for the root.
func (st *decodeState) resource(start xml.StartElement, cr protoreflect.Message, path string) (protoreflect.Message, error) {
	name := start.Name.Local
	rpath := path
	if rpath == "" {
		rpath = name
	}
	if start.Name.Space != FHIRNamespace {
		return nil, st.reportAndSkip(oo.Structure, rpath,
			"Found <%s> in %s; a FHIR resource element must be in the namespace %s, as in <%s xmlns=\"%s\">.", name, namespaceName(start.Name.Space), FHIRNamespace, name, FHIRNamespace)
	}
	f := resourceFields()[name]
	if f == nil {
		return nil, st.reportAndSkip(oo.Structure, rpath,
			"Found <%s>; expected a FHIR R4 resource element such as <MeasureReport> or <Bundle>.", name)
	}
	if err := st.noAttributes(start, rpath); err != nil {
		return nil, err
	}
	m := cr.Mutable(f).Message()
	sch := schemaOf(m.Descriptor())
	if err := st.children(m, sch, rpath, name, false); err != nil {
		return nil, err
	}
	st.checkRequired(m, sch)
	return m, nil
}

// children decodes the child elements of m, checking that each is known,
// in the FHIR namespace, in FHIR order and not a repeated singleton.
// primitive selects the diagnostics for text where a value attribute was
// expected.
func (st *decodeState) children(m protoreflect.Message, sch *schema, path, name string, primitive bool) error {
	last, lastName, textSeen := -1, "", false
	for {
		tok, err := st.next(path)
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokEnd:
			return nil
		case tokText:
			t := tok.text
			if isSpace(t) || textSeen {
				continue
			}
			textSeen = true
			var err error
			if primitive {
				err = st.report(oo.Structure, path, "Found text %q in %s; FHIR XML carries a primitive value in the value attribute, as in <%s value=\"...\"/>.", excerpt(t), path, name)
			} else {
				err = st.report(oo.Structure, path, "Found text %q in %s, which holds only child elements.", excerpt(t), path)
			}
			if err != nil {
				return err
			}
		case tokStart:
			t := tok.start
			child := t.Name.Local
			el, ok := sch.elements[child]
			cpath := func() string { return path + "." + child }
			wantNS := FHIRNamespace
			if ok && el.xhtml {
				wantNS = XHTMLNamespace
			}
			switch {
			case t.Name.Space != wantNS:
				err = st.reportAndSkip(oo.Structure, cpath(), "Element <%s> in %s is in %s; expected the namespace %s.", child, path, namespaceName(t.Name.Space), wantNS)
			case !ok:
				err = st.reportAndSkip(oo.Structure, cpath(), "Unknown element <%s> in %s; expected one of: %s.", child, path, sch.expected())
			case el.rank < last:
				err = st.reportAndSkip(oo.Structure, cpath(), "Element <%s> in %s is out of order: FHIR puts it before <%s>.", child, path, lastName)
			case el.rank == last && !el.field.IsList():
				err = st.reportAndSkip(oo.Structure, path+"."+el.name, "Element <%s> repeats in %s, which allows at most one %s.", child, path, el.displayName())
			default:
				last, lastName = el.rank, child
				err = st.element(t, m, el, path)
			}
			if err != nil {
				return err
			}
		}
	}
}

// element decodes child element start of m, described by el.
func (st *decodeState) element(start xml.StartElement, m protoreflect.Message, el element, path string) error {
	parent, fd := m, el.field
	var vm protoreflect.Message
	index, fast := -1, false
	if el.gf != nil {
		if el.gf.list {
			vm, index, fast = el.gf.appendNew(m)
		} else {
			vm, fast = el.gf.mutable(m)
		}
	}
	if el.choice != nil {
		if !fast {
			vm = m.Mutable(el.field).Message()
		}
		parent, fd, fast = vm, el.choice, false
	}
	switch {
	case fast:
	case fd.IsList():
		list := parent.Mutable(fd).List()
		index = list.Len()
		vm = list.AppendMutable().Message()
	default:
		vm = parent.Mutable(fd).Message()
	}
	if !st.scanning {
		path += "." + el.name
		if el.choice != nil {
			path += ".ofType(" + el.typeCode + ")"
		}
		if index >= 0 {
			path += "[" + strconv.Itoa(index) + "]"
		}
	}
	if err := st.value(start, vm, el.sch, path); err != nil {
		return err
	}
	if el.refTargets != nil {
		st.checkReference(vm, el)
	}
	return nil
}

// value decodes start into vm according to vm's kind.
func (st *decodeState) value(start xml.StartElement, vm protoreflect.Message, sch *schema, path string) error {
	switch {
	case sch.xhtml:
		return st.xhtml(start, vm, path)
	case sch.kind == kindPrimitive:
		return st.primitive(start, vm, sch, path)
	case sch.kind == kindContained:
		return st.contained(start, vm, sch, path)
	}
	if _, _, err := st.attributes(start, vm, sch, path); err != nil {
		return err
	}
	if err := st.children(vm, sch, path, start.Name.Local, false); err != nil {
		return err
	}
	st.checkRequired(vm, sch)
	if sch.reference {
		// The same split of "Location/1" into a typed id as for JSON.
		if err := jsonformat.NormalizeReference(vm.Interface()); err != nil {
			return st.report(oo.Invalid, path, "%s is not a usable reference: %s.", path, truncate(err.Error(), 100))
		}
	}
	return nil
}

// primitive decodes a primitive element: value and id attributes, extension
// children.
func (st *decodeState) primitive(start xml.StartElement, m protoreflect.Message, sch *schema, path string) error {
	value, hasValue, err := st.attributes(start, m, sch, path)
	if err != nil {
		return err
	}
	if err := st.children(m, sch, path, start.Name.Local, true); err != nil {
		return err
	}
	st.checkRequired(m, sch)
	if hasValue {
		err := parsePrimitive(m, value, st.loc, st.scanning)
		var ve *valueError
		switch {
		case errors.As(err, &ve):
			code := oo.Value
			if ve.codeType {
				code = oo.CodeInvalid
			}
			if ve.tooLong {
				code = oo.TooLong
			}
			return st.report(code, path, "%s has the value %q; expected %s.", path, truncate(value, 100), ve.expected)
		case err != nil:
			return oo.Wrap(http.StatusInternalServerError, err)
		}
		st.checkPrimitive(m)
		return nil
	}
	ext := m.Descriptor().Fields().ByName("extension")
	if (sch.idAttr == nil || !m.Has(sch.idAttr)) && (ext == nil || m.Get(ext).List().Len() == 0) {
		return st.report(oo.Required, path, "%s (<%s>) has no value attribute and no extension; a FHIR element must have a value or children.", path, start.Name.Local)
	}
	// jsonformat records "id or extensions but no value" the same way.
	m.Mutable(ext).List().Append(protoreflect.ValueOfMessage(primitiveHasNoValue().ProtoReflect()))
	return nil
}

// attributes reads the attributes of a datatype or primitive element: id
// (Element.id) and url (Extension.url) into their fields, and returns the
// value attribute of a primitive. Namespace declarations are skipped;
// anything else is reported.
func (st *decodeState) attributes(start xml.StartElement, m protoreflect.Message, sch *schema, path string) (value string, hasValue bool, err error) {
	for i, a := range start.Attr {
		if isNamespaceDecl(a) {
			continue
		}
		if repeated(start.Attr[:i], a.Name) {
			// encoding/xml lets a repeated attribute through.
			if err := st.report(oo.Structure, path, "Attribute %s appears twice on %s.", a.Name.Local, path); err != nil {
				return "", false, err
			}
			continue
		}
		var target protoreflect.FieldDescriptor
		switch {
		case a.Name.Space != "":
		case a.Name.Local == "value" && sch.kind == kindPrimitive:
			value, hasValue = a.Value, true
			continue
		case a.Name.Local == "id":
			target = sch.idAttr
		case a.Name.Local == "url":
			target = sch.urlAttr
		}
		if target == nil {
			if err := st.report(oo.Structure, path, "Unknown attribute %s on %s (<%s>); %s.", attrName(a.Name), path, start.Name.Local, sch.expectedAttributes()); err != nil {
				return "", false, err
			}
			continue
		}
		apath := path + "." + string(target.JSONName())
		am := m.Mutable(target).Message()
		if err := parsePrimitive(am, a.Value, st.loc, st.scanning); err != nil {
			var ve *valueError
			if !errors.As(err, &ve) {
				return "", false, oo.Wrap(http.StatusInternalServerError, err)
			}
			if err := st.report(oo.Value, apath, "%s has the value %q; expected %s.", apath, truncate(a.Value, 100), ve.expected); err != nil {
				return "", false, err
			}
		}
	}
	return value, hasValue, nil
}

// noAttributes reports any attribute but namespace declarations on an
// element that takes none (a resource, contained, entry.resource).
func (st *decodeState) noAttributes(start xml.StartElement, path string) error {
	for _, a := range start.Attr {
		if isNamespaceDecl(a) {
			continue
		}
		if err := st.report(oo.Structure, path, "Unknown attribute %s on %s (<%s>), which takes no attributes.", attrName(a.Name), path, start.Name.Local); err != nil {
			return err
		}
	}
	return nil
}

// contained decodes an element holding one resource: Resource.contained
// (an Any in google/fhir) or Bundle.entry.resource (a ContainedResource).
func (st *decodeState) contained(start xml.StartElement, m protoreflect.Message, sch *schema, path string) error {
	if err := st.noAttributes(start, path); err != nil {
		return err
	}
	before := len(st.issues)
	cr := m
	if sch.any {
		cr = (&bundlepb.ContainedResource{}).ProtoReflect()
	}
	found, textSeen := false, false
	for {
		tok, err := st.next(path)
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokText:
			if isSpace(tok.text) || textSeen {
				continue
			}
			textSeen = true
			err = st.report(oo.Structure, path, "Found text %q in %s; expected a resource element such as <Location>.", excerpt(tok.text), path)
		case tokStart:
			if found {
				err = st.reportAndSkip(oo.Structure, path, "%s holds more than one resource (the second is <%s>); it takes exactly one.", path, tok.start.Name.Local)
				break
			}
			found = true
			_, err = st.resource(tok.start, cr, path)
		case tokEnd:
			if !found {
				return st.report(oo.Required, path, "%s holds no resource; expected one resource element such as <Location>.", path)
			}
			if sch.any && len(st.issues) == before {
				// Packed as jsonformat packs contained resources.
				if err := anypb.MarshalFrom(m.Interface().(*anypb.Any), cr.Interface(), proto.MarshalOptions{}); err != nil {
					return oo.Wrap(http.StatusInternalServerError, fmt.Errorf("fhirxml: pack contained resource: %w", err))
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// xhtml keeps the narrative div exactly as written, from "<div" to
// "</div>": its markup is the value, as in FHIR JSON.
func (st *decodeState) xhtml(start xml.StartElement, m protoreflect.Message, path string) error {
	begin := st.tokStart
	declared := false
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" && a.Value == XHTMLNamespace {
			declared = true
		}
	}
	if err := st.skipRest(path); err != nil {
		return err
	}
	raw := st.data[begin:st.tz.offset()]
	if !declared || !bytes.HasPrefix(raw, []byte("<div")) {
		return st.report(oo.Structure, path, "The narrative %s must be written as <div xmlns=\"%s\">...</div>, declaring the XHTML namespace on the div itself.", path, XHTMLNamespace)
	}
	m.Set(m.Descriptor().Fields().ByName("value"), protoreflect.ValueOfString(string(raw)))
	return nil
}

// reportAndSkip reports a problem with the element just started and skips
// it.
func (st *decodeState) reportAndSkip(code oo.IssueType, expr, format string, args ...any) error {
	if err := st.report(code, expr, format, args...); err != nil {
		return err
	}
	return st.skipRest(expr)
}

// skipRest reads up to the end of the element just started. It reads
// through next, so the limits hold in skipped content too.
func (st *decodeState) skipRest(path string) error {
	target := st.depth - 1
	for {
		tok, err := st.next(path)
		if err != nil {
			return err
		}
		if tok.kind == tokEnd && st.depth == target {
			return nil
		}
	}
}

// repeated reports whether name is among attrs; elements have few
// attributes, so a scan beats a map.
func repeated(attrs []xml.Attr, name xml.Name) bool {
	for _, a := range attrs {
		if a.Name == name {
			return true
		}
	}
	return false
}

func isNamespaceDecl(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns")
}

func namespaceName(ns string) string {
	if ns == "" {
		return "no namespace"
	}
	return fmt.Sprintf("the namespace %q", truncate(ns, 80))
}

func attrName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return fmt.Sprintf("{%s}%s", truncate(n.Space, 80), n.Local)
}

// expected lists the child element names of the schema, in FHIR order,
// for an unknown-element diagnostic.
func (s *schema) expected() string {
	if len(s.order) == 0 {
		return "no child elements"
	}
	names := make([]string, 0, len(s.order))
	for _, f := range s.order {
		n := f.JSONName()
		if isXHTML(f.Message()) {
			n = "div (XHTML)"
		} else if isChoice(f.Message()) {
			n += "[x]"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

func (s *schema) expectedAttributes() string {
	var names []string
	if s.idAttr != nil {
		names = append(names, "id")
	}
	if s.urlAttr != nil {
		names = append(names, "url")
	}
	if s.kind == kindPrimitive {
		names = append(names, "value")
	}
	if len(names) == 0 {
		return "this element takes no attributes"
	}
	return "expected " + strings.Join(names, ", ")
}

func (e element) displayName() string {
	if e.choice != nil {
		return e.name + "[x]"
	}
	return e.name
}
