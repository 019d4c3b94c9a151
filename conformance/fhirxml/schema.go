package fhirxml

import (
	"slices"
	"strings"
	"sync"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// kind says how a proto message is written in XML.
type kind int

const (
	// kindComplex is a datatype or backbone element: id is an attribute,
	// everything else a child element.
	kindComplex kind = iota
	// kindResource is a resource: no attributes, id is a child element.
	kindResource
	// kindPrimitive is a FHIR primitive: value and id are attributes, only
	// extensions are children.
	kindPrimitive
	// kindContained holds exactly one resource as its only child, named by
	// the resource type: ContainedResource and the Any of Resource.contained.
	kindContained
)

// schema is what the codec needs to know about one proto message type, all
// derived from its descriptor and FHIR annotations.
type schema struct {
	desc protoreflect.MessageDescriptor
	kind kind
	// reference marks Reference, whose oneof of typed ids is written as one
	// reference element (see jsonformat.NormalizeReference).
	reference bool
	// xhtml marks the Xhtml primitive, written as an XHTML div element.
	xhtml bool
	// any marks google.protobuf.Any, which holds a packed ContainedResource.
	any bool
	// idAttr and urlAttr are the fields written as the id and url
	// attributes (Element.id, Extension.url), nil where none.
	idAttr, urlAttr protoreflect.FieldDescriptor
	// elements maps an XML element name to the field it fills.
	elements map[string]element
	// order lists the fields written as child elements in FHIR order.
	order []protoreflect.FieldDescriptor
	// required lists the fields FHIR requires (REQUIRED_BY_FHIR), the
	// ones fhirvalidate checks.
	required []protoreflect.FieldDescriptor
}

// element is one XML child element name of a message.
type element struct {
	field protoreflect.FieldDescriptor
	// choice is the member of a choice type (e.g. Extension.value[x]'s
	// codeable_concept for valueCodeableConcept), nil otherwise.
	choice protoreflect.FieldDescriptor
	// rank is the position in FHIR element order; choice members and the
	// members of a reference share their element's rank.
	rank int
	// name is the FHIRPath name: "value" for valueCodeableConcept.
	name string
	// typeCode is the FHIR type of a choice member, for ofType().
	typeCode string
	// xhtml marks the narrative div, in the XHTML namespace.
	xhtml bool
	// refTargets is set for a Reference whose target types FHIR
	// restricts: the typed-id fields of the reference oneof that name an
	// allowed type. fhirvalidate checks the same restriction.
	refTargets map[protoreflect.FieldNumber]bool
	// sch is the schema of the element's message type, linked at build
	// time so that decoding needs no lookup per element.
	sch *schema
	// gf creates field's message (the choice container for a choice
	// member) without protoreflect; nil where it cannot.
	gf *goField
}

// schemas memoises schemaOf. It holds facts derived from immutable
// descriptors, not behaviour, so sharing it across decoders is safe.
var schemas sync.Map // protoreflect.FullName -> *schema

const (
	extensionURL = "http://hl7.org/fhir/StructureDefinition/Extension"
	// The google/fhir internal extensions jsonformat adds while parsing
	// (jsonpbhelper.PrimitiveHasNoValueURL, Base64BinarySeparatorStrideURL);
	// they record JSON/XML shape and are never written out.
	primitiveHasNoValueURL         = "https://g.co/fhir/StructureDefinition/primitiveHasNoValue"
	base64BinarySeparatorStrideURL = "https://g.co/fhir/StructureDefinition/base64Binary-separatorStride"
)

var (
	containedResourceName = (&bundlepb.ContainedResource{}).ProtoReflect().Descriptor().FullName()
	anyName               = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()
)

// schemaBuild serialises building schemas, so that a schema and those of
// its elements are published together, complete.
var schemaBuild sync.Mutex

// schemaOf returns the schema of a message type.
func schemaOf(d protoreflect.MessageDescriptor) *schema {
	if s, ok := schemas.Load(d.FullName()); ok {
		return s.(*schema)
	}
	schemaBuild.Lock()
	defer schemaBuild.Unlock()
	if s, ok := schemas.Load(d.FullName()); ok {
		return s.(*schema)
	}
	built := map[protoreflect.FullName]*schema{}
	s := buildSchema(d, built)
	for name, b := range built {
		schemas.Store(name, b)
	}
	return s
}

// schemaLocked returns the schema of d while schemaBuild is held: a
// published one, or one being built in this pass (types are recursive:
// Extension holds Extensions), which built collects.
func schemaLocked(d protoreflect.MessageDescriptor, built map[protoreflect.FullName]*schema) *schema {
	if s, ok := schemas.Load(d.FullName()); ok {
		return s.(*schema)
	}
	if s, ok := built[d.FullName()]; ok {
		return s
	}
	return buildSchema(d, built)
}

func elementSchema(f protoreflect.FieldDescriptor, built map[protoreflect.FullName]*schema) *schema {
	if f.Message() == nil {
		return nil
	}
	return schemaLocked(f.Message(), built)
}

// buildSchema builds the schema of d and, through the elements' sch, of
// every message type reachable from d (contained resources excepted).
func buildSchema(d protoreflect.MessageDescriptor, built map[protoreflect.FullName]*schema) *schema {
	s := &schema{desc: d, kind: kindComplex, elements: map[string]element{}}
	built[d.FullName()] = s
	sdKind := proto.GetExtension(d.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	switch {
	case d.FullName() == containedResourceName:
		s.kind = kindContained
		return s
	case d.FullName() == anyName:
		s.kind, s.any = kindContained, true
		return s
	case sdKind == apb.StructureDefinitionKindValue_KIND_RESOURCE:
		s.kind = kindResource
	case sdKind == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE:
		s.kind = kindPrimitive
		s.xhtml = d.Name() == "Xhtml"
	}
	s.reference = proto.HasExtension(d.Options(), apb.E_FhirReferenceType)
	isExtension := proto.GetExtension(d.Options(), apb.E_FhirStructureDefinitionUrl).(string) == extensionURL

	fields := fhirOrder(d, s.reference)
	for _, f := range fields {
		if proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement) == apb.Requirement_REQUIRED_BY_FHIR {
			s.required = append(s.required, f)
		}
	}
	for _, f := range fields {
		switch {
		case f.Name() == "id" && s.kind != kindResource:
			s.idAttr = f
			continue
		case f.Name() == "url" && isExtension:
			s.urlAttr = f
			continue
		case s.kind == kindPrimitive && f.Name() != "extension":
			// value, value_us, timezone, precision: the value attribute.
			continue
		case s.reference && f.ContainingOneof() != nil && f.JSONName() != "reference":
			// Typed ids and fragments are written as the reference element
			// (the uri field, JSON name "reference").
			continue
		}
		rank := len(s.order)
		s.order = append(s.order, f)
		if isChoice(f.Message()) {
			members := f.Message().Fields()
			for i := 0; i < members.Len(); i++ {
				c := members.Get(i)
				s.elements[f.JSONName()+upperFirst(c.JSONName())] = element{
					field: f, choice: c, rank: rank, name: f.JSONName(), typeCode: typeCode(c), refTargets: refTargets(c),
					sch: elementSchema(c, built), gf: newGoField(d, f),
				}
			}
			continue
		}
		s.elements[f.JSONName()] = element{field: f, rank: rank, name: f.JSONName(), xhtml: isXHTML(f.Message()), refTargets: refTargets(f),
			sch: elementSchema(f, built), gf: newGoField(d, f)}
	}
	return s
}

// refTargets returns the typed-id fields of reference field f that its
// valid_reference_type annotation allows, nil when f is no Reference or
// allows any resource.
func refTargets(f protoreflect.FieldDescriptor) map[protoreflect.FieldNumber]bool {
	d := f.Message()
	if d == nil || !proto.HasExtension(d.Options(), apb.E_FhirReferenceType) {
		return nil
	}
	allowed := proto.GetExtension(f.Options(), apb.E_ValidReferenceType).([]string)
	if len(allowed) == 0 || slices.Contains(allowed, "Resource") {
		return nil
	}
	targets := map[protoreflect.FieldNumber]bool{}
	od := d.Oneofs().ByName("reference")
	if od == nil {
		return targets
	}
	for i := 0; i < od.Fields().Len(); i++ {
		c := od.Fields().Get(i)
		if slices.Contains(allowed, proto.GetExtension(c.Options(), apb.E_ReferencedFhirType).(string)) {
			targets[c.Number()] = true
		}
	}
	return targets
}

// fhirOrder returns the fields of d in FHIR element order. That is the
// declaration order, except in Reference: google/fhir declares type before
// the reference oneof, but FHIR R4 orders Reference as reference, type,
// identifier, display (http://hl7.org/fhir/R4/references.html#Reference).
func fhirOrder(d protoreflect.MessageDescriptor, reference bool) []protoreflect.FieldDescriptor {
	fields := make([]protoreflect.FieldDescriptor, 0, d.Fields().Len())
	for i := 0; i < d.Fields().Len(); i++ {
		fields = append(fields, d.Fields().Get(i))
	}
	if !reference {
		return fields
	}
	var refs, rest []protoreflect.FieldDescriptor
	for _, f := range fields {
		if f.ContainingOneof() != nil {
			refs = append(refs, f)
		} else {
			rest = append(rest, f)
		}
	}
	out := make([]protoreflect.FieldDescriptor, 0, len(fields))
	for _, f := range rest {
		if f.Name() == "type" {
			out = append(out, refs...)
			refs = nil
		}
		out = append(out, f)
	}
	return append(out, refs...)
}

// typeCode is the FHIR type code of a choice member: the primitive name as
// is ("dateTime"), a complex type capitalised ("CodeableConcept").
func typeCode(f protoreflect.FieldDescriptor) string {
	if isPrimitive(f.Message()) {
		return f.JSONName()
	}
	return upperFirst(f.JSONName())
}

func isPrimitive(d protoreflect.MessageDescriptor) bool {
	return d != nil && proto.GetExtension(d.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue) == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE
}

func isChoice(d protoreflect.MessageDescriptor) bool {
	return d != nil && proto.HasExtension(d.Options(), apb.E_IsChoiceType)
}

func isXHTML(d protoreflect.MessageDescriptor) bool {
	return isPrimitive(d) && d.Name() == "Xhtml"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// resourceFields maps each R4 resource type name to its ContainedResource
// oneof member. Built once; read-only afterwards.
var resourceFields = sync.OnceValue(func() map[string]protoreflect.FieldDescriptor {
	fields := (&bundlepb.ContainedResource{}).ProtoReflect().Descriptor().Fields()
	m := make(map[string]protoreflect.FieldDescriptor, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		if f := fields.Get(i); f.Message() != nil {
			m[string(f.Message().Name())] = f
		}
	}
	return m
})
