package fhirjson

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// noValueURL marks a primitive that has extensions but no value; it is
// how google/fhir's protos tell "_name" alone from an empty value.
const noValueURL = "https://g.co/fhir/StructureDefinition/primitiveHasNoValue"

func newNoValue() *dpb.Extension {
	return &dpb.Extension{
		Url:   &dpb.Uri{Value: noValueURL},
		Value: &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_Boolean{Boolean: &dpb.Boolean{Value: true}}},
	}
}

// addNoValue appends the PrimitiveHasNoValue extension unless an equal one
// is there (jsonformat's AddInternalExtension).
func addNoValue(m protoreflect.Message, cm *msgInfo) {
	if cm.extFD == nil {
		return
	}
	nv := newNoValue()
	list := m.Mutable(cm.extFD).List()
	for i := 0; i < list.Len(); i++ {
		if proto.Equal(list.Get(i).Message().Interface(), nv) {
			return
		}
	}
	list.Append(protoreflect.ValueOfMessage(nv.ProtoReflect()))
}

// hasNoValue reports whether m carries a PrimitiveHasNoValue extension.
func hasNoValue(m protoreflect.Message) bool {
	f := m.Descriptor().Fields().ByName("extension")
	if f == nil || !f.IsList() {
		return false
	}
	list := m.Get(f).List()
	for i := 0; i < list.Len(); i++ {
		if e, ok := list.Get(i).Message().Interface().(*dpb.Extension); ok && e.GetUrl() != nil && e.GetUrl().GetValue() == noValueURL {
			return true
		}
	}
	return false
}

// removeNoValue drops every PrimitiveHasNoValue extension from m.
func removeNoValue(m protoreflect.Message) {
	f := m.Descriptor().Fields().ByName("extension")
	if f == nil || !f.IsList() || !m.Has(f) {
		return
	}
	list := m.Mutable(f).List()
	var keep []protoreflect.Value
	found := false
	for i := 0; i < list.Len(); i++ {
		v := list.Get(i)
		if e, ok := v.Message().Interface().(*dpb.Extension); ok && e.GetUrl() != nil && e.GetUrl().GetValue() == noValueURL {
			found = true
			continue
		}
		keep = append(keep, v)
	}
	if found {
		list.Truncate(0)
		for _, v := range keep {
			list.Append(v)
		}
	}
}

// mergePrimitive merges src (from one spelling of an element) into dst
// (from the other) exactly as jsonformat's mergePrimitiveType, so the two
// member orders give the same proto: the value from "name", id and
// extensions from "_name", and no PrimitiveHasNoValue once a value exists.
func mergePrimitive(dst, src protoreflect.Message) {
	if proto.Size(src.Interface()) == 0 {
		return
	}
	if proto.Size(dst.Interface()) == 0 {
		copyPrimitive(dst, src)
		return
	}
	dnv := hasNoValue(dst)
	if dnv {
		removeNoValue(dst)
	}
	snv := hasNoValue(src)
	copyPrimitive(dst, src)
	if !dnv && snv {
		removeNoValue(dst)
	}
}

// copyPrimitive is jsonformat's mergePrimitive: move the fields dst lacks,
// then proto.Merge the rest (lists append, scalars overwrite).
func copyPrimitive(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !dst.Has(fd) {
			dst.Set(fd, v)
			src.Clear(fd)
		}
		return true
	})
	proto.Merge(dst.Interface(), src.Interface())
}
