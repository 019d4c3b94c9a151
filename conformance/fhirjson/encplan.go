package fhirjson

import (
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// The encoder walks generated Go structs through unsafe pointers, with a
// plan per message type that lists its JSON members already in the order
// jsonformat writes them (encoding/json sorts map keys). Sorting and
// protoreflect's per-field dispatch were most of Marshal's time: a
// MeasureReport is some 600 small messages, and each protoreflect Get or
// Interface goes through package reflect.

// encKind says how a static plan member is written.
type encKind uint8

const (
	encResourceType encKind = iota // "resourceType" of a resource
	encValue                       // a singular primitive's value
	encExt                         // a singular primitive's "_name"
	encValues                      // a primitive list's values
	encExts                        // a primitive list's "_name"
	encObject                      // a complex element
	encObjects                     // a complex list
	encScalar                      // a non-message field: an error if set
	encRefURI                      // a Reference's rebuilt "reference"
)

// encMember is one member a message may write, in sorted position.
type encMember struct {
	name string // the JSON name, the sort key
	key  string // `"name":`, written as is
	kind encKind
	fi   *fieldInfo
	cm   *msgInfo // the field's message type (nil for scalars)
	// refOneof marks members of Reference's reference oneof, which are
	// skipped when a rebuilt "reference" is written instead.
	refOneof bool
	// direct marks plain message fields at offset off (a *T, or a []*T
	// when list is set), whose absence object sees without a call.
	direct, list bool
	off          uintptr
}

// encChoice is a choice field (value[x]), whose JSON name depends on the
// type set, so it is merged into the sorted members at run time.
type encChoice struct {
	fi *fieldInfo
	cm *msgInfo // the choice message
	// names, extNames, keys and extKeys are per member of cm.fields:
	// "valueString", "_valueString", `"valueString":`, `"_valueString":`.
	names, extNames, keys, extKeys []string
}

// encPlan is a message type's encoding plan.
type encPlan struct {
	members []encMember
	choices []encChoice
	// typeKey is `"MessageName"`, the resourceType value.
	typeKey string
	// oneofs reads the message's oneofs by field, for oneof members.
	oneofs map[protoreflect.FullName]*oneofReader
	// first reads the first oneof (a choice's, a ContainedResource's).
	first *oneofReader
	// extInfo is a primitive's Extension type.
	extInfo *msgInfo
	// err is set when the type cannot be walked through pointers (it is
	// not a generated message); encoding it fails with err.
	err error
	// Primitives: where the value lives and how it may be read.
	valOff uintptr
	valOK  bool
	// enumCodes is the quoted JSON code per enum number ("" for none),
	// when the numbers are small.
	enumCodes []string
}

var (
	extensionType = reflect.TypeFor[dpb.Extension]()
	stringType    = reflect.TypeFor[dpb.String]()
	anyType       = reflect.TypeFor[anypb.Any]()
)

// plan returns the (cached) encoding plan of mi.
func (mi *msgInfo) plan() *encPlan {
	if p := mi.encPlan.Load(); p != nil {
		return p
	}
	p := buildPlan(mi)
	mi.encPlan.CompareAndSwap(nil, p)
	return mi.encPlan.Load()
}

// errNotGenerated is returned for a message type that is not a generated
// Go struct registered in protoregistry.GlobalTypes.
type errNotGenerated struct{ name protoreflect.FullName }

func (e errNotGenerated) Error() string {
	return "message type " + string(e.name) + " is not a generated Go message"
}

func buildPlan(mi *msgInfo) *encPlan {
	p := &encPlan{typeKey: string(appendString(nil, string(mi.desc.Name())))}
	if mi.goType == nil {
		p.err = errNotGenerated{mi.desc.FullName()}
		return p
	}
	if mi.kind == nodePrimitive {
		buildPrimitivePlan(p, mi)
	}
	oneofs := mi.desc.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if r := newOneofReader(mi, od); r != nil {
			if p.oneofs == nil {
				p.oneofs = map[protoreflect.FullName]*oneofReader{}
			}
			p.oneofs[od.FullName()] = r
			if i == 0 {
				p.first = r
			}
		}
	}
	if mi.kind == nodePrimitive {
		return p
	}
	add := func(name string, m encMember) {
		m.name, m.key = name, string(appendString(nil, name))+":"
		p.members = append(p.members, m)
	}
	add("resourceType", encMember{kind: encResourceType})
	if mi.kind == nodeReference && mi.goType == reflect.TypeFor[dpb.Reference]() {
		add("reference", encMember{kind: encRefURI})
	}
	for _, fi := range mi.fields {
		if fi.fd.Message() == nil {
			add(fi.jsonName, encMember{kind: encScalar, fi: fi})
			continue
		}
		cm := fi.msg()
		inRef := mi.kind == nodeReference && fi.fd.ContainingOneof() == mi.refOneof
		if cm.kind == nodeChoice {
			p.choices = append(p.choices, newEncChoice(fi, cm))
			continue
		}
		m := encMember{fi: fi, cm: cm, refOneof: inRef, direct: fi.fast.ok, list: fi.repeated, off: fi.fast.offset}
		switch {
		case cm.kind == nodePrimitive && fi.repeated:
			m.kind = encValues
			add(fi.jsonName, m)
			m.kind = encExts
			add("_"+fi.jsonName, m)
		case cm.kind == nodePrimitive:
			m.kind = encValue
			add(fi.jsonName, m)
			m.kind = encExt
			add("_"+fi.jsonName, m)
		case fi.repeated:
			m.kind = encObjects
			add(fi.jsonName, m)
		default:
			m.kind = encObject
			add(fi.jsonName, m)
		}
	}
	// Stable, so that the rebuilt "reference" comes before the uri
	// member's: only one of them is ever written.
	slices.SortStableFunc(p.members, func(a, b encMember) int { return strings.Compare(a.name, b.name) })
	return p
}

func newEncChoice(fi *fieldInfo, cm *msgInfo) encChoice {
	c := encChoice{fi: fi, cm: cm}
	for _, sub := range cm.fields {
		name := fi.choiceKeys[sub.fd.Number()]
		c.names = append(c.names, name)
		c.extNames = append(c.extNames, "_"+name)
		c.keys = append(c.keys, string(appendString(nil, name))+":")
		c.extKeys = append(c.extKeys, string(appendString(nil, "_"+name))+":")
	}
	return c
}

// buildPrimitivePlan locates a primitive's value field in its Go struct,
// so that values are read without protoreflect.
func buildPrimitivePlan(p *encPlan, mi *msgInfo) {
	p.valOff, p.valOK = mi.valOff, mi.valOK
	extDirect := mi.extFI == nil || mi.extFI.fast.ok && mi.extFI.fast.elem == extensionType
	idDirect := mi.idFI == nil || mi.idFI.fast.ok && mi.idFI.fast.elem == stringType
	if !extDirect || !idDirect {
		p.err = errNotGenerated{mi.desc.FullName()}
		return
	}
	if mi.extFD != nil {
		p.extInfo = infoFor(mi.extFD.Message())
	}
	if mi.enum != nil {
		maxN := protoreflect.EnumNumber(-1)
		for n := range mi.enum.code {
			if n < 0 || n > 4096 {
				return // sparse or negative: the map is used
			}
			maxN = max(maxN, n)
		}
		p.enumCodes = make([]string, maxN+1)
		for n, code := range mi.enum.code {
			p.enumCodes[n] = string(appendString(nil, code))
		}
	}
}

// primitiveValueField locates a primitive's value in its Go struct, if it
// has the Go type its kind implies.
func primitiveValueField(mi *msgInfo) (uintptr, bool) {
	if mi.valueFD == nil || mi.goType == nil {
		return 0, false
	}
	want := map[primKind]reflect.Kind{
		primBoolean: reflect.Bool, primInteger: reflect.Int32, primPositiveInt: reflect.Uint32,
		primUnsignedInt: reflect.Uint32, primEnumCode: reflect.Int32,
		primDecimal: reflect.String, primString: reflect.String, primCode: reflect.String,
		primID: reflect.String, primOID: reflect.String, primUUID: reflect.String,
		primURI: reflect.String, primText: reflect.String, primStringCode: reflect.String,
		primInvalid: reflect.String,
	}[mi.prim]
	if sf, ok := structField(mi.goType, mi.valueFD); ok && want != reflect.Invalid && sf.Type.Kind() == want {
		return sf.Offset, true
	}
	return 0, false
}

// structField finds fd's field in the Go struct t by its protobuf tag.
func structField(t reflect.Type, fd protoreflect.FieldDescriptor) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if tagName(sf.Tag.Get("protobuf")) == string(fd.Name()) {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// goStructOf returns the generated Go struct type of a message, or nil if
// its protoreflect view is not the struct itself (see structPointer).
func goStructOf(d protoreflect.MessageDescriptor) reflect.Type {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil
	}
	pm := mt.New()
	t := reflect.TypeOf(pm.Interface())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct ||
		reflect.ValueOf(pm).UnsafePointer() != reflect.ValueOf(pm.Interface()).UnsafePointer() {
		return nil
	}
	return t.Elem()
}

// oneofReader reads a oneof from its Go interface field. Generated code
// holds a oneof member as a wrapper struct (*T_Member{Member: *M}) in an
// interface field; the wrapper's type names the member.
type oneofReader struct {
	index   int                  // of the interface field in the struct
	members map[reflect.Type]int // wrapper type -> index in mi.fields
	fields  []*fieldInfo
}

func newOneofReader(mi *msgInfo, od protoreflect.OneofDescriptor) *oneofReader {
	r := &oneofReader{index: -1, members: map[reflect.Type]int{}, fields: mi.fields}
	for i := 0; i < mi.goType.NumField(); i++ {
		if mi.goType.Field(i).Tag.Get("protobuf_oneof") == string(od.Name()) {
			r.index = i
		}
	}
	if r.index < 0 {
		return nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(mi.desc.FullName())
	if err != nil {
		return nil
	}
	for i, fi := range mi.fields {
		if fi.fd.ContainingOneof() != od {
			continue
		}
		if fi.fd.Message() == nil {
			return nil
		}
		// Set the member on a scratch message and see which wrapper the
		// interface field then holds.
		m := mt.New()
		m.Set(fi.fd, m.NewField(fi.fd))
		w := reflect.ValueOf(m.Interface()).Elem().Field(r.index).Elem()
		if w.Kind() != reflect.Pointer || w.Elem().Kind() != reflect.Struct || w.Elem().NumField() != 1 ||
			w.Elem().Field(0).Kind() != reflect.Pointer || w.Elem().Type().Field(0).Offset != 0 {
			return nil
		}
		r.members[w.Type()] = i
	}
	return r
}

// read returns the index (in the message's fields) of the member set in
// the oneof of the struct at p and the member's message, or -1. A member
// set to a nil message reads as unset.
func (r *oneofReader) read(t reflect.Type, p unsafe.Pointer) (int, unsafe.Pointer) {
	if p == nil {
		return -1, nil
	}
	v := reflect.NewAt(t, p).Elem().Field(r.index)
	if v.IsNil() {
		return -1, nil
	}
	w := v.Elem()
	i, ok := r.members[w.Type()]
	if !ok || w.IsNil() {
		return -1, nil
	}
	// The wrapper's only field, at offset 0, is the member's pointer.
	c := *(*unsafe.Pointer)(w.UnsafePointer())
	if c == nil {
		return -1, nil
	}
	return i, c
}

// field returns the message of field fi (of type mi) in the struct at p,
// or nil when it is unset.
func (pl *encPlan) field(mi *msgInfo, p unsafe.Pointer, fi *fieldInfo) unsafe.Pointer {
	if p == nil {
		return nil
	}
	if fi.fast.ok {
		return *(*unsafe.Pointer)(unsafe.Add(p, fi.fast.offset))
	}
	if od := fi.fd.ContainingOneof(); od != nil {
		if r := pl.oneofs[od.FullName()]; r != nil {
			if i, c := r.read(mi.goType, p); i >= 0 && r.fields[i] == fi {
				return c
			}
			return nil
		}
	}
	m := messageAt(mi.goType, p)
	if !m.Has(fi.fd) {
		return nil
	}
	return structPointer(m.Get(fi.fd).Message())
}

// list returns the elements of list field fi in the struct at p.
func (pl *encPlan) list(mi *msgInfo, p unsafe.Pointer, fi *fieldInfo) []unsafe.Pointer {
	if p == nil {
		return nil
	}
	if fi.fast.ok {
		return *(*[]unsafe.Pointer)(unsafe.Add(p, fi.fast.offset))
	}
	l := messageAt(mi.goType, p).Get(fi.fd).List()
	out := make([]unsafe.Pointer, l.Len())
	for i := range out {
		out[i] = structPointer(l.Get(i).Message())
	}
	return out
}
