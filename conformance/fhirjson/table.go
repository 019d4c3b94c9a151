package fhirjson

import (
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
)

// primKind says how a FHIR primitive proto is read and written. The set
// and the dispatch on the descriptor's short name mirror jsonformat's
// parsePrimitiveType, so both decoders agree on every type.
type primKind uint8

const (
	notPrimitive primKind = iota
	primString            // String: validated (1 MiB, no control characters)
	primCode              // Code: value_regex validated
	primID                // Id: value_regex validated
	primOID               // Oid: value_regex validated
	primUUID              // Uuid: value_regex validated
	primURI               // Uri, Url, Canonical: must parse as a URL
	primText              // Markdown, Xhtml: any string
	primBoolean
	primInteger
	primPositiveInt
	primUnsignedInt
	primDecimal
	primDate
	primDateTime
	primInstant
	primTime
	primBase64
	primEnumCode   // a value-set bound code held as an enum
	primStringCode // a value-set bound code held as a string
	primInvalid    // ReferenceId and anything unknown: never valid in JSON
)

// nodeKind says how a non-primitive field's value is read.
type nodeKind uint8

const (
	nodeComplex   nodeKind = iota // a FHIR complex type or backbone element
	nodeReference                 // Reference: normalized after reading
	nodeContained                 // ContainedResource: {"resourceType": ...}
	nodeAny                       // Any under "contained": a resource packed in Any
	nodeChoice                    // a choice type's wrapper message (value[x])
	nodePrimitive                 // a primitive type
)

// msgInfo is everything the codec needs about one message type, built once
// from its descriptor and annotations.
type msgInfo struct {
	desc protoreflect.MessageDescriptor
	kind nodeKind
	prim primKind
	// keys maps every JSON member name the message accepts to its target;
	// keyTable holds the same for lookups by []byte.
	keys     map[string]*keyInfo
	keyTable keyTable
	// nslots is the number of distinct member slots (for duplicate checks).
	nslots int
	// fields lists the message fields in declaration order (encoding).
	fields []*fieldInfo
	// required lists fields annotated REQUIRED_BY_FHIR.
	required []*fieldInfo
	// pairs lists primitive members with their "_" twin, to check values
	// that only came from a primitive extension object; extSlots is the
	// bitset of their "_" slots.
	pairs    []slotPair
	extSlots []uint64
	// Primitive types: the value, id and extension fields (any may be nil).
	valueFD, idFD, extFD protoreflect.FieldDescriptor
	idFI, extFI          *fieldInfo
	enum                 *enumInfo
	// valOff is where the value lives in the Go struct, if valOK (see
	// valueField).
	valOff uintptr
	valOK  bool
	// Choice types: the oneof.
	oneof protoreflect.OneofDescriptor
	// Reference: the reference oneof and its uri member.
	refOneof protoreflect.OneofDescriptor
	refURI   protoreflect.FieldDescriptor
	// internal names Reference members that jsonformat reads but FHIR
	// does not have; they are rejected as unknown (strictly).
	internal map[string]bool
	// goType is the generated Go struct, nil if there is none (encoding
	// needs it); encPlan caches the encoding plan (encplan.go).
	goType  reflect.Type
	encPlan atomic.Pointer[encPlan]
	// itab is the proto.Message interface table of *goType (see view).
	itab unsafe.Pointer
	// slab allocates messages of goType (slab.go).
	slab slabType
}

// fieldInfo describes one field of a message.
type fieldInfo struct {
	fd       protoreflect.FieldDescriptor
	jsonName string
	repeated bool
	// validRefs is the valid_reference_type list; nil allows any.
	validRefs []string
	// typeName and jsonSuffix are, for a member of a choice type, its
	// FHIRPath type ("Quantity", "dateTime") and JSON suffix
	// ("Quantity", "DateTime").
	typeName, jsonSuffix string
	// choiceKeys is, for a choice field, the JSON name jsonformat writes
	// for each member (keyed by the member's field number).
	choiceKeys map[protoreflect.FieldNumber]string
	// msgDesc is the field's message type (nil for scalar fields), and
	// child caches its table (see msg).
	msgDesc protoreflect.MessageDescriptor
	child   atomic.Pointer[msgInfo]
	fast    fastField
	oneof   oneofField
	// kind marks the fields read in a way of their own, so that the
	// decoder tells them by one comparison.
	kind fieldKind
}

type fieldKind uint8

const (
	fieldPlain        fieldKind = iota
	fieldContainedAny           // DomainResource.contained or Parameters.parameter.resource: a resource packed in Any
	fieldBundleEntry            // Bundle.entry
)

func fieldKindOf(f protoreflect.FieldDescriptor) fieldKind {
	switch {
	case (f.JSONName() == "contained" || f.JSONName() == "resource") && f.Message() != nil && f.Message().FullName() == "google.protobuf.Any":
		return fieldContainedAny
	case f == bundleEntryFD:
		return fieldBundleEntry
	}
	return fieldPlain
}

// msg returns the table of the field's message type, built on first use
// so that building one type does not build the whole (cyclic) R4 type
// graph. It must not be called for scalar fields.
func (fi *fieldInfo) msg() *msgInfo {
	if mi := fi.child.Load(); mi != nil {
		return mi
	}
	mi := infoFor(fi.msgDesc)
	fi.child.Store(mi)
	return mi
}

// keyInfo is one accepted JSON member name.
type keyInfo struct {
	slot  int
	field *fieldInfo // the field of this message
	// sub is, for choice members, the field inside the choice message.
	sub *fieldInfo
	// underscore marks "_name", the primitive's id and extensions.
	underscore bool
	// twin is the slot of the same element under the other spelling, or -1.
	twin int
	// step is the FHIRPath step this member adds, e.g. "value.ofType(string)",
	// and stepName its number.
	step     string
	stepName stepName
}

// slotPair is a primitive member and its "_" twin.
type slotPair struct {
	value, ext int
	key        *keyInfo
}

// enumInfo resolves a code to its enum number the way jsonformat does:
// first by upper-cased name with '-' as '_', then by fhir_original_code.
type enumInfo struct {
	byName map[string]protoreflect.EnumNumber
	byOrig map[string]protoreflect.EnumNumber
	// code is the JSON text of each number (original code or lower-cased
	// name with '_' as '-'), for encoding.
	code map[protoreflect.EnumNumber]string
	// valueSet is the bound value set's URL, for diagnostics.
	valueSet string
}

// infos caches the tables, which are immutable once built and shared by
// all decoders and encoders.
var infos sync.Map // protoreflect.FullName -> *msgInfo

// infoFor returns the (cached) table of a message type. Concurrent first
// calls may build it twice; both results are equal and one wins.
func infoFor(d protoreflect.MessageDescriptor) *msgInfo {
	if v, ok := infos.Load(d.FullName()); ok {
		return v.(*msgInfo)
	}
	v, _ := infos.LoadOrStore(d.FullName(), buildInfo(d))
	return v.(*msgInfo)
}

func isPrimitiveDesc(d protoreflect.MessageDescriptor) bool {
	return proto.GetExtension(d.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue) == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE
}

func isChoiceDesc(d protoreflect.MessageDescriptor) bool {
	return d != nil && proto.HasExtension(d.Options(), apb.E_IsChoiceType)
}

func primKindOf(d protoreflect.MessageDescriptor) primKind {
	switch d.Name() {
	case "String":
		return primString
	case "Code":
		return primCode
	case "Id":
		return primID
	case "Oid":
		return primOID
	case "Uuid":
		return primUUID
	case "Uri", "Url", "Canonical":
		return primURI
	case "Markdown", "Xhtml":
		return primText
	case "Boolean":
		return primBoolean
	case "Integer":
		return primInteger
	case "PositiveInt":
		return primPositiveInt
	case "UnsignedInt":
		return primUnsignedInt
	case "Decimal":
		return primDecimal
	case "Date":
		return primDate
	case "DateTime":
		return primDateTime
	case "Instant":
		return primInstant
	case "Time":
		return primTime
	case "Base64Binary":
		return primBase64
	case "ReferenceId":
		return primInvalid
	}
	if proto.HasExtension(d.Options(), apb.E_FhirValuesetUrl) {
		if v := d.Fields().ByName("value"); v != nil {
			switch v.Kind() {
			case protoreflect.EnumKind:
				return primEnumCode
			case protoreflect.StringKind:
				return primStringCode
			}
		}
	}
	return primInvalid
}

func buildInfo(d protoreflect.MessageDescriptor) *msgInfo {
	mi := &msgInfo{desc: d, keys: map[string]*keyInfo{}, goType: goStructOf(d)}
	if mi.goType != nil {
		mi.itab = messageItab(mi.goType)
		mi.slab.init(mi.goType)
	}
	switch {
	case isPrimitiveDesc(d):
		mi.kind = nodePrimitive
		mi.prim = primKindOf(d)
		mi.valueFD = d.Fields().ByName("value")
		mi.idFD = d.Fields().ByName("id")
		if e := d.Fields().ByName("extension"); e != nil && e.IsList() && e.Message() != nil {
			mi.extFD = e
		}
		if mi.prim == primEnumCode {
			mi.enum = buildEnum(mi.valueFD.Enum())
			mi.enum.valueSet = proto.GetExtension(d.Options(), apb.E_FhirValuesetUrl).(string)
		}
		mi.valOff, mi.valOK = primitiveValueField(mi)
	case d.Name() == "ContainedResource":
		mi.kind = nodeContained
	case isChoiceDesc(d):
		mi.kind = nodeChoice
		mi.oneof = d.Oneofs().Get(0)
	case proto.HasExtension(d.Options(), apb.E_FhirReferenceType):
		mi.kind = nodeReference
		mi.refOneof = d.Oneofs().ByName("reference")
		mi.refURI = d.Fields().ByName("uri")
	}
	fields := d.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		fi := &fieldInfo{fd: f, jsonName: f.JSONName(), repeated: f.IsList(), fast: locateField(f), oneof: locateOneof(f), kind: fieldKindOf(f)}
		fi.msgDesc = f.Message()
		if refs := proto.GetExtension(f.Options(), apb.E_ValidReferenceType).([]string); len(refs) > 0 {
			fi.validRefs = refs
		}
		if proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement) == apb.Requirement_REQUIRED_BY_FHIR {
			mi.required = append(mi.required, fi)
		}
		mi.fields = append(mi.fields, fi)
		switch {
		case f == mi.idFD && f != nil:
			mi.idFI = fi
		case f == mi.extFD && f != nil:
			mi.extFI = fi
		}
		if mi.kind == nodeChoice {
			fi.jsonSuffix = strings.ToUpper(fi.jsonName[:1]) + fi.jsonName[1:]
			fi.typeName = string(f.Message().Name())
			if isPrimitiveDesc(f.Message()) {
				fi.typeName = fi.jsonName
			}
		}
		mi.addKeys(fi)
	}
	mi.keyTable = newKeyTable(mi.keys)
	mi.extSlots = make([]uint64, (mi.nslots+63)/64)
	for _, p := range mi.pairs {
		mi.extSlots[p.ext/64] |= 1 << (p.ext % 64)
	}
	return mi
}

// addKeys registers the JSON names of one field, as jsonformat's FieldMap
// does: the field's JSON name, "_" + name for primitives, and for a choice
// field every name + type suffix. Non-message fields (a primitive's value,
// a date's precision) and Reference's internal oneof members (fragment,
// typed ids) are not FHIR elements and get no key, so they are rejected
// as unknown.
func (mi *msgInfo) addKeys(fi *fieldInfo) {
	f := fi.fd
	if f.Message() == nil {
		return
	}
	if mi.kind == nodeReference && f.ContainingOneof() == mi.refOneof && f != mi.refURI {
		if mi.internal == nil {
			mi.internal = map[string]bool{}
		}
		mi.internal[fi.jsonName] = true
		return
	}
	if isChoiceDesc(f.Message()) {
		ci := infoFor(f.Message())
		fi.choiceKeys = map[protoreflect.FieldNumber]string{}
		for _, sub := range ci.fields {
			fi.choiceKeys[sub.fd.Number()] = snakeToLowerCamel(string(f.Name()) + "_" + camelToSnake(sub.jsonName))
			if sub.fd.Message() == nil {
				continue
			}
			name := fi.jsonName + sub.jsonSuffix
			step := fi.jsonName + ".ofType(" + sub.typeName + ")"
			mi.addKey(name, &keyInfo{field: fi, sub: sub, step: step}, isPrimitiveDesc(sub.fd.Message()))
		}
		return
	}
	mi.addKey(fi.jsonName, &keyInfo{field: fi, step: fi.jsonName}, isPrimitiveDesc(f.Message()))
}

func (mi *msgInfo) addKey(name string, k *keyInfo, primitive bool) {
	k.slot, k.twin = mi.nslots, -1
	k.stepName = stepNameOf(k.step)
	mi.nslots++
	mi.keys[name] = k
	if !primitive {
		return
	}
	u := *k
	u.underscore = true
	u.slot = mi.nslots
	mi.nslots++
	k.twin, u.twin = u.slot, k.slot
	mi.keys["_"+name] = &u
	mi.pairs = append(mi.pairs, slotPair{value: k.slot, ext: u.slot, key: &u})
}

// lookup finds a member by name. Like jsonformat, a name whose first letter
// is upper case is also tried with that letter lower-cased.
func (mi *msgInfo) lookup(name []byte) *keyInfo {
	if k := mi.keyTable.find(name); k != nil {
		return k
	}
	i := 0
	if len(name) > 0 && name[0] == '_' {
		i = 1
	}
	if i < len(name) && name[i] >= 'A' && name[i] <= 'Z' {
		var buf [64]byte
		if len(name) <= len(buf) {
			n := copy(buf[:], name)
			buf[i] += 'a' - 'A'
			return mi.keyTable.find(buf[:n])
		}
	}
	return nil
}

func buildEnum(ed protoreflect.EnumDescriptor) *enumInfo {
	ei := &enumInfo{
		byName: map[string]protoreflect.EnumNumber{},
		byOrig: map[string]protoreflect.EnumNumber{},
		code:   map[protoreflect.EnumNumber]string{},
	}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		orig := proto.GetExtension(v.Options(), apb.E_FhirOriginalCode).(string)
		if v.Number() != 0 {
			ei.byName[string(v.Name())] = v.Number()
		}
		if _, ok := ei.byOrig[orig]; !ok {
			ei.byOrig[orig] = v.Number()
		}
		if _, ok := ei.code[v.Number()]; !ok {
			code := orig
			if code == "" {
				code = strings.ReplaceAll(strings.ToLower(string(v.Name())), "_", "-")
			}
			ei.code[v.Number()] = code
		}
	}
	return ei
}

// lookup returns the enum number of a code, or false.
func (ei *enumInfo) lookup(code string) (protoreflect.EnumNumber, bool) {
	var buf [64]byte
	key := ""
	if len(code) <= len(buf) && isASCII(code) {
		for i := 0; i < len(code); i++ {
			c := code[i]
			switch {
			case c >= 'a' && c <= 'z':
				c -= 'a' - 'A'
			case c == '-':
				c = '_'
			}
			buf[i] = c
		}
		if n, ok := ei.byName[string(buf[:len(code)])]; ok {
			return n, true
		}
	} else {
		key = strings.ReplaceAll(strings.ToUpper(code), "-", "_")
		if n, ok := ei.byName[key]; ok {
			return n, true
		}
	}
	n, ok := ei.byOrig[code]
	return n, ok
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// snakeToLowerCamel and camelToSnake are jsonformat's name conversions,
// which its marshaller uses to name choice members (value_string ->
// valueString); they are copied so that both sides spell names alike.
func snakeToLowerCamel(s string) string {
	if s == "" {
		return s
	}
	camel := make([]rune, 0, len(s))
	upper := true
	for _, c := range s {
		switch {
		case c == '_':
			upper = true
		case upper:
			upper = false
			camel = append(camel, unicode.ToUpper(c))
		default:
			camel = append(camel, unicode.ToLower(c))
		}
	}
	out := string(camel)
	return strings.ToLower(out[:1]) + out[1:]
}

func camelToSnake(s string) string {
	snake := make([]rune, 0, len(s))
	for _, c := range s {
		if !unicode.IsLower(c) && len(snake) > 0 {
			snake = append(snake, '_')
		}
		snake = append(snake, unicode.ToLower(c))
	}
	return string(snake)
}
