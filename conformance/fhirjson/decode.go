package fhirjson

import (
	"fmt"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/madx-project/madx/operationoutcome"

	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// maxDepth bounds JSON nesting. The deepest R4 resources in practice
// (Questionnaire items, nested extensions) stay far below it; a hostile
// document of a million '[' would otherwise cost a million stack frames.
const maxDepth = 100

// decoder holds the state of one decode. It is used by one goroutine.
type decoder struct {
	scanner
	steps    []pathStep
	problems []problem
	// seen is an arena of per-object member bitsets, used as a stack.
	seen []uint64
	// depth is the JSON nesting depth of the value being read.
	depth int
	// noValidate is > 0 inside resources packed in Any (contained):
	// jsonformat's validation pass does not look into Any, so neither do we.
	noValidate int
	// entry is the index of the top-level Bundle.entry being read, or -1.
	entry int
	// deferred, when set, collects top-level Bundle.entry resources to be
	// decoded later (in parallel) instead of decoding them in line.
	deferred *[]entryJob
	// uris remembers URIs already found valid in this document.
	uris uriCache
	// strings makes the string values (strarena.go).
	strings strArena
	// slabs are the current message slabs by slabType.id, touched the ids
	// in use (slab.go).
	slabs   []msgSlab
	touched []int32
	// elems is a stack of the elements of the arrays being read, and
	// lists the chunk their lists are cut from (slab.go).
	elems []unsafe.Pointer
	lists []unsafe.Pointer
}

// entryJob is one Bundle.entry.resource left for a worker.
type entryJob struct {
	start, end int
	entry      int
	target     unsafe.Pointer // the entry's ContainedResource
}

// containedInfo is the table of ContainedResource, the message every
// resource is decoded in (decodeResource's cr).
var containedInfo = sync.OnceValue(func() *msgInfo {
	return infoFor((&rpb.ContainedResource{}).ProtoReflect().Descriptor())
})

// containedMember is a resource type's member of ContainedResource's
// oneof, and the path step its name starts at the root of a document.
type containedMember struct {
	fi   *fieldInfo
	step stepName
}

// containedMembers maps a resource type name to its containedMember.
var containedMembers = sync.OnceValue(func() map[string]containedMember {
	ci := containedInfo()
	od := ci.desc.Oneofs().ByName("oneof_resource")
	m := map[string]containedMember{}
	for _, fi := range ci.fields {
		if fi.fd.ContainingOneof() == od {
			name := string(fi.fd.Message().Name())
			m[name] = containedMember{fi: fi, step: stepNameOf(name)}
		}
	}
	return m
})

// decoders keeps released decoders for their scratch: the path and
// member-bitset stacks, the unescape buffer and the slab table. Nothing
// a decode returned is reachable from a pooled decoder.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// newDecoder returns a decoder for data; release it when done.
func newDecoder(data []byte) *decoder {
	d := decoders.Get().(*decoder)
	d.data, d.entry = data, -1
	return d
}

// release returns d to the pool. Only scratch survives: the problems, the
// string chunk and the slabs belong to the decoded result.
func (d *decoder) release() {
	d.dropSlabs()
	buf := d.buf[:0]
	if cap(buf) > 64<<10 {
		buf = nil
	}
	// A pooled decoder must refer to no result.
	clear(d.elems[:cap(d.elems)])
	*d = decoder{
		scanner: scanner{buf: buf},
		steps:   d.steps[:0],
		seen:    d.seen[:0],
		slabs:   d.slabs,
		touched: d.touched,
		elems:   d.elems[:0],
	}
	decoders.Put(d)
}

// decodeDocument reads a whole document holding one resource and returns
// the resource's ContainedResource (nil if it could not be identified).
func (d *decoder) decodeDocument() *rpb.ContainedResource {
	if d.peek() != '{' {
		d.addAt("", operationoutcome.Structure, false, "expected a JSON object holding a FHIR resource, found %s", d.describeNext())
		return nil
	}
	cr := &rpb.ContainedResource{}
	d.decodeResource(unsafe.Pointer(cr), true)
	if d.err == nil {
		if d.skipSpace(); d.pos < len(d.data) {
			d.fail("unexpected data after the resource")
		}
	}
	d.syntaxProblem()
	return cr
}

// syntaxProblem turns a syntax error into the one issue that explains it.
func (d *decoder) syntaxProblem() {
	if d.err == nil {
		return
	}
	line, col := 1, 1
	for _, c := range d.data[:min(d.err.offset, len(d.data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	code := operationoutcome.Structure
	if d.err.msg == errDepth {
		code = operationoutcome.TooLong
	}
	d.report(problem{
		issue: operationoutcome.Issue{
			Severity:    operationoutcome.SeverityFatal,
			Code:        code,
			Diagnostics: fmt.Sprintf("invalid JSON at line %d, column %d (byte %d): %s", line, col, d.err.offset, d.err.msg),
		},
		strict: d.err.strict,
		entry:  d.entry,
	})
}

// findResourceType looks ahead in the object at the cursor for its
// "resourceType" member without consuming anything. Most resources name
// their type first, so this usually reads one member.
func (d *decoder) findResourceType() (rt []byte, found, isString bool) {
	ahead := d.scanner
	ahead.buf = nil
	if !ahead.expect('{', "an object") {
		return nil, false, false
	}
	for first := true; ahead.objectNext(first); first = false {
		k := ahead.readKey()
		if ahead.err != nil {
			return nil, false, false
		}
		if string(k) == "resourceType" {
			if ahead.peek() != '"' {
				return nil, true, false
			}
			v, _, _ := ahead.readString()
			return v, ahead.err == nil, ahead.err == nil
		}
		ahead.skipValue(d.depth + 1)
	}
	return nil, false, false
}

// decodeResource reads a resource object into the ContainedResource cr.
// top marks the document's root, whose FHIRPath starts with the type name.
func (d *decoder) decodeResource(cr unsafe.Pointer, top bool) {
	rt, found, isString := d.findResourceType()
	var member containedMember
	switch {
	case !found:
		if d.err == nil && !d.syntaxAhead() {
			d.addf(operationoutcome.Invalid, false, `missing "resourceType": expected the name of an R4 resource type`)
		}
	case !isString:
		d.addf(operationoutcome.Invalid, false, `"resourceType" must be a string naming an R4 resource type`)
	default:
		member = containedMembers()[string(rt)]
		if member.fi == nil {
			d.addf(operationoutcome.Invalid, false, "unknown resource type %s: expected an R4 resource type", quote(rt))
		}
	}
	if member.fi == nil {
		d.skipValue(d.depth)
		return
	}
	if top {
		d.push(member.step)
		defer d.pop()
	}
	r := d.mutable(cr, containedInfo(), member.fi)
	d.decodeObject(r, member.fi.msg(), true)
}

// syntaxAhead reports whether the object at the cursor is malformed, so
// that a missing resourceType is not reported on top of a syntax error.
func (d *decoder) syntaxAhead() bool {
	ahead := d.scanner
	ahead.buf = nil
	ahead.skipValue(d.depth)
	return ahead.err != nil
}

// enter consumes the opening bracket of a container and counts its depth.
func (d *decoder) enter(c byte, what string) bool {
	if d.depth >= maxDepth {
		d.failDepth()
		return false
	}
	if !d.expect(c, what) {
		return false
	}
	d.depth++
	return true
}

// decodeObject reads an object into msg. resource marks a resource's root
// object, where "resourceType" is allowed (it was read ahead).
func (d *decoder) decodeObject(msg unsafe.Pointer, mi *msgInfo, resource bool) {
	if !d.enter('{', "an object") {
		return
	}
	base := len(d.seen)
	for range (mi.nslots + 63) / 64 {
		d.seen = append(d.seen, 0)
	}
	rtSeen := false
	for first := true; d.objectNext(first); first = false {
		key := d.readKey()
		if d.err != nil {
			break
		}
		if resource && string(key) == "resourceType" {
			if rtSeen {
				d.addf(operationoutcome.Structure, true, `duplicate member "resourceType"`)
			}
			rtSeen = true
			d.skipValue(d.depth)
			continue
		}
		k := mi.lookup(key)
		if k == nil {
			d.addf(operationoutcome.Structure, mi.internal[string(key)], "unknown element %s: %s has no such element", quote(key), typeName(mi))
			d.skipValue(d.depth)
			continue
		}
		w, bit := base+k.slot/64, uint64(1)<<(k.slot%64)
		if d.seen[w]&bit != 0 {
			// Reported at the member, not its object: that is the
			// expression a sender searches its payload for.
			d.push(k.stepName)
			d.addf(operationoutcome.Structure, true, "duplicate member %s", quote(key))
			d.pop()
			d.skipValue(d.depth)
			continue
		}
		d.seen[w] |= bit
		d.push(k.stepName)
		d.member(msg, mi, k, base)
		d.pop()
	}
	if d.err == nil {
		d.finishObject(msg, mi, base)
	}
	d.seen = d.seen[:base]
	d.depth--
}

// seenSlot reports whether the member slot was read in the object whose
// bitset starts at base.
func (d *decoder) seenSlot(base, slot int) bool {
	return d.seen[base+slot/64]&(uint64(1)<<(slot%64)) != 0
}

// seenAny reports whether any slot of the bitset mask was read in the
// object whose bitset starts at base.
func (d *decoder) seenAny(base int, mask []uint64) bool {
	for w, m := range mask {
		if d.seen[base+w]&m != 0 {
			return true
		}
	}
	return false
}

func typeName(mi *msgInfo) string { return string(mi.desc.Name()) }

// member reads the value of one member.
func (d *decoder) member(msg unsafe.Pointer, mi *msgInfo, k *keyInfo, base int) {
	fi := k.field
	if k.sub != nil {
		ci := fi.msg()
		if has(msg, mi, fi) {
			cm := ci.view(d.mutable(msg, mi, fi))
			if w := cm.WhichOneof(ci.oneof); w != nil && w != k.sub.fd {
				d.addf(operationoutcome.Structure, false, "%s[x] already has a value of another type: expected one value[x] member, found several", fi.jsonName)
				d.skipValue(d.depth)
				return
			}
		}
		msg, mi = d.mutable(msg, mi, fi), ci
		fi = k.sub
	}
	if fi.repeated {
		d.repeated(msg, mi, fi, k, k.twin >= 0 && d.seenSlot(base, k.twin))
		return
	}
	cm := fi.msg()
	switch cm.kind {
	case nodePrimitive:
		if k.underscore {
			d.primitiveExtension(msg, mi, fi, cm)
		} else {
			d.primitiveMember(msg, mi, fi, cm)
		}
	case nodeContained:
		if d.wantObject() {
			if target := d.mutable(msg, mi, fi); !d.deferEntry(target) {
				d.decodeResource(target, false)
			}
		}
	default:
		switch {
		case !d.wantObject():
		case isContainedAny(fi):
			d.containedAny(d.mutable(msg, mi, fi), cm)
		default:
			d.complex(d.mutable(msg, mi, fi), fi, cm)
		}
	}
}

// complex reads a complex-type object into m.
func (d *decoder) complex(m unsafe.Pointer, fi *fieldInfo, cm *msgInfo) {
	d.decodeObject(m, cm, false)
	if cm.kind == nodeReference && d.err == nil {
		d.finishReference(m, cm, fi)
	}
}

// wantObject checks that the next value is an object, reporting and
// skipping it otherwise.
func (d *decoder) wantObject() bool {
	switch d.peek() {
	case '{':
		return true
	case 'n':
		d.addf(operationoutcome.Structure, false, "expected an object, found null (FHIR JSON has no null elements)")
	default:
		d.addf(operationoutcome.Structure, false, "expected an object, found %s", d.describeNext())
	}
	d.skipValue(d.depth)
	return false
}

// repeated reads an array member. twinSeen says whether the other
// spelling ("_name" for "name" and back) was read before, in which case the
// list already exists and the elements are merged index by index.
func (d *decoder) repeated(msg unsafe.Pointer, mi *msgInfo, fi *fieldInfo, k *keyInfo, twinSeen bool) {
	if d.peek() != '[' {
		d.addf(operationoutcome.Structure, false, "expected an array, found %s", d.describeNext())
		d.skipValue(d.depth)
		return
	}
	if !d.enter('[', "an array") {
		return
	}
	cm := fi.msg()
	var list []unsafe.Pointer
	if twinSeen {
		list = mi.plan().list(mi, msg, fi)
	}
	existing := len(list)
	// The new elements are collected on d.elems and set as one list at
	// the end, so the list is allocated once, at its length.
	collect := !twinSeen && fi.fast.ok
	base := len(d.elems)
	i := 0
	for first := true; d.arrayNext(first); first = false {
		d.setIndex(i)
		switch {
		case twinSeen && i >= existing:
			d.skipValue(d.depth)
		case twinSeen:
			d.primitiveElement(list[i], cm, k.underscore, true)
		case cm.kind == nodePrimitive:
			d.primitiveElement(d.element(msg, mi, fi, cm, collect), cm, k.underscore, false)
		case cm.kind == nodeContained:
			if d.wantObject() {
				d.decodeResource(d.element(msg, mi, fi, cm, collect), false)
			}
		case isContainedAny(fi):
			if d.wantObject() {
				d.containedAny(d.element(msg, mi, fi, cm, collect), cm)
			}
		case fi.kind == fieldBundleEntry && len(d.steps) == 2:
			// A top-level Bundle's entry: its problems are kept per entry.
			if d.wantObject() {
				d.entry = i
				d.complex(d.element(msg, mi, fi, cm, collect), fi, cm)
				d.entry = -1
			}
		default:
			if d.wantObject() {
				d.complex(d.element(msg, mi, fi, cm, collect), fi, cm)
			}
		}
		i++
	}
	if collect {
		d.setList(msg, fi, base)
	}
	d.setIndex(-1)
	d.depth--
	if twinSeen && i != existing && d.err == nil {
		// jsonformat fills an empty list from either spelling, so an empty
		// array only fails there in one of the two member orders.
		d.addf(operationoutcome.Structure, i == 0 || existing == 0,
			"array length mismatch: %s has %d elements but its %s twin has %d (each value aligns with its extensions)", k.step, i, "_", existing)
	}
}

func isContainedAny(fi *fieldInfo) bool { return fi.kind == fieldContainedAny }

// containedAny reads a contained resource and packs it in an Any, as
// jsonformat stores DomainResource.contained.
func (d *decoder) containedAny(m unsafe.Pointer, cm *msgInfo) {
	cr := &rpb.ContainedResource{}
	d.noValidate++
	d.decodeResource(unsafe.Pointer(cr), false)
	d.noValidate--
	a, ok := asGo[anypb.Any](m, cm, anyType)
	if !ok {
		return
	}
	if err := a.MarshalFrom(cr); err != nil {
		d.addf(operationoutcome.Invalid, false, "contained resource cannot be stored: %v", err)
	}
}

// finishObject runs the checks jsonformat's validation pass makes on one
// message: required elements, and values that must not stay empty.
func (d *decoder) finishObject(msg unsafe.Pointer, mi *msgInfo, base int) {
	if d.noValidate > 0 {
		return
	}
	for _, fi := range mi.required {
		if !has(msg, mi, fi) {
			d.addf(operationoutcome.Required, false, "missing required element %q", requiredName(fi))
		}
	}
	if !d.seenAny(base, mi.extSlots) {
		return
	}
	for _, p := range mi.pairs {
		if !d.seenSlot(base, p.ext) || d.seenSlot(base, p.value) {
			continue
		}
		k := p.key
		fi := k.field
		if k.sub != nil {
			fi = k.sub
		}
		switch fi.msg().prim {
		case primCode, primID, primOID, primUUID:
			d.push(k.stepName)
			d.addf(operationoutcome.Value, false, "a %s needs a value: its extensions alone leave it empty, which does not match the %s format", typeName(fi.msg()), typeName(fi.msg()))
			d.pop()
		}
	}
}

func requiredName(fi *fieldInfo) string {
	if isChoiceDesc(fi.fd.Message()) {
		return fi.jsonName + "[x]"
	}
	return fi.jsonName
}

// unwrap returns the resource held in a ContainedResource, or nil.
func unwrap(cr *rpb.ContainedResource) proto.Message {
	m := cr.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("oneof_resource")
	if f := m.WhichOneof(od); f != nil {
		return m.Get(f).Message().Interface()
	}
	return nil
}
