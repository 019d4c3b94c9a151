package fhirjson

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

func hashKey(b []byte) uint32 {
	h := uint32(len(b))
	for _, c := range b {
		h = h*31 + uint32(c)
	}
	return h ^ h>>7
}

func hashKeyString(s string) uint32 {
	h := uint32(len(s))
	for i := 0; i < len(s); i++ {
		h = h*31 + uint32(s[i])
	}
	return h ^ h>>7
}

func newKeyTable(keys map[string]*keyInfo) keyTable {
	n := uint32(4)
	for n < uint32(2*len(keys)) {
		n *= 2
	}
	t := keyTable{mask: n - 1, slots: make([]keySlot, n)}
	for name, k := range keys {
		i := hashKeyString(name) & t.mask
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
