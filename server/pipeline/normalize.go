package pipeline

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// NormalizeString is FHIR string search normalisation (search.html#string:
// "case and accent-insensitive"): decompose (NFD), drop combining marks,
// fold case, collapse runs of white space. "Santé  Mères" and "sante meres"
// index and search alike. Letters without a decomposition (ø, ł, ß) are only
// case-folded.
func NormalizeString(s string) string {
	folded, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		folded = s
	}
	return strings.Join(strings.Fields(strings.ToLower(folded)), " ")
}
