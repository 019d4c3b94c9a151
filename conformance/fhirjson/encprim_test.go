package fhirjson

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendStringMatchesEncodingJSON checks the 8-byte fast path and the
// escapes against encoding/json without HTML escaping, which jsonformat
// writes with.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	special := []byte{0, 0x1f, 0x20, '"', '\\', 'a', '~', 0x7f, 0x80, 0xe2, 0x80, 0xa8, 0xff, '<', '&'}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 5000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = 'a' + byte(r.IntN(26))
		}
		for range n % 3 {
			if len(b) > 0 {
				b[r.IntN(len(b))] = special[r.IntN(len(special))]
			}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(string(b)); err != nil {
			t.Fatal(err)
		}
		got := appendString(nil, string(b))
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
			t.Fatalf("appendString(%q) = %s, want %s", b, got, w)
		}
	}
}
