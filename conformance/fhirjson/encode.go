package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
	e := encoder{buf: make([]byte, 0, 16<<10)}
	if err := e.resource(msg.ProtoReflect()); err != nil {
		return nil, fmt.Errorf("fhirjson: marshal %s: %w", msg.ProtoReflect().Descriptor().Name(), err)
	}
	return e.buf, nil
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

// encoder writes JSON into buf. members is a stack of pending object
// members, sorted per object before they are written.
type encoder struct {
	buf     []byte
	members []member
}

// member is one pending object member.
type member struct {
	key  string
	kind memberKind
	fi   *fieldInfo
	msg  protoreflect.Message
	list listView
	// uri is a denormalized reference's "reference" value.
	uri string
}

type memberKind uint8

const (
	memberResourceType   memberKind = iota
	memberValue                     // a primitive's value
	memberExtensions                // a primitive's {id, extension}
	memberValues                    // a primitive list's values
	memberExtensionsList            // a primitive list's {id, extension}s
	memberObject                    // a complex element
	memberObjects                   // a complex list
	memberURI                       // a reference's rebuilt "reference"
)

var errNoResource = errors.New("no resource is set in the ContainedResource")

// resource writes a resource (or a ContainedResource) with resourceType.
func (e *encoder) resource(m protoreflect.Message) error {
	if cr, ok := m.Interface().(*rpb.ContainedResource); ok {
		inner := unwrap(cr)
		if inner == nil {
			return errNoResource
		}
		m = inner.ProtoReflect()
	}
	return e.object(m, infoFor(m.Descriptor()), true)
}

// object writes a message as a JSON object with sorted members.
func (e *encoder) object(m protoreflect.Message, mi *msgInfo, resource bool) error {
	base := len(e.members)
	defer func() { e.members = e.members[:base] }()
	if resource {
		e.members = append(e.members, member{key: "resourceType", kind: memberResourceType})
	}
	if err := e.collect(m, mi); err != nil {
		return err
	}
	sortMembers(e.members[base:])
	e.buf = append(e.buf, '{')
	for i := base; i < len(e.members); i++ {
		if i > base {
			e.buf = append(e.buf, ',')
		}
		mb := e.members[i]
		e.buf = appendString(e.buf, mb.key)
		e.buf = append(e.buf, ':')
		if err := e.write(mb, m); err != nil {
			return fmt.Errorf("%s: %w", mb.key, err)
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// collect pushes the members of m's set fields.
func (e *encoder) collect(m protoreflect.Message, mi *msgInfo) error {
	ref, isRef := m.Interface().(*dpb.Reference)
	var uri string
	own := true
	if isRef && mi.kind == nodeReference {
		uri, own = referenceURI(ref)
		if !own {
			e.members = append(e.members, member{key: "reference", kind: memberURI, uri: uri})
		}
	}
	for _, fi := range mi.fields {
		if fi.fd.Message() == nil {
			if m.Has(fi.fd) {
				return fmt.Errorf("field %s is not a message", fi.fd.Name())
			}
			continue
		}
		if fi.repeated {
			if getList(m, fi).Len() == 0 {
				continue
			}
		} else if _, ok := getMessage(m, fi); !ok {
			continue
		}
		if !own && fi.fd.ContainingOneof() == mi.refOneof {
			continue
		}
		key, fd, cm, target := fi.jsonName, fi, fi.msg(), m
		if cm.kind == nodeChoice {
			cv, _ := getMessage(m, fi)
			set := cv.WhichOneof(cm.oneof)
			if set == nil {
				return fmt.Errorf("no value is set in choice %s", fi.fd.Name())
			}
			key, target = fi.choiceKeys[set.Number()], cv
			for _, sub := range cm.fields {
				if sub.fd == set {
					fd = sub
				}
			}
			cm = fd.msg()
		}
		if fd.repeated {
			list := getList(target, fd)
			if cm.kind == nodePrimitive {
				e.primitiveListMembers(key, fd, cm, list)
			} else {
				e.members = append(e.members, member{key: key, kind: memberObjects, fi: fd, list: list})
			}
			continue
		}
		v, _ := getMessage(target, fd)
		if cm.kind == nodePrimitive {
			if hasValue(v, cm) {
				e.members = append(e.members, member{key: key, kind: memberValue, fi: fd, msg: v})
			}
			if hasExtensions(v, cm) {
				e.members = append(e.members, member{key: "_" + key, kind: memberExtensions, fi: fd, msg: v})
			}
			continue
		}
		e.members = append(e.members, member{key: key, kind: memberObject, fi: fd, msg: v})
	}
	return nil
}

func (e *encoder) primitiveListMembers(key string, fi *fieldInfo, cm *msgInfo, list listView) {
	values, exts := false, false
	for i := 0; i < list.Len(); i++ {
		v := list.Get(i)
		values = values || hasValue(v, cm)
		exts = exts || hasExtensions(v, cm)
	}
	if values {
		e.members = append(e.members, member{key: key, kind: memberValues, fi: fi, list: list})
	}
	if exts {
		e.members = append(e.members, member{key: "_" + key, kind: memberExtensionsList, fi: fi, list: list})
	}
}

// sortMembers sorts by key bytes, as encoding/json sorts map keys. Objects
// have few members, so insertion sort beats sort.Slice's allocation.
func sortMembers(ms []member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].key < ms[j-1].key; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// write writes one member's value.
func (e *encoder) write(mb member, parent protoreflect.Message) error {
	switch mb.kind {
	case memberResourceType:
		e.buf = appendString(e.buf, string(parent.Descriptor().Name()))
	case memberURI:
		e.buf = appendString(e.buf, mb.uri)
	case memberValue:
		return e.value(mb.msg, mb.fi.msg())
	case memberExtensions:
		return e.extensions(mb.msg, mb.fi.msg())
	case memberValues, memberExtensionsList:
		cm := mb.fi.msg()
		e.buf = append(e.buf, '[')
		for i := 0; i < mb.list.Len(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			v := mb.list.Get(i)
			var err error
			switch {
			case mb.kind == memberValues && hasValue(v, cm):
				err = e.value(v, cm)
			case mb.kind == memberExtensionsList && hasExtensions(v, cm):
				err = e.extensions(v, cm)
			default:
				e.buf = append(e.buf, "null"...)
			}
			if err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		e.buf = append(e.buf, ']')
	case memberObject:
		return e.element(mb.msg, mb.fi)
	case memberObjects:
		e.buf = append(e.buf, '[')
		for i := 0; i < mb.list.Len(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.element(mb.list.Get(i), mb.fi); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		e.buf = append(e.buf, ']')
	}
	return nil
}

// element writes a complex value, a contained resource or an entry's
// resource.
func (e *encoder) element(m protoreflect.Message, fi *fieldInfo) error {
	cm := fi.msg()
	switch {
	case cm.kind == nodeContained:
		return e.resource(m)
	case isContainedAny(fi):
		a, _ := m.Interface().(*anypb.Any)
		cr := &rpb.ContainedResource{}
		if err := a.UnmarshalTo(cr); err != nil {
			return fmt.Errorf("unmarshalling Any: %w", err)
		}
		return e.resource(cr.ProtoReflect())
	}
	return e.object(m, cm, false)
}

// hasValue reports whether a primitive's value is written, following
// jsonformat: not when it is marked PrimitiveHasNoValue, not for the zero
// enum.
func hasValue(v protoreflect.Message, cm *msgInfo) bool {
	if cm.extFI != nil && markedNoValue(v, cm) {
		return false
	}
	if cm.prim == primEnumCode {
		return v.Get(cm.valueFD).Enum() != 0
	}
	return true
}

// hasExtensions reports whether a primitive has an id or extensions to
// write under "_name" (PrimitiveHasNoValue and, when the value is written,
// the base64 chunking extension are jsonformat's own and never written).
func hasExtensions(v protoreflect.Message, cm *msgInfo) bool {
	if cm.idFI != nil {
		if _, ok := getMessage(v, cm.idFI); ok {
			return true
		}
	}
	return cm.extFI != nil && len(writtenExtensions(v, cm)) > 0
}

// markedNoValue is hasNoValue through the fast field access.
func markedNoValue(v protoreflect.Message, cm *msgInfo) bool {
	list := getList(v, cm.extFI)
	for i := 0; i < list.Len(); i++ {
		if x, ok := list.Get(i).Interface().(*dpb.Extension); ok && x.GetUrl().GetValue() == noValueURL {
			return true
		}
	}
	return false
}

func writtenExtensions(v protoreflect.Message, cm *msgInfo) []protoreflect.Message {
	list := getList(v, cm.extFI)
	if list.Len() == 0 {
		return nil
	}
	dropBase64 := cm.prim == primBase64 && !markedNoValue(v, cm) && findExtension(v.Interface().(*dpb.Base64Binary).GetExtension(), base64SeparatorStrideURL) != nil
	var out []protoreflect.Message
	for i := 0; i < list.Len(); i++ {
		m := list.Get(i)
		if x, ok := m.Interface().(*dpb.Extension); ok {
			if u := x.GetUrl(); u != nil && (u.GetValue() == noValueURL || dropBase64 && u.GetValue() == base64SeparatorStrideURL) {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// extensions writes a primitive's {"extension": [...], "id": "..."}.
func (e *encoder) extensions(v protoreflect.Message, cm *msgInfo) error {
	exts := writtenExtensions(v, cm)
	e.buf = append(e.buf, '{')
	if len(exts) > 0 {
		e.buf = append(e.buf, `"extension":[`...)
		extInfo := infoFor(cm.extFD.Message())
		for i, x := range exts {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.object(x, extInfo, false); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	}
	if cm.idFI != nil {
		if idm, ok := getMessage(v, cm.idFI); ok {
			if len(exts) > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(e.buf, `"id":`...)
			id, _ := idm.Interface().(*dpb.String)
			e.buf = appendString(e.buf, id.GetValue())
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// value writes a primitive's value.
func (e *encoder) value(v protoreflect.Message, cm *msgInfo) error {
	switch cm.prim {
	case primBoolean:
		e.buf = strconv.AppendBool(e.buf, v.Get(cm.valueFD).Bool())
	case primInteger:
		if x, ok := v.Interface().(*dpb.Integer); ok {
			e.buf = strconv.AppendInt(e.buf, int64(x.Value), 10)
			break
		}
		e.buf = strconv.AppendInt(e.buf, v.Get(cm.valueFD).Int(), 10)
	case primPositiveInt, primUnsignedInt:
		e.buf = strconv.AppendUint(e.buf, v.Get(cm.valueFD).Uint(), 10)
	case primDecimal:
		s := getString(v, cm)
		if !isJSONNumber(s) {
			return fmt.Errorf("decimal %q is not a JSON number", s)
		}
		e.buf = append(e.buf, s...)
	case primDate, primDateTime, primInstant, primTime:
		s, err := formatTemporal(v.Interface(), cm.prim)
		if err != nil {
			return err
		}
		e.buf = appendString(e.buf, s)
	case primBase64:
		b, _ := v.Interface().(*dpb.Base64Binary)
		e.buf = appendString(e.buf, encodeBase64(b))
	case primEnumCode:
		n := v.Get(cm.valueFD).Enum()
		code, ok := cm.enum.code[n]
		if !ok {
			return fmt.Errorf("enum %s has no value %d", cm.valueFD.Enum().FullName(), n)
		}
		e.buf = appendString(e.buf, code)
	case primInvalid:
		if cm.desc.Name() != "ReferenceId" {
			return fmt.Errorf("not a supported primitive type: %v", cm.desc.Name())
		}
		e.buf = appendString(e.buf, v.Get(cm.valueFD).String())
	default:
		e.buf = appendString(e.buf, getString(v, cm))
	}
	return nil
}

func isJSONNumber(s string) bool {
	sc := scanner{data: []byte(s)}
	sc.readNumber()
	return sc.err == nil && sc.pos == len(s)
}

// appendString is encoding/json's string encoding with HTML escaping off.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
