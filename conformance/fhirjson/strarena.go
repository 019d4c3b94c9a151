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
	if cap(a.chunk)-len(a.chunk) < len(b) {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	// The bytes of a.chunk[start:] are never written again: appends only
	// go past them, and a full chunk is replaced, not reused.
	return unsafe.String(&a.chunk[start], len(b))
}
