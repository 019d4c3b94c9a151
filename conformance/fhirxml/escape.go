package fhirxml

import (
	"bytes"
	"unicode/utf8"
)

// escapeAttr writes s as the text of a double-quoted attribute. Tab, line
// feed and carriage return become character references, because a parser
// normalises them to spaces in attribute values (XML 1.0 §3.3.3) and FHIR
// strings must keep them. Characters XML 1.0 cannot carry become U+FFFD.
func escapeAttr(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch r {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if (r == utf8.RuneError && width == 1) || !isXMLChar(r) {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			b.WriteString(s[last:i])
			b.WriteString(esc)
			last = i + width
		}
		i += width
	}
	b.WriteString(s[last:])
}

// isXMLChar is the Char production of XML 1.0 §2.2.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}
