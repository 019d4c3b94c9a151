package fhirxml

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/fhir/go/jsonformat"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

const xmlDeclaration = `<?xml version="1.0" encoding="UTF-8"?>`

// Marshal encodes an R4 resource proto (such as *MeasureReport or *Bundle,
// or a *ContainedResource holding one) as FHIR XML: UTF-8, an XML
// declaration, the root element in xmlns="http://hl7.org/fhir", elements in
// FHIR order. With pretty, each element is on its own line indented by two
// spaces; the narrative div is always written exactly as stored.
//
// The output decodes back to the same proto. Marshal does not change msg.
// It fails when msg is not an R4 resource, when a narrative div is not
// well-formed XHTML (writing it would break or inject markup), or when a
// stored value cannot be formatted (an unknown timezone, say). Characters
// XML 1.0 cannot carry are written as U+FFFD, as encoding/xml does.
func Marshal(msg proto.Message, pretty bool) ([]byte, error) {
	if msg == nil {
		return nil, errors.New("fhirxml: marshal: nil message")
	}
	m := msg.ProtoReflect()
	if !m.IsValid() {
		return nil, errors.New("fhirxml: marshal: nil message")
	}
	if m.Descriptor().FullName() == containedResourceName {
		if m = containedMember(m); m == nil {
			return nil, errors.New("fhirxml: marshal: empty ContainedResource")
		}
	}
	if schemaOf(m.Descriptor()).kind != kindResource {
		return nil, fmt.Errorf("fhirxml: marshal: %s is not an R4 resource", m.Descriptor().FullName())
	}
	e := &encoder{pretty: pretty}
	e.buf.Grow(4096)
	e.buf.WriteString(xmlDeclaration)
	e.newline()
	if err := e.resource(m, true); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// containedMember returns the resource set in a ContainedResource, or nil.
func containedMember(cr protoreflect.Message) protoreflect.Message {
	od := cr.Descriptor().Oneofs().Get(0)
	f := cr.WhichOneof(od)
	if f == nil {
		return nil
	}
	return cr.Get(f).Message()
}

type encoder struct {
	buf    bytes.Buffer
	pretty bool
	depth  int
}

func (e *encoder) indent() {
	if e.pretty {
		for i := 0; i < e.depth; i++ {
			e.buf.WriteString("  ")
		}
	}
}

func (e *encoder) newline() {
	if e.pretty {
		e.buf.WriteByte('\n')
	}
}

// open writes "<name", the attributes are written next, then one of
// children or end.
func (e *encoder) open(name string) {
	e.indent()
	e.buf.WriteByte('<')
	e.buf.WriteString(name)
}

func (e *encoder) attr(name, value string) {
	e.buf.WriteByte(' ')
	e.buf.WriteString(name)
	e.buf.WriteString(`="`)
	escapeAttr(&e.buf, value)
	e.buf.WriteByte('"')
}

// body writes the children of an opened element with write and closes it,
// as <name .../> when write wrote nothing.
func (e *encoder) body(name string, write func() error) error {
	e.buf.WriteByte('>')
	e.newline()
	mark := e.buf.Len()
	e.depth++
	err := write()
	e.depth--
	if err != nil {
		return err
	}
	if e.buf.Len() == mark {
		e.buf.Truncate(mark - 1)
		if e.pretty {
			e.buf.Truncate(mark - 2)
		}
		e.buf.WriteString("/>")
		e.newline()
		return nil
	}
	e.indent()
	e.buf.WriteString("</")
	e.buf.WriteString(name)
	e.buf.WriteByte('>')
	e.newline()
	return nil
}

func (e *encoder) resource(m protoreflect.Message, root bool) error {
	name := string(m.Descriptor().Name())
	e.open(name)
	if root {
		e.attr("xmlns", FHIRNamespace)
	}
	return e.body(name, func() error { return e.children(m, schemaOf(m.Descriptor())) })
}

// children writes the child elements of m in FHIR order.
func (e *encoder) children(m protoreflect.Message, sch *schema) error {
	for _, f := range sch.order {
		if !m.Has(f) {
			continue
		}
		if f.IsList() {
			list := m.Get(f).List()
			for i := 0; i < list.Len(); i++ {
				if err := e.field(f.JSONName(), list.Get(i).Message()); err != nil {
					return err
				}
			}
			continue
		}
		v := m.Get(f).Message()
		name := f.JSONName()
		if isChoice(f.Message()) {
			c := v.WhichOneof(v.Descriptor().Oneofs().Get(0))
			if c == nil {
				continue // an empty choice carries nothing
			}
			name += upperFirst(c.JSONName())
			v = v.Get(c).Message()
		}
		if err := e.field(name, v); err != nil {
			return err
		}
	}
	return nil
}

// field writes one element named name holding v.
func (e *encoder) field(name string, v protoreflect.Message) error {
	sch := schemaOf(v.Descriptor())
	switch {
	case sch.xhtml:
		return e.xhtml(v)
	case sch.kind == kindPrimitive:
		return e.primitive(name, v, sch)
	case sch.kind == kindContained:
		return e.contained(name, v, sch)
	}
	if sch.reference {
		// Typed ids ("location_id") back to "Location/1", as jsonformat
		// writes them; on a copy, since Marshal must not change its input.
		ref := proto.Clone(v.Interface())
		if err := jsonformat.DenormalizeReference(ref); err != nil {
			return fmt.Errorf("fhirxml: marshal reference: %w", err)
		}
		v = ref.ProtoReflect()
	}
	e.open(name)
	e.idAndURL(v, sch)
	return e.body(name, func() error { return e.children(v, sch) })
}

func (e *encoder) idAndURL(v protoreflect.Message, sch *schema) {
	if sch.idAttr != nil && v.Has(sch.idAttr) {
		e.attr("id", stringValue(v.Get(sch.idAttr).Message()))
	}
	if sch.urlAttr != nil && v.Has(sch.urlAttr) {
		e.attr("url", stringValue(v.Get(sch.urlAttr).Message()))
	}
}

// primitive writes id and value attributes and extension children; an
// element with none of them is left out, as jsonformat leaves it out.
func (e *encoder) primitive(name string, v protoreflect.Message, sch *schema) error {
	value, hasValue, err := formatPrimitive(v)
	if err != nil {
		return err
	}
	var exts []*dpb.Extension
	if f := v.Descriptor().Fields().ByName("extension"); f != nil {
		list := v.Get(f).List()
		for i := 0; i < list.Len(); i++ {
			if x, ok := list.Get(i).Message().Interface().(*dpb.Extension); ok && !internalExtension(x) {
				exts = append(exts, x)
			}
		}
	}
	hasID := sch.idAttr != nil && v.Has(sch.idAttr)
	if !hasValue && !hasID && len(exts) == 0 {
		return nil
	}
	e.open(name)
	if hasID {
		e.attr("id", stringValue(v.Get(sch.idAttr).Message()))
	}
	if hasValue {
		e.attr("value", value)
	}
	return e.body(name, func() error {
		for _, x := range exts {
			if err := e.field("extension", x.ProtoReflect()); err != nil {
				return err
			}
		}
		return nil
	})
}

// contained writes <name><Type>...</Type></name> for Resource.contained
// (an Any) and Bundle.entry.resource (a ContainedResource).
func (e *encoder) contained(name string, v protoreflect.Message, sch *schema) error {
	cr := v
	if sch.any {
		unpacked := &bundlepb.ContainedResource{}
		if err := v.Interface().(*anypb.Any).UnmarshalTo(unpacked); err != nil {
			return fmt.Errorf("fhirxml: marshal %s: %w", name, err)
		}
		cr = unpacked.ProtoReflect()
	}
	res := containedMember(cr)
	if res == nil {
		return nil
	}
	e.open(name)
	return e.body(name, func() error { return e.resource(res, false) })
}

// xhtml writes the stored narrative div as is, after checking that it is
// one well-formed XHTML div, so that stored text can neither break the
// document nor add elements to it.
func (e *encoder) xhtml(v protoreflect.Message) error {
	div := v.Get(v.Descriptor().Fields().ByName("value")).String()
	checked, err := checkDiv(div)
	if err != nil {
		return fmt.Errorf("fhirxml: marshal narrative: %w", err)
	}
	e.indent()
	e.buf.WriteString(checked)
	e.newline()
	return nil
}

// stringValue returns the value field of a string-valued primitive.
func stringValue(m protoreflect.Message) string {
	return m.Get(m.Descriptor().Fields().ByName("value")).String()
}
