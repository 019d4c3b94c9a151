package fhirxml

import (
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// goField creates a child message the way generated code does, through
// the offset of its field in the parent's Go struct. protoreflect's
// Mutable and AppendMutable go through a converter and package reflect
// per call and were a quarter of decoding time.
//
// It is built only for a plain (non-oneof) message field whose struct
// field has exactly the expected Go type, and used only on a parent of
// the expected Go type; anything else goes through protoreflect.
type goField struct {
	parent reflect.Type // *Parent
	offset uintptr
	list   bool         // []*Child rather than *Child
	child  reflect.Type // Child
}

// newGoField returns the goField of message field fd of parent, nil if
// the generated struct does not hold it as a plain field.
func newGoField(parent protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) *goField {
	if fd.Message() == nil || fd.ContainingOneof() != nil || fd.IsMap() {
		return nil
	}
	pt, ok1 := goType(parent)
	ct, ok2 := goType(fd.Message())
	if !ok1 || !ok2 {
		return nil
	}
	want := ct
	if fd.IsList() {
		want = reflect.SliceOf(want)
	}
	st := pt.Elem()
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if sf.Type == want && tagNames(sf.Tag.Get("protobuf"), fd) {
			return &goField{parent: pt, offset: sf.Offset, list: fd.IsList(), child: ct.Elem()}
		}
	}
	return nil
}

// tagNames reports whether a generated struct tag
// ("bytes,3,opt,name=status,proto3") is that of fd.
func tagNames(tag string, fd protoreflect.FieldDescriptor) bool {
	parts := strings.Split(tag, ",")
	return len(parts) > 1 && parts[1] == strconv.Itoa(int(fd.Number())) &&
		strings.Contains(","+tag+",", ",name="+string(fd.Name())+",")
}

// goType returns the pointer type of d's generated struct.
func goType(d protoreflect.MessageDescriptor) (reflect.Type, bool) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, false
	}
	t := reflect.TypeOf(mt.Zero().Interface())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	return t, true
}

// mutable returns the child message of m in a singular field, created if
// unset; ok is false when m is not of the parent type.
func (g *goField) mutable(m protoreflect.Message) (protoreflect.Message, bool) {
	x := m.Interface()
	if reflect.TypeOf(x) != g.parent {
		return nil, false
	}
	p := (*unsafe.Pointer)(unsafe.Add(reflect.ValueOf(x).UnsafePointer(), g.offset))
	if *p != nil {
		return reflect.NewAt(g.child, *p).Interface().(protoreflect.ProtoMessage).ProtoReflect(), true
	}
	nv := reflect.New(g.child)
	*p = nv.UnsafePointer()
	return nv.Interface().(protoreflect.ProtoMessage).ProtoReflect(), true
}

// appendNew appends a new child message to the list field of m and
// returns it with its index; ok is false when m is not of the parent type.
func (g *goField) appendNew(m protoreflect.Message) (protoreflect.Message, int, bool) {
	x := m.Interface()
	if reflect.TypeOf(x) != g.parent {
		return nil, 0, false
	}
	// []*Child and []unsafe.Pointer have the same layout, and the GC sees
	// pointers in both.
	s := (*[]unsafe.Pointer)(unsafe.Add(reflect.ValueOf(x).UnsafePointer(), g.offset))
	nv := reflect.New(g.child)
	*s = append(*s, nv.UnsafePointer())
	return nv.Interface().(protoreflect.ProtoMessage).ProtoReflect(), len(*s) - 1, true
}
