package pipeline

import (
	"fmt"
	"time"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Every R4 resource proto has these two fields; reaching them through
// protoreflect keeps the server generic over resource types.
const (
	fieldID   = protoreflect.Name("id")
	fieldMeta = protoreflect.Name("meta")
)

// Unwrap returns the concrete resource inside a ContainedResource, or msg
// itself when it is already a resource.
func Unwrap(msg proto.Message) proto.Message {
	cr, ok := msg.(*bcrpb.ContainedResource)
	if !ok {
		return msg
	}
	m := cr.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("oneof_resource")
	if od == nil {
		return msg
	}
	fd := m.WhichOneof(od)
	if fd == nil {
		return msg
	}
	return m.Get(fd).Message().Interface()
}

// ResourceType is the FHIR type name of a resource proto.
func ResourceType(res proto.Message) string {
	return string(res.ProtoReflect().Descriptor().Name())
}

// ResourceID returns Resource.id, or "" when absent.
func ResourceID(res proto.Message) string {
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(fieldID)
	if fd == nil || !m.Has(fd) {
		return ""
	}
	if id, ok := m.Get(fd).Message().Interface().(*dpb.Id); ok {
		return id.GetValue()
	}
	return ""
}

// setID sets Resource.id.
func setID(res proto.Message, id string) {
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(fieldID)
	m.Set(fd, protoreflect.ValueOfMessage((&dpb.Id{Value: id}).ProtoReflect()))
}

// clearID removes Resource.id.
func clearID(res proto.Message) {
	m := res.ProtoReflect()
	m.Clear(m.Descriptor().Fields().ByName(fieldID))
}

// metaOf returns Resource.meta, creating it when absent.
func metaOf(res proto.Message) *dpb.Meta {
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(fieldMeta)
	if !m.Has(fd) {
		m.Set(fd, protoreflect.ValueOfMessage((&dpb.Meta{}).ProtoReflect()))
	}
	return m.Get(fd).Message().Interface().(*dpb.Meta)
}

// setVersion stamps meta.versionId and meta.lastUpdated, as the server owns
// them (FHIR R4 3.1.0.6: a server SHALL ignore the client's values).
func setVersion(res proto.Message, vid int64, at time.Time) {
	meta := metaOf(res)
	meta.VersionId = &dpb.Id{Value: fmt.Sprint(vid)}
	meta.LastUpdated = &dpb.Instant{ValueUs: at.UnixMicro(), Timezone: "Z", Precision: dpb.Instant_MICROSECOND}
}

// clearVersion removes meta.versionId and meta.lastUpdated (and meta itself
// when nothing else is left), for content comparison.
func clearVersion(res proto.Message) {
	m := res.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(fieldMeta)
	if !m.Has(fd) {
		return
	}
	meta := metaOf(res)
	meta.VersionId, meta.LastUpdated = nil, nil
	if proto.Size(meta) == 0 {
		m.Clear(fd)
	}
}
