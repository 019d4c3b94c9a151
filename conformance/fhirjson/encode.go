package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// Marshal encodes a resource proto (e.g. *mrpb.MeasureReport, or a
// *ContainedResource holding one) as compact FHIR JSON, byte-identical to
// jsonformat.NewMarshaller(false, "", "", fhirversion.R4).MarshalResource:
// members sorted by name, decimals as stored, strings escaped as
// encoding/json escapes them without HTML escaping.
//
// Unlike jsonformat, Marshal never modifies msg. Its errors are internal
// (a proto no FHIR JSON can express: a choice or ContainedResource with
// nothing set, an unknown precision, a decimal that is not a number), not
// *operationoutcome.Error.
func Marshal(msg proto.Message) ([]byte, error) {
	if msg == nil || !msg.ProtoReflect().IsValid() {
		return nil, errors.New("fhirjson: marshal: no resource")
	}
	mi := infoFor(msg.ProtoReflect().Descriptor())
	if mi.goType == nil || reflect.TypeOf(msg) != reflect.PointerTo(mi.goType) {
		// Not the generated Go type (e.g. a dynamicpb message): encode an
		// equal message of the generated type.
		g, err := generatedCopy(msg)
		if err != nil {
			return nil, fmt.Errorf("fhirjson: marshal %s: %w", msg.ProtoReflect().Descriptor().Name(), err)
		}
		msg = g
	}
	// Most reports encode to 5 to 20 KB; larger documents grow the buffer.
	e := encoder{buf: make([]byte, 0, 16<<10)}
	if err := e.resource(reflect.ValueOf(msg).UnsafePointer(), mi); err != nil {
		return nil, fmt.Errorf("fhirjson: marshal %s: %w", msg.ProtoReflect().Descriptor().Name(), err)
	}
	return e.buf, nil
}

func generatedCopy(msg proto.Message) (proto.Message, error) {
	name := msg.ProtoReflect().Descriptor().FullName()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, errNotGenerated{name}
	}
	g := mt.New().Interface()
	if t := reflect.TypeOf(g); t.Kind() != reflect.Pointer || t.Elem() != infoFor(mt.Descriptor()).goType {
		return nil, errNotGenerated{name}
	}
	proto.Merge(g, msg)
	return g, nil
}

// MarshalIndent is Marshal with two-space indentation, byte-identical to
// jsonformat.NewPrettyMarshaller(fhirversion.R4).MarshalResource (for
// _pretty=true).
func MarshalIndent(msg proto.Message) ([]byte, error) {
	compact, err := Marshal(msg)
	if err != nil {
		return nil, err
	}
	// json.Encoder indents exactly this way after encoding compactly.
	var b bytes.Buffer
	b.Grow(len(compact) * 2)
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("fhirjson: indent: %w", err)
	}
	return b.Bytes(), nil
}

// encoder writes JSON into buf.
type encoder struct {
	buf []byte
}

var errNoResource = errors.New("no resource is set in the ContainedResource")

// resource writes the resource at p (or the one a ContainedResource at p
// holds) with resourceType.
func (e *encoder) resource(p unsafe.Pointer, mi *msgInfo) error {
	if mi.kind == nodeContained {
		pl := mi.plan()
		if pl.err != nil {
			return pl.err
		}
		i, inner := -1, unsafe.Pointer(nil)
		if pl.first != nil {
			i, inner = pl.first.read(mi.goType, p)
		}
		if i < 0 {
			return errNoResource
		}
		p, mi = inner, mi.fields[i].msg()
	}
	return e.object(p, mi, true)
}

// dynMember is a choice member of the object being written.
type dynMember struct {
	name, key string
	ext       bool // "_name": the primitive's id and extensions
	p         unsafe.Pointer
	fi        *fieldInfo
	cm        *msgInfo
}

// object writes the message at p (nil: an empty message) as a JSON object
// with sorted members.
func (e *encoder) object(p unsafe.Pointer, mi *msgInfo, resource bool) error {
	pl := mi.plan()
	if pl.err != nil {
		return pl.err
	}
	var dynBuf [4]dynMember
	dyn := dynBuf[:0]
	if len(pl.choices) > 0 && p != nil {
		var err error
		if dyn, err = pl.choiceMembers(mi, p, dyn); err != nil {
			return err
		}
	}
	uri, own := "", true
	if mi.kind == nodeReference && p != nil && mi.goType == referenceType {
		uri, own = referenceURI((*dpb.Reference)(p))
	}
	e.buf = append(e.buf, '{')
	n, di := 0, 0
	for i := range pl.members {
		mb := &pl.members[i]
		for di < len(dyn) && dyn[di].name < mb.name {
			if err := e.dynamic(&dyn[di], n); err != nil {
				return err
			}
			n, di = n+1, di+1
		}
		if p == nil && mb.kind != encResourceType {
			continue
		}
		// Most members of most objects are absent: skip them here.
		if mb.direct {
			slot := unsafe.Add(p, mb.off)
			if mb.list && len(*(*[]unsafe.Pointer)(slot)) == 0 || !mb.list && *(*unsafe.Pointer)(slot) == nil {
				continue
			}
		}
		wrote, err := e.member(mb, pl, mi, p, n, resource, uri, own)
		if err != nil {
			return fmt.Errorf("%s: %w", mb.name, err)
		}
		if wrote {
			n++
		}
	}
	for ; di < len(dyn); di++ {
		if err := e.dynamic(&dyn[di], n); err != nil {
			return err
		}
		n++
	}
	e.buf = append(e.buf, '}')
	return nil
}

var referenceType = reflect.TypeFor[dpb.Reference]()

// choiceMembers adds the members of the object's set choice fields,
// sorted by name.
func (pl *encPlan) choiceMembers(mi *msgInfo, p unsafe.Pointer, dyn []dynMember) ([]dynMember, error) {
	for i := range pl.choices {
		ch := &pl.choices[i]
		cp := pl.field(mi, p, ch.fi)
		if cp == nil {
			continue
		}
		cpl := ch.cm.plan()
		if cpl.err != nil {
			return nil, cpl.err
		}
		j, sp := -1, unsafe.Pointer(nil)
		if cpl.first != nil {
			j, sp = cpl.first.read(ch.cm.goType, cp)
		}
		if j < 0 {
			return nil, fmt.Errorf("no value is set in choice %s", ch.fi.fd.Name())
		}
		sub := ch.cm.fields[j]
		scm := sub.msg()
		if scm.kind != nodePrimitive {
			dyn = append(dyn, dynMember{name: ch.names[j], key: ch.keys[j], p: sp, fi: sub, cm: scm})
			continue
		}
		if hasValue(sp, scm) {
			dyn = append(dyn, dynMember{name: ch.names[j], key: ch.keys[j], p: sp, fi: sub, cm: scm})
		}
		if hasExtensions(sp, scm) {
			dyn = append(dyn, dynMember{name: ch.extNames[j], key: ch.extKeys[j], ext: true, p: sp, fi: sub, cm: scm})
		}
	}
	// Few members: insertion sort, which does not allocate.
	for i := 1; i < len(dyn); i++ {
		for j := i; j > 0 && dyn[j].name < dyn[j-1].name; j-- {
			dyn[j], dyn[j-1] = dyn[j-1], dyn[j]
		}
	}
	return dyn, nil
}

// dynamic writes a choice member; n members precede it.
func (e *encoder) dynamic(d *dynMember, n int) error {
	if n > 0 {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, d.key...)
	var err error
	switch {
	case d.cm.kind != nodePrimitive:
		err = e.element(d.p, d.fi, d.cm)
	case d.ext:
		err = e.extensions(d.p, d.cm)
	default:
		err = e.value(d.p, d.cm)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}

// member writes one static member of the message at p if it is present,
// preceded by a comma when n members precede it, and reports whether it
// wrote anything.
func (e *encoder) member(mb *encMember, pl *encPlan, mi *msgInfo, p unsafe.Pointer, n int, resource bool, uri string, own bool) (bool, error) {
	if mb.refOneof && !own {
		return false, nil
	}
	switch mb.kind {
	case encResourceType:
		if !resource {
			return false, nil
		}
		e.key(mb, n)
		e.buf = append(e.buf, pl.typeKey...)
	case encRefURI:
		if own {
			return false, nil
		}
		e.key(mb, n)
		e.buf = appendString(e.buf, uri)
	case encScalar:
		if messageAt(mi.goType, p).Has(mb.fi.fd) {
			return false, fmt.Errorf("field %s is not a message", mb.fi.fd.Name())
		}
		return false, nil
	case encValue:
		c := pl.field(mi, p, mb.fi)
		if c == nil || !hasValue(c, mb.cm) {
			return false, nil
		}
		e.key(mb, n)
		return true, e.value(c, mb.cm)
	case encExt:
		c := pl.field(mi, p, mb.fi)
		if c == nil || !hasExtensions(c, mb.cm) {
			return false, nil
		}
		e.key(mb, n)
		return true, e.extensions(c, mb.cm)
	case encValues, encExts:
		return e.primitiveList(mb, pl.list(mi, p, mb.fi), n)
	case encObject:
		c := pl.field(mi, p, mb.fi)
		if c == nil {
			return false, nil
		}
		e.key(mb, n)
		return true, e.element(c, mb.fi, mb.cm)
	case encObjects:
		list := pl.list(mi, p, mb.fi)
		if len(list) == 0 {
			return false, nil
		}
		e.key(mb, n)
		e.buf = append(e.buf, '[')
		for i, c := range list {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.element(c, mb.fi, mb.cm); err != nil {
				return true, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		e.buf = append(e.buf, ']')
	}
	return true, nil
}

func (e *encoder) key(mb *encMember, n int) {
	if n > 0 {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, mb.key...)
}

// primitiveList writes a primitive list's values or its "_name" array,
// with null for the elements that have none, if any element has one.
func (e *encoder) primitiveList(mb *encMember, list []unsafe.Pointer, n int) (bool, error) {
	values := mb.kind == encValues
	has := func(c unsafe.Pointer) bool {
		if values {
			return hasValue(c, mb.cm)
		}
		return hasExtensions(c, mb.cm)
	}
	found := false
	for _, c := range list {
		if found = has(c); found {
			break
		}
	}
	if !found {
		return false, nil
	}
	e.key(mb, n)
	e.buf = append(e.buf, '[')
	for i, c := range list {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		var err error
		switch {
		case !has(c):
			e.buf = append(e.buf, "null"...)
		case values:
			err = e.value(c, mb.cm)
		default:
			err = e.extensions(c, mb.cm)
		}
		if err != nil {
			return true, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	e.buf = append(e.buf, ']')
	return true, nil
}

// element writes a complex value, a contained resource or an entry's
// resource.
func (e *encoder) element(p unsafe.Pointer, fi *fieldInfo, cm *msgInfo) error {
	switch {
	case cm.kind == nodeContained:
		return e.resource(p, cm)
	case isContainedAny(fi):
		if cm.goType != anyType {
			return errNotGenerated{cm.desc.FullName()}
		}
		cr := &rpb.ContainedResource{}
		if err := (*anypb.Any)(p).UnmarshalTo(cr); err != nil {
			return fmt.Errorf("unmarshalling Any: %w", err)
		}
		return e.resource(unsafe.Pointer(cr), infoFor(cr.ProtoReflect().Descriptor()))
	}
	return e.object(p, cm, false)
}
