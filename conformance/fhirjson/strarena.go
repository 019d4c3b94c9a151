package fhirjson

import "unsafe"

// strArena makes the decoded string values. Strings are immutable, so
// many can share one backing array: copying each value into a chunk of
// 2 KiB takes one allocation per chunk instead of one per string (a
// MeasureReport holds some 260 string values). A chunk holds only string
// values, so it stays alive no longer, and weighs little more, than the
// strings it holds.
type strArena struct {
	chunk []byte
	// used is how much of chunk holds strings. It is kept apart from
	// chunk's length so that making a string writes no pointer to the
	// heap, which costs a write barrier while the GC runs.
	used int
}

const (
	arenaChunk = 2 << 10
	// arenaMax is the longest value put in a chunk; longer ones get their
	// own allocation, so a chunk is never mostly wasted.
	arenaMax = 256
)

// string returns b as a string.
func (a *strArena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaMax {
		return string(b)
	}
	if len(a.chunk)-a.used < len(b) {
		a.chunk, a.used = make([]byte, arenaChunk), 0
	}
	start := a.used
	a.used += copy(a.chunk[start:], b)
	// The bytes of a.chunk[start:a.used] are never written again: copies
	// only go past them, and a full chunk is replaced, not reused.
	return unsafe.String(&a.chunk[start], len(b))
}
