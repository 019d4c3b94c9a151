package fhirjson

import (
	"math/rand/v2"
	"testing"
)

// TestPlainPrefix checks the 8-byte-word scan against a byte loop, for
// every byte value at every position of a word and for random strings.
func TestPlainPrefix(t *testing.T) {
	slow := func(b []byte) int {
		for i, c := range b {
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return len(b)
	}
	check := func(b []byte) {
		t.Helper()
		if got, want := plainPrefix(b), slow(b); got != want {
			t.Fatalf("plainPrefix(%q) = %d, want %d", b, got, want)
		}
	}
	for n := 0; n <= 19; n++ {
		for at := 0; at < n; at++ {
			for c := range 256 {
				b := []byte("abcdefghijklmnopqrstuvwxyz"[:n])
				b[at] = byte(c)
				check(b)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("a~ \x1f\x00\"\\\x7f\x80\xff!")
	for range 100000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
			if r.IntN(3) > 0 {
				b[i] = 'a' + byte(r.IntN(26))
			}
		}
		check(b)
	}
}
