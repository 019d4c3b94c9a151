package fhirxml

import (
	"bytes"
	"encoding/xml"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// scanner is a tokenizer for the XML that FHIR resources are written in:
// the XML declaration, elements with unprefixed names in a default
// namespace, unprefixed attributes, text, comments, and the five
// predefined and numeric character references. It reads the body in
// place and allocates only attribute values.
//
// It gives up (errFallback) on everything else, well-formed or not:
// DOCTYPE and other declarations, CDATA, processing instructions, prefixes,
// carriage returns in attribute values, non-ASCII names, any
// character encoding/xml would refuse. encoding/xml then reads the body again
// and decides, so the scanner never needs to produce a diagnostic and
// never accepts what encoding/xml rejects.
type scanner struct {
	data []byte
	pos  int
	// open holds the start tags not yet closed, with the default
	// namespace in force inside each.
	open []openTag
	// selfClosed means the last start tag ended with "/>": its end
	// token comes next, as encoding/xml reports it.
	selfClosed bool
	attrs      []xml.Attr
	buf        []byte
}

type openTag struct {
	name []byte
	ns   string
}

func newScanner(data []byte) *scanner {
	return &scanner{data: data, open: make([]openTag, 0, 16)}
}

func (s *scanner) offset() int { return s.pos }

func (s *scanner) next(_ string, tok *token) (int, error) {
	if s.selfClosed {
		s.selfClosed = false
		s.open = s.open[:len(s.open)-1]
		tok.kind = tokEnd
		return s.pos, nil
	}
	for {
		at := s.pos
		if at >= len(s.data) {
			if len(s.open) > 0 {
				return at, errFallback
			}
			tok.kind = tokEOF
			return at, nil
		}
		if s.data[at] != '<' {
			end := bytes.IndexByte(s.data[at:], '<')
			if end < 0 {
				end = len(s.data)
			} else {
				end += at
			}
			text := s.data[at:end]
			if !s.checkText(text) {
				return at, errFallback
			}
			s.pos = end
			tok.kind, tok.text = tokText, text
			return at, nil
		}
		if at+1 >= len(s.data) {
			return at, errFallback
		}
		ok := false
		switch s.data[at+1] {
		case '/':
			if ok = s.endTag(at + 2); ok {
				tok.kind = tokEnd
				return at, nil
			}
		case '!':
			ok = s.comment(at)
		case '?':
			ok = at == 0 && s.declaration()
		default:
			if ok = s.startTag(at+1, &tok.start); ok {
				tok.kind = tokStart
				return at, nil
			}
		}
		if !ok {
			return at, errFallback
		}
	}
}

// startTag reads a start tag from after its "<" into start.
func (s *scanner) startTag(i int, start *xml.StartElement) bool {
	name, i := s.name(i)
	if name == nil || string(name) == "xmlns" {
		return false
	}
	ns := ""
	if n := len(s.open); n > 0 {
		ns = s.open[n-1].ns
	}
	attrs := s.attrs[:0]
	for {
		j := skipSpace(s.data, i)
		if j >= len(s.data) {
			return false
		}
		switch c := s.data[j]; {
		case c == '>':
			s.pos = j + 1
		case c == '/' && j+1 < len(s.data) && s.data[j+1] == '>':
			s.pos, s.selfClosed = j+2, true
		case j == i:
			// XML needs space before an attribute.
			return false
		default:
			var aname []byte
			var value string
			var ok bool
			if aname, j = s.name(j); aname == nil {
				return false
			}
			if j = skipSpace(s.data, j); j >= len(s.data) || s.data[j] != '=' {
				return false
			}
			if value, j, ok = s.attrValue(skipSpace(s.data, j+1)); !ok {
				return false
			}
			local := s.intern(aname)
			for _, a := range attrs {
				if a.Name.Local == local {
					return false
				}
			}
			if local == "xmlns" {
				if value == "" {
					return false
				}
				ns = value
			}
			attrs = append(attrs, xml.Attr{Name: xml.Name{Local: local}, Value: value})
			i = j
			continue
		}
		break
	}
	s.attrs = attrs
	s.open = append(s.open, openTag{name: name, ns: ns})
	start.Name.Space, start.Name.Local, start.Attr = ns, s.intern(name), attrs
	return true
}

// endTag reads an end tag from after its "</"; it must close the
// innermost open element.
func (s *scanner) endTag(i int) bool {
	name, i := s.name(i)
	n := len(s.open)
	if name == nil || n == 0 || !bytes.Equal(name, s.open[n-1].name) {
		return false
	}
	if i = skipSpace(s.data, i); i >= len(s.data) || s.data[i] != '>' {
		return false
	}
	s.open = s.open[:n-1]
	s.pos = i + 1
	return true
}

// name reads an ASCII name without a prefix; nil if there is none there
// or it ends in a byte that no tag allows after a name.
func (s *scanner) name(i int) ([]byte, int) {
	start := i
	for i < len(s.data) && isNameByte(s.data[i]) {
		i++
	}
	if i == start || i >= len(s.data) || !isNameStart(s.data[start]) {
		return nil, i
	}
	switch s.data[i] {
	case ' ', '\t', '\n', '\r', '>', '/', '=':
		return s.data[start:i], i
	}
	return nil, i
}

func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isNameByte(c byte) bool {
	return isNameStart(c) || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// intern returns name as a string without copying it: names are only
// looked up and formatted into diagnostics, never kept past Unmarshal,
// and the body does not change while it is decoded.
func (s *scanner) intern(name []byte) string {
	return unsafe.String(unsafe.SliceData(name), len(name))
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// attrValue reads a quoted attribute value at i, resolving references.
// A carriage return, which encoding/xml would turn into a line feed, or
// a "<" gives up.
func (s *scanner) attrValue(i int) (string, int, bool) {
	if i >= len(s.data) || (s.data[i] != '"' && s.data[i] != '\'') {
		return "", i, false
	}
	q := s.data[i]
	end := bytes.IndexByte(s.data[i+1:], q)
	if end < 0 {
		return "", i, false
	}
	raw := s.data[i+1 : i+1+end]
	next := i + 2 + end
	escaped := false
	for j := 0; j < len(raw); {
		c := raw[j]
		switch {
		case c == '&':
			escaped = true
			_, n := charRef(raw[j:])
			if n == 0 {
				return "", i, false
			}
			j += n
		case c == '<' || c == '\r':
			return "", i, false
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' {
				return "", i, false
			}
			j++
		default:
			n := validRune(raw[j:])
			if n == 0 {
				return "", i, false
			}
			j += n
		}
	}
	if !escaped {
		switch string(raw) {
		case FHIRNamespace:
			return FHIRNamespace, next, true
		case XHTMLNamespace:
			return XHTMLNamespace, next, true
		}
		// Borrowed: parsePrimitive copies what it stores (most values are
		// parsed, not stored), and nothing else keeps attribute values.
		return unsafe.String(unsafe.SliceData(raw), len(raw)), next, true
	}
	buf := s.buf[:0]
	for j := 0; j < len(raw); {
		if raw[j] != '&' {
			buf = append(buf, raw[j])
			j++
			continue
		}
		r, n := charRef(raw[j:])
		buf = utf8.AppendRune(buf, r)
		j += n
	}
	s.buf = buf
	return string(buf), next, true
}

// checkText checks text between tags as encoding/xml would; references
// must resolve and "]]>" may not appear.
func (s *scanner) checkText(text []byte) bool {
	for j := 0; j < len(text); {
		c := text[j]
		switch {
		case c == '&':
			_, n := charRef(text[j:])
			if n == 0 {
				return false
			}
			j += n
		case c == ']' && j+2 < len(text) && text[j+1] == ']' && text[j+2] == '>':
			return false
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			j++
		default:
			n := validRune(text[j:])
			if n == 0 {
				return false
			}
			j += n
		}
	}
	return true
}

// validRune returns the length of the valid XML character that b starts
// with, 0 if it is invalid UTF-8 or outside XML's Char production.
func validRune(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 || !inCharRange(r) {
		return 0
	}
	return n
}

// inCharRange is XML 1.0's Char production, as encoding/xml applies it.
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// charRef resolves the reference b starts with ("&amp;", "&#38;",
// "&#x26;") and returns its character and length, length 0 when it is
// anything else or names a character XML does not allow.
func charRef(b []byte) (rune, int) {
	end := bytes.IndexByte(b, ';')
	if end < 2 || end > 12 {
		return 0, 0
	}
	ref := b[1:end]
	switch string(ref) {
	case "amp":
		return '&', end + 1
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "quot":
		return '"', end + 1
	case "apos":
		return '\'', end + 1
	}
	if ref[0] != '#' || len(ref) < 2 {
		return 0, 0
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 6 {
		return 0, 0
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, 0
		}
		r = r*base + d
	}
	if !inCharRange(r) {
		return 0, 0
	}
	return r, end + 1
}

// comment skips "<!--...-->" at i. encoding/xml ends a comment at the
// first "--", which must be followed by ">". Any other "<!" (DOCTYPE,
// ENTITY, CDATA) is left to encoding/xml, which refuses declarations.
func (s *scanner) comment(i int) bool {
	if !bytes.HasPrefix(s.data[i:], []byte("<!--")) {
		return false
	}
	end := bytes.Index(s.data[i+4:], []byte("--"))
	if end < 0 {
		return false
	}
	end += i + 4
	if end+2 >= len(s.data) || s.data[end+2] != '>' {
		return false
	}
	s.pos = end + 3
	return true
}

// declaration skips an XML declaration at the start of the body that
// says version 1.0 and, if anything, UTF-8.
func (s *scanner) declaration() bool {
	if !bytes.HasPrefix(s.data, []byte("<?xml ")) {
		return false
	}
	end := bytes.Index(s.data, []byte("?>"))
	if end < 0 {
		return false
	}
	seen := map[string]bool{}
	for i := 5; ; {
		j := skipSpace(s.data, i)
		if j == end {
			break
		}
		if j == i {
			return false
		}
		name, k := s.name(j)
		if name == nil || seen[string(name)] {
			return false
		}
		seen[string(name)] = true
		if k >= end || s.data[k] != '=' {
			return false
		}
		q := k + 1
		if q >= end || (s.data[q] != '"' && s.data[q] != '\'') {
			return false
		}
		close := bytes.IndexByte(s.data[q+1:end], s.data[q])
		if close < 0 {
			return false
		}
		value := string(s.data[q+1 : q+1+close])
		switch string(name) {
		case "version":
			if value != "1.0" {
				return false
			}
		case "encoding":
			if !strings.EqualFold(value, "utf-8") {
				return false
			}
		case "standalone":
			if value != "yes" && value != "no" {
				return false
			}
		default:
			return false
		}
		i = q + 2 + close
	}
	s.pos = end + 2
	return true
}
