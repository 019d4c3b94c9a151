package fhirjson

import (
	"math/bits"
	"reflect"
	"slices"
	"sync/atomic"
	"unsafe"
)

// A MeasureReport decodes to some 620 small messages (Coding, Uri, Code,
// CodeableConcept...) and 180 lists, and allocating each on its own was a
// fifth of the decode's CPU: the allocator's per-object work, more than
// the bytes. The decoder instead allocates the messages of each type in
// slabs ([n]T) and hands out &slab[i], and cuts exact-length lists out of
// shared chunks. A zero generated message is a valid message, and a slab
// element is handed out once and never copied.
//
// Slabs and chunks belong to one decode and are never reused: once a
// pointer into one has been handed out, it belongs to the decoded
// messages, which may live for a long time (cached Measures). A kept
// message keeps its slab alive, with the other messages in it and what
// they refer to: at most the whole decode, never another decode's result.
//
// A type's first slab is as long as the last decode made of that type
// (slabType.hint), later ones double, and none holds more than slabBytes:
// documents of one shape allocate one or a few slabs per type and waste
// nothing, and a huge one grows in chunks.

// slabBytes caps the size of one slab.
const slabBytes = 4 << 10

// slabIDs numbers the message types the decoder allocates in slabs; the
// number indexes decoder.slabs.
var slabIDs atomic.Int32

// slabType is what a message type needs to be allocated in slabs.
type slabType struct {
	id   int32
	size uintptr // of one message struct
	max  int     // elements in a full slab
	elem reflect.Type
	// hint is how many messages of this type the last decode that made any
	// made: the length of the next decode's first slab. Documents sent to
	// one server tend to have one shape (a facility's monthly reports), so
	// most decodes then allocate one slab per type and waste nothing.
	hint atomic.Int32
	// arrays caches [n]T by bits.Len(n) for the lengths n = 2^k < max,
	// and [max]T last, past them: reflect.ArrayOf looks its result up in a
	// global map.
	arrays []atomic.Pointer[reflect.Type]
	other  atomic.Pointer[sizedArray]
}

func (st *slabType) init(t reflect.Type) {
	st.id = slabIDs.Add(1) - 1
	st.size = t.Size()
	st.max = max(1, slabBytes/int(max(t.Size(), 1)))
	st.elem = t
	st.arrays = make([]atomic.Pointer[reflect.Type], bits.Len(uint(st.max))+2)
}

// array returns [n]T.
func (st *slabType) array(n int) reflect.Type {
	i := bits.Len(uint(n))
	switch {
	case n == st.max:
		i = len(st.arrays) - 1
	case n&(n-1) != 0:
		// A hinted length: the hint changes rarely, so one is cached.
		if a := st.other.Load(); a != nil && a.n == n {
			return a.t
		}
		t := reflect.ArrayOf(n, st.elem)
		st.other.Store(&sizedArray{n, t})
		return t
	}
	if t := st.arrays[i].Load(); t != nil {
		return *t
	}
	t := reflect.ArrayOf(n, st.elem)
	st.arrays[i].Store(&t)
	return t
}

type sizedArray struct {
	n int
	t reflect.Type
}

// msgSlab is the decoder's current slab of one message type.
type msgSlab struct {
	base unsafe.Pointer // the slab's first element
	used int            // elements handed out of it
	n    int            // its length
	made int            // messages of this type made in this decode
	typ  *slabType
}

// newMsg returns a new zero message of type cm, which must be a generated
// Go struct (cm.goType != nil).
func (d *decoder) newMsg(cm *msgInfo) unsafe.Pointer {
	st := &cm.slab
	if int(st.id) >= len(d.slabs) {
		d.slabs = append(d.slabs, make([]msgSlab, int(st.id)+1-len(d.slabs))...)
	}
	s := &d.slabs[st.id]
	if s.used == s.n {
		if s.made == 0 {
			d.touched = append(d.touched, st.id)
			s.typ = st
		}
		// What the hint leaves, else as many as made so far.
		n := int(st.hint.Load()) - s.made
		if n <= 0 {
			n = s.made
		}
		n = min(max(n, 1), st.max)
		// Only whole elements are addressed (base + i*size, i < n): a
		// pointer one past the slab's end could point into another object.
		s.base = reflect.New(st.array(n)).UnsafePointer()
		s.used, s.n = 0, n
	}
	p := unsafe.Add(s.base, uintptr(s.used)*st.size)
	s.used++
	s.made++
	return p
}

// dropSlabs forgets the current slabs, so that no later decode carves
// messages out of memory whose other elements belong to earlier results.
func (d *decoder) dropSlabs() {
	for _, id := range d.touched {
		s := &d.slabs[id]
		if st := s.typ; int(st.hint.Load()) != s.made {
			st.hint.Store(int32(min(s.made, 1<<20)))
		}
		*s = msgSlab{}
	}
	d.touched = d.touched[:0]
}

// element returns a new element for the list field fi of msg, either
// appended to it or, if collect, pushed on d.elems for setList.
func (d *decoder) element(msg unsafe.Pointer, mi *msgInfo, fi *fieldInfo, cm *msgInfo, collect bool) unsafe.Pointer {
	if !collect {
		return d.appendNew(msg, mi, fi)
	}
	c := d.newMsg(cm)
	d.elems = append(d.elems, c)
	return c
}

// listChunk is the length of the chunks lists are cut from; longer lists
// get their own allocation.
const listChunk = 128

// setList appends the elements d.elems[base:] to the list field fi (a
// fast field) of msg, and pops them.
func (d *decoder) setList(msg unsafe.Pointer, fi *fieldInfo, base int) {
	elems := d.elems[base:]
	n := len(elems)
	if n == 0 {
		return
	}
	// A []*T has the layout of a []unsafe.Pointer.
	slot := (*[]unsafe.Pointer)(unsafe.Add(msg, fi.fast.offset))
	var list []unsafe.Pointer
	switch {
	case len(*slot) > 0:
		list = append(*slot, elems...)
	case n > listChunk/4:
		list = slices.Clone(elems)
	default:
		if cap(d.lists)-len(d.lists) < n {
			d.lists = make([]unsafe.Pointer, 0, listChunk)
		}
		// Each list gets cap == len, so an append by the caller copies
		// instead of writing over the next list in the chunk.
		at := len(d.lists)
		if n == 1 {
			// Most lists (Coding lists) have one element: a plain store
			// is cheaper than a slice copy.
			d.lists = append(d.lists, elems[0])
		} else {
			d.lists = append(d.lists, elems...)
		}
		list = d.lists[at : at+n : at+n]
	}
	*slot = list
	d.elems = d.elems[:base]
}
