package fhirjson

import (
	"strings"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/madx-project/madx/operationoutcome"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// refFields maps a resource type to its typed member of Reference's
// reference oneof (e.g. "Location" -> location_id), and refTypes back.
var refFields, refTypes = func() (map[string]protoreflect.FieldDescriptor, map[protoreflect.FieldNumber]string) {
	fields := map[string]protoreflect.FieldDescriptor{}
	types := map[protoreflect.FieldNumber]string{}
	od := (&dpb.Reference{}).ProtoReflect().Descriptor().Oneofs().ByName("reference")
	for i := 0; i < od.Fields().Len(); i++ {
		f := od.Fields().Get(i)
		t := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string)
		if t == "" {
			continue
		}
		fields[t] = f
		types[f.Number()] = t
	}
	return fields, types
}()

// finishReference normalizes a Reference as jsonformat does ("#x" becomes
// the fragment, "Type/id[/_history/v]" the typed id) and checks the type
// against the element's allowed target types.
func (d *decoder) finishReference(p unsafe.Pointer, cm *msgInfo, fi *fieldInfo) {
	ref, ok := asGo[dpb.Reference](p, cm, referenceType)
	if !ok {
		return
	}
	normalizeReference(ref)
	m := ref.ProtoReflect()
	if d.noValidate > 0 || fi.validRefs == nil {
		return
	}
	f := m.WhichOneof(cm.refOneof)
	if f == nil {
		return
	}
	t, ok := refTypes[f.Number()]
	if !ok {
		return
	}
	for _, v := range fi.validRefs {
		if v == "Resource" || v == t {
			return
		}
	}
	d.addf(operationoutcome.Invalid, false, "expected a reference to %s, found a reference to a %s", strings.Join(fi.validRefs, ", "), t)
}

func normalizeReference(ref *dpb.Reference) {
	uri := ref.GetUri().GetValue()
	if uri == "" {
		return
	}
	if strings.HasPrefix(uri, "#") {
		ref.Reference = &dpb.Reference_Fragment{Fragment: &dpb.String{Value: uri[1:]}}
		return
	}
	parts := strings.Split(uri, "/")
	if !(len(parts) == 2 || len(parts) == 4 && parts[2] == "_history") {
		return
	}
	f, ok := refFields[parts[0]]
	if !ok {
		return
	}
	id := &dpb.ReferenceId{Value: parts[1]}
	if len(parts) > 2 {
		id.History = &dpb.Id{Value: parts[3]}
	}
	ref.ProtoReflect().Set(f, protoreflect.ValueOfMessage(id.ProtoReflect()))
}

// referenceURI is the JSON "reference" of a normalized Reference, as
// jsonformat's DenormalizeReference rebuilds it, and whether the proto's
// own uri member (with its id and extensions) is the one to write.
func referenceURI(ref *dpb.Reference) (uri string, own bool) {
	if ref.GetUri() != nil {
		return "", true
	}
	if frag := ref.GetFragment(); frag != nil {
		return "#" + frag.GetValue(), false
	}
	m := ref.ProtoReflect()
	f := m.WhichOneof(m.Descriptor().Oneofs().ByName("reference"))
	if f == nil || !strings.HasSuffix(string(f.Name()), "_id") {
		return "", true
	}
	t, ok := refTypes[f.Number()]
	if !ok {
		return "", true
	}
	id, _ := m.Get(f).Message().Interface().(*dpb.ReferenceId)
	uri = t + "/" + id.GetValue()
	if h := id.GetHistory().GetValue(); h != "" {
		uri += "/_history/" + h
	}
	return uri, false
}
