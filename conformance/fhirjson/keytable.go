package fhirjson

import "encoding/binary"

// keyTable finds a member's keyInfo by the raw bytes of its name. It
// replaces a map[string]*keyInfo: a map lookup hashes with the runtime's
// string hash and probes through the generic swiss table, which was a
// tenth of the decode time; member names are short ASCII identifiers, for
// which a multiplicative hash and open addressing in a table at most half
// full need one probe and one comparison.
type keyTable struct {
	mask  uint32
	slots []keySlot
}

type keySlot struct {
	name string
	k    *keyInfo
}

// hashKey hashes a member name from its length and its first and last
// four bytes: two loads and a multiply, where a loop over the bytes was a
// chain of dependent multiplies. Names that agree on all three only cost
// an extra probe.
func hashKey(b []byte) uint32 {
	n := len(b)
	var x uint64
	switch {
	case n >= 4:
		x = uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32
	case n > 0:
		x = uint64(b[0]) | uint64(b[n/2])<<8 | uint64(b[n-1])<<16
	}
	return uint32((x ^ uint64(n)<<24) * 0x9e3779b97f4a7c15 >> 32)
}

func newKeyTable(keys map[string]*keyInfo) keyTable {
	n := uint32(4)
	for n < uint32(2*len(keys)) {
		n *= 2
	}
	t := keyTable{mask: n - 1, slots: make([]keySlot, n)}
	for name, k := range keys {
		i := hashKey([]byte(name)) & t.mask
		for t.slots[i].k != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = keySlot{name: name, k: k}
	}
	return t
}

// find returns the keyInfo of name, or nil.
func (t *keyTable) find(name []byte) *keyInfo {
	if len(t.slots) == 0 {
		return nil
	}
	i := hashKey(name) & t.mask
	for {
		s := &t.slots[i]
		if s.k == nil {
			return nil
		}
		if s.name == string(name) {
			return s.k
		}
		i = (i + 1) & t.mask
	}
}
