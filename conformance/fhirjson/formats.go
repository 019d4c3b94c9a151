package fhirjson

import "regexp"

// The value_regex annotations of Oid and Uuid, anchored as jsonformat
// anchors them. They are rare enough that the regexp engine is fine.
var (
	oidRegex  = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	uuidRegex = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// isSpace is RE2's \s: [\t\n\f\r ].
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// codeOK is Code's value_regex ^[^\s]+(\s[^\s]+)*$: not empty, no
// whitespace at either end, no two whitespace characters in a row. Codes
// are the most frequent primitive in a MeasureReport, so this is by hand.
func codeOK(s string) bool {
	if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		// Every \s character is at most ' '.
		if s[i] <= ' ' && isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// idOK is Id's value_regex ^[A-Za-z0-9\-\.]{1,64}$.
func idOK(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
