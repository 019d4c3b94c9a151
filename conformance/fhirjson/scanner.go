package fhirjson

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a strict RFC 8259 tokenizer over one in-memory document. It
// never allocates except when a string holds escapes, and it never panics:
// every read is bounds-checked and a syntax error only sets err.
//
// It is stricter than jsoniter, which google/fhir's jsonformat uses: raw
// control characters inside strings and invalid UTF-8 are errors here
// (RFC 8259 §7 and §8.1), so no input that is not JSON reaches a proto.
type scanner struct {
	data []byte
	pos  int
	// err is the first syntax error; once set every read fails.
	err *syntaxError
	// buf holds the unescaped text of the last string with escapes.
	buf []byte
}

// syntaxError says where the document stops being JSON. strict marks
// errors jsoniter does not make (invalid UTF-8, raw control characters,
// nesting depth), for the differential tests.
type syntaxError struct {
	offset int
	msg    string
	strict bool
}

func (s *scanner) fail(msg string) {
	if s.err == nil {
		s.err = &syntaxError{offset: s.pos, msg: msg}
	}
}

func (s *scanner) failStrict(msg string) {
	if s.err == nil {
		s.err = &syntaxError{offset: s.pos, msg: msg, strict: true}
	}
}

func (s *scanner) skipSpace() {
	data, i := s.data, s.pos
	for i < len(data) {
		if c := data[i]; c > ' ' || c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			break
		}
		i++
		// Runs of spaces, which pretty-printed documents are up to half
		// (indentation after a newline, one after a ':'), go 8 bytes at a
		// time.
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:]) ^ spaces8
			if x != 0 {
				i += bits.TrailingZeros64(x) / 8
				break
			}
			i += 8
		}
	}
	s.pos = i
}

const (
	spaces8 = 0x2020202020202020
	ones8   = 0x0101010101010101
	highs8  = 0x8080808080808080
)

// plainPrefix returns the length of the longest prefix of b without '"',
// '\\', control characters or non-ASCII bytes, looking at 8 bytes at a
// time: the strings of a FHIR document are mostly such plain text.
func plainPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := specialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return i
}

// specialBytes sets the high bit of each byte of w that is below 0x20, is
// '"' or '\\' (zero after the xor), or is 0x80 or above. Borrows only run
// upward, so the lowest set bit marks the first such byte exactly.
func specialBytes(w uint64) uint64 {
	q, bs := w^(ones8*'"'), w^(ones8*'\\')
	return ((w-spaces8)&^w | (q-ones8)&^q | (bs-ones8)&^bs | w) & highs8
}

// peek returns the next significant byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// expect consumes c or records a syntax error.
func (s *scanner) expect(c byte, what string) bool {
	if s.err != nil {
		return false
	}
	if s.peek() != c {
		s.fail("expected " + what + ", found " + s.describeNext())
		return false
	}
	s.pos++
	return true
}

// describeNext names the next token for a diagnostic.
func (s *scanner) describeNext() string {
	if s.pos >= len(s.data) {
		return "end of input"
	}
	c := s.data[s.pos]
	switch {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c >= 0x20 && c < 0x7f:
		return "'" + string(c) + "'"
	default:
		return "byte 0x" + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
	}
}

// objectNext is called after '{' or after a member value: it reports
// whether another member follows, consuming the ',' (or the closing '}').
// first must be true right after '{'.
func (s *scanner) objectNext(first bool) bool {
	if s.err != nil {
		return false
	}
	c := s.peek()
	if c == '}' {
		s.pos++
		return false
	}
	if c == 0 {
		s.fail("unexpected end of input: the document is truncated")
		return false
	}
	if !first {
		if c != ',' {
			s.fail("expected ',' or '}' after an object member, found " + s.describeNext())
			return false
		}
		s.pos++
		c = s.peek()
	}
	if c != '"' {
		s.fail("expected a member name string, found " + s.describeNext())
		return false
	}
	return true
}

// arrayNext is objectNext for arrays.
func (s *scanner) arrayNext(first bool) bool {
	if s.err != nil {
		return false
	}
	c := s.peek()
	if c == ']' {
		s.pos++
		return false
	}
	if !first {
		if c != ',' {
			s.fail("expected ',' or ']' after an array element, found " + s.describeNext())
			return false
		}
		s.pos++
		if s.peek() == ']' {
			s.fail("expected an array element after ',', found ']'")
			return false
		}
	}
	return true
}

// readKey reads a member name and the ':' after it, at the '"' that
// objectNext found. The returned slice is only valid until the next string
// read.
func (s *scanner) readKey() []byte {
	k, _, _ := s.stringAt()
	if s.err != nil {
		return nil
	}
	if s.pos < len(s.data) && s.data[s.pos] == ':' {
		s.pos++
		return k
	}
	if !s.expect(':', "':' after a member name") {
		return nil
	}
	return k
}

// readString reads a string token. It returns the unescaped bytes (only
// valid until the next read), the raw bytes between the quotes, and whether
// the string held escapes. Lone surrogates decode to U+FFFD, as jsoniter
// decodes them.
func (s *scanner) readString() (text, raw []byte, escaped bool) {
	if s.err != nil || s.peek() != '"' {
		s.expect('"', "a string")
		return nil, nil, false
	}
	return s.stringAt()
}

// stringAt is readString at a '"' the caller has seen (by peek).
func (s *scanner) stringAt() (text, raw []byte, escaped bool) {
	if s.err != nil {
		return nil, nil, false
	}
	s.pos++
	start := s.pos
	data := s.data
	// Fast path: printable ASCII without escapes. Most keys and many
	// values end within the first word, which is looked at in line.
	var i int
	if start+8 <= len(data) {
		if m := specialBytes(binary.LittleEndian.Uint64(data[start:])); m != 0 {
			i = start + bits.TrailingZeros64(m)/8
		} else {
			i = start + 8 + plainPrefix(data[start+8:])
		}
	} else {
		i = start + plainPrefix(data[start:])
	}
	if i < len(data) && data[i] == '"' {
		s.pos = i + 1
		return data[start:i], data[start:i], false
	}
	s.buf = append(s.buf[:0], data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return s.buf, data[start:i], escaped
		case c == '\\':
			escaped = true
			s.pos = i
			n := s.unescape(data[i:])
			if n == 0 {
				return nil, nil, false
			}
			i += n
		case c < 0x20:
			s.pos = i
			s.failStrict("control character in a string must be escaped")
			return nil, nil, false
		case c < 0x80:
			s.buf = append(s.buf, c)
			i++
		default:
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				s.pos = i
				s.failStrict("invalid UTF-8 in a string")
				return nil, nil, false
			}
			s.buf = append(s.buf, data[i:i+n]...)
			i += n
		}
	}
	s.pos = len(data)
	s.fail("unterminated string")
	return nil, nil, false
}

// unescape decodes one escape sequence at the start of in (which begins
// with a backslash) into s.buf and returns the bytes consumed, or 0 after
// recording a syntax error.
func (s *scanner) unescape(in []byte) int {
	if len(in) < 2 {
		s.fail("unterminated escape sequence")
		return 0
	}
	switch in[1] {
	case '"', '\\', '/':
		s.buf = append(s.buf, in[1])
	case 'b':
		s.buf = append(s.buf, '\b')
	case 'f':
		s.buf = append(s.buf, '\f')
	case 'n':
		s.buf = append(s.buf, '\n')
	case 'r':
		s.buf = append(s.buf, '\r')
	case 't':
		s.buf = append(s.buf, '\t')
	case 'u':
		r, ok := hex4(in[2:])
		if !ok {
			s.fail(`invalid \u escape`)
			return 0
		}
		if !utf16.IsSurrogate(r) {
			s.buf = utf8.AppendRune(s.buf, r)
			return 6
		}
		// A surrogate pairs only with a directly following \u escape;
		// jsoniter writes U+FFFD for each half of a bad pair, and so do we.
		if len(in) >= 12 && in[6] == '\\' && in[7] == 'u' {
			r2, ok := hex4(in[8:])
			if !ok {
				s.fail(`invalid \u escape`)
				return 0
			}
			if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
				s.buf = utf8.AppendRune(s.buf, c)
			} else {
				s.buf = utf8.AppendRune(s.buf, utf8.RuneError)
				s.buf = utf8.AppendRune(s.buf, fixSurrogate(r2))
			}
			return 12
		}
		s.buf = utf8.AppendRune(s.buf, utf8.RuneError)
		return 6
	default:
		s.fail("invalid escape sequence")
		return 0
	}
	return 2
}

func fixSurrogate(r rune) rune {
	if utf16.IsSurrogate(r) {
		return utf8.RuneError
	}
	return r
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// readNumber reads a number token strictly by the RFC 8259 grammar and
// returns its text.
func (s *scanner) readNumber() []byte {
	s.skipSpace()
	data, start, i := s.data, s.pos, s.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		s.fail("invalid number")
		return nil
	}
	if i < len(data) && data[i] == '.' {
		i++
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = i
			s.fail("invalid number: no digits after '.'")
			return nil
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = i
			s.fail("invalid number: no digits in the exponent")
			return nil
		}
	}
	s.pos = i
	return data[start:i]
}

// readLiteral consumes true, false or null and returns it.
func (s *scanner) readLiteral() string {
	s.skipSpace()
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
			s.pos += len(lit)
			return lit
		}
	}
	s.fail("invalid literal")
	return ""
}

// skipValue consumes one value of any type, checking its syntax. depth is
// the nesting depth of the value's container; deeper than maxDepth is an
// error so that hostile input cannot exhaust the stack.
func (s *scanner) skipValue(depth int) {
	if s.err != nil {
		return
	}
	switch s.peek() {
	case '{':
		if depth >= maxDepth {
			s.failDepth()
			return
		}
		s.pos++
		for first := true; s.objectNext(first); first = false {
			s.readKey()
			s.skipValue(depth + 1)
		}
	case '[':
		if depth >= maxDepth {
			s.failDepth()
			return
		}
		s.pos++
		for first := true; s.arrayNext(first); first = false {
			s.skipValue(depth + 1)
		}
	case '"':
		s.readString()
	case 't', 'f', 'n':
		s.readLiteral()
	case 0:
		s.fail("unexpected end of input: the document is truncated")
	default:
		s.readNumber()
	}
}

// failDepth records a too deeply nested document, which the decoder
// reports as too-long rather than as a structure problem.
func (s *scanner) failDepth() {
	if s.err == nil {
		s.err = &syntaxError{offset: s.pos, msg: errDepth, strict: true}
	}
}

const errDepth = "JSON nested deeper than 100 levels"
