package fhirjson

import (
	"reflect"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// fastField locates a message field inside its generated Go struct, so the
// decoder can create children the way generated code does (x.F = &T{},
// x.L = append(x.L, &T{})) instead of through protoreflect, whose Mutable
// and AppendMutable go through package reflect several times and were half
// of the decode time. Only plain (non-oneof) message fields whose Go type
// is exactly *T or []*T qualify; everything else keeps using protoreflect.
type fastField struct {
	ok     bool
	offset uintptr
	elem   reflect.Type // T, the child's struct type
}

// oneofField locates a message member of a oneof inside its generated Go
// struct. Generated code holds a oneof as an interface field whose value
// is a wrapper (*T_Member{Member: *M}); protoreflect's Mutable and Has
// for such a member cost some 450 ns, and every resource (a member of
// ContainedResource's oneof), every value[x] and every Reference.reference
// is one.
type oneofField struct {
	ok bool
	// iface is the offset of the interface field in the parent struct and
	// itab the interface table it has when it holds this member.
	iface uintptr
	itab  unsafe.Pointer
	// wrapper is the wrapper struct; inner the offset of its *M field.
	wrapper reflect.Type
	inner   uintptr
}

// locateOneof finds the oneof member fd: it lets protoreflect set the
// member once on a scratch message and reads back where it went.
func locateOneof(fd protoreflect.FieldDescriptor) oneofField {
	od := fd.ContainingOneof()
	if fd.Message() == nil || od == nil || od.IsSynthetic() || fd.IsList() {
		return oneofField{}
	}
	parent, err := protoregistry.GlobalTypes.FindMessageByName(fd.ContainingMessage().FullName())
	if err != nil {
		return oneofField{}
	}
	pm := parent.New()
	if reflect.ValueOf(pm).UnsafePointer() != reflect.ValueOf(pm.Interface()).UnsafePointer() {
		return oneofField{} // see structPointer
	}
	child := pm.Mutable(fd).Message()
	sv := reflect.ValueOf(pm.Interface()).Elem()
	if sv.Kind() != reflect.Struct {
		return oneofField{}
	}
	for i := 0; i < sv.NumField(); i++ {
		sf := sv.Type().Field(i)
		if sf.Tag.Get("protobuf_oneof") != string(od.Name()) || sf.Type.Kind() != reflect.Interface {
			continue
		}
		w := sv.Field(i).Elem() // the *wrapper
		if w.Kind() != reflect.Pointer || w.Elem().Kind() != reflect.Struct || w.Elem().NumField() != 1 {
			return oneofField{}
		}
		inner := w.Elem().Type().Field(0)
		if inner.Type != reflect.TypeOf(child.Interface()) || w.Elem().Field(0).UnsafePointer() != reflect.ValueOf(child).UnsafePointer() {
			return oneofField{}
		}
		itab := (*[2]unsafe.Pointer)(sv.Field(i).Addr().UnsafePointer())[0]
		return oneofField{ok: true, iface: sf.Offset, itab: itab, wrapper: w.Elem().Type(), inner: inner.Offset}
	}
	return oneofField{}
}

// member returns the member's message in the struct at p, or nil if the
// oneof holds another member or none.
func (of *oneofField) member(p unsafe.Pointer) unsafe.Pointer {
	slot := (*[2]unsafe.Pointer)(unsafe.Add(p, of.iface))
	if slot[0] != of.itab || slot[1] == nil {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Add(slot[1], of.inner))
}

// locateField finds fd in the Go struct of its message type.
func locateField(fd protoreflect.FieldDescriptor) fastField {
	if fd.Message() == nil || fd.ContainingOneof() != nil || fd.IsMap() {
		return fastField{}
	}
	parent, err := protoregistry.GlobalTypes.FindMessageByName(fd.ContainingMessage().FullName())
	if err != nil {
		return fastField{}
	}
	child, err := protoregistry.GlobalTypes.FindMessageByName(fd.Message().FullName())
	if err != nil {
		return fastField{}
	}
	if pm := parent.New(); reflect.ValueOf(pm).UnsafePointer() != reflect.ValueOf(pm.Interface()).UnsafePointer() {
		// structPointer needs the protoreflect view at the struct's own
		// address, as generated messages have it (MessageState first).
		return fastField{}
	}
	pt := reflect.TypeOf(parent.Zero().Interface())
	ct := reflect.TypeOf(child.Zero().Interface())
	if pt.Kind() != reflect.Pointer || pt.Elem().Kind() != reflect.Struct || ct.Kind() != reflect.Pointer || ct.Elem().Kind() != reflect.Struct {
		return fastField{}
	}
	want := ct
	if fd.IsList() {
		want = reflect.SliceOf(ct)
	}
	st := pt.Elem()
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if tagName(sf.Tag.Get("protobuf")) == string(fd.Name()) && sf.Type == want {
			return fastField{ok: true, offset: sf.Offset, elem: ct.Elem()}
		}
	}
	return fastField{}
}

// tagName returns the name= part of a protobuf struct tag.
func tagName(tag string) string {
	for _, part := range strings.Split(tag, ",") {
		if name, ok := strings.CutPrefix(part, "name="); ok {
			return name
		}
	}
	return ""
}

// structPointer returns the address of a generated message's struct. Its
// protoreflect view is its MessageState, the struct's first field (checked
// per type in locateField); going through m.Interface() instead would cost
// a reflect.NewAt.
func structPointer(m protoreflect.Message) unsafe.Pointer {
	return reflect.ValueOf(m).UnsafePointer()
}

func messageAt(t reflect.Type, p unsafe.Pointer) protoreflect.Message {
	return reflect.NewAt(t, p).Interface().(proto.Message).ProtoReflect()
}

// messageItab returns the interface table that a proto.Message holding a
// *t carries, or nil if a message built from it would not be the same.
func messageItab(t reflect.Type) unsafe.Pointer {
	pm, ok := reflect.New(t).Interface().(proto.Message)
	if !ok {
		return nil
	}
	itab := (*[2]unsafe.Pointer)(unsafe.Pointer(&pm))[0]
	p := reflect.ValueOf(pm).UnsafePointer()
	if got := viewWith(itab, p).Interface(); got != pm {
		return nil
	}
	return itab
}

// view returns the protoreflect view of the message at p, for the rare
// paths that need protoreflect (oneofs, merges). A proto.Message is an
// interface value (itab, data): building it from the cached itab skips
// reflect.NewAt, whose pointer-type cache lookup was a tenth of the decode
// time.
func (mi *msgInfo) view(p unsafe.Pointer) protoreflect.Message {
	if mi.itab == nil {
		return messageAt(mi.goType, p)
	}
	return viewWith(mi.itab, p)
}

func viewWith(itab, p unsafe.Pointer) protoreflect.Message {
	var m proto.Message
	w := (*[2]unsafe.Pointer)(unsafe.Pointer(&m))
	w[0], w[1] = itab, p
	return m.ProtoReflect()
}

// The decoder holds messages as pointers to their generated structs (p)
// with their tables (mi), and only builds protoreflect views where it
// must: a view costs an interface call and an atomic store per message,
// and the decoder only ever builds generated messages.

// has is mi.view(p).Has(fi.fd).
func has(p unsafe.Pointer, mi *msgInfo, fi *fieldInfo) bool {
	if fi.oneof.ok {
		return fi.oneof.member(p) != nil
	}
	if !fi.fast.ok {
		return mi.view(p).Has(fi.fd)
	}
	slot := unsafe.Add(p, fi.fast.offset)
	if fi.repeated {
		return len(*(*[]unsafe.Pointer)(slot)) > 0
	}
	return *(*unsafe.Pointer)(slot) != nil
}

// mutable returns the field's message, creating it if unset.
func (d *decoder) mutable(p unsafe.Pointer, mi *msgInfo, fi *fieldInfo) unsafe.Pointer {
	if of := &fi.oneof; of.ok {
		if m := of.member(p); m != nil {
			return m
		}
		// Setting the member replaces any other, as Mutable does.
		w := reflect.New(of.wrapper).UnsafePointer()
		m := d.newMsg(fi.msg())
		*(*unsafe.Pointer)(unsafe.Add(w, of.inner)) = m
		slot := (*[2]unsafe.Pointer)(unsafe.Add(p, of.iface))
		slot[0], slot[1] = of.itab, w
		return m
	}
	if !fi.fast.ok {
		return structPointer(mi.view(p).Mutable(fi.fd).Message())
	}
	slot := (*unsafe.Pointer)(unsafe.Add(p, fi.fast.offset))
	if *slot == nil {
		*slot = d.newMsg(fi.msg())
	}
	return *slot
}

// appendNew appends a new message to the list field and returns it.
func (d *decoder) appendNew(p unsafe.Pointer, mi *msgInfo, fi *fieldInfo) unsafe.Pointer {
	if !fi.fast.ok {
		return structPointer(mi.view(p).Mutable(fi.fd).List().AppendMutable().Message())
	}
	// A []*T has the layout of a []unsafe.Pointer.
	list := (*[]unsafe.Pointer)(unsafe.Add(p, fi.fast.offset))
	c := d.newMsg(fi.msg())
	*list = append(*list, c)
	return c
}

// newMessage returns a new message of type mi.
func newMessage(mi *msgInfo) unsafe.Pointer {
	return reflect.New(mi.goType).UnsafePointer()
}
