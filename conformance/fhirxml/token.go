package fhirxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	oo "github.com/madx-project/madx/operationoutcome"
)

// tokenKind is what a token is. Comments and processing instructions are
// never returned: FHIR XML carries no content in them.
type tokenKind uint8

const (
	tokStart tokenKind = iota + 1
	tokEnd
	tokText
	// tokEOF is the end of the body; only a tokenizer's caller decides
	// whether that is too early.
	tokEOF
)

// token is one start tag, end tag or run of text. start.Attr and text may
// point into buffers the tokenizer reuses: the element layer reads a start
// tag's attributes before asking for the next token.
type token struct {
	kind  tokenKind
	start xml.StartElement
	text  []byte
}

// tokenizer is the XML reader under decodeState: the strict encoding/xml
// reader (stdTokenizer) or the allocation-light scanner (scanner) that
// handles the common shape of FHIR XML and gives up on everything else.
type tokenizer interface {
	// next reads the next token into tok and returns the offset in data
	// where it starts. A failure is the fatal error to stop decoding
	// with, or errFallback from the scanner.
	next(path string, tok *token) (int, error)
	// offset is where the last token returned ends.
	offset() int
}

// errFallback is the scanner giving up: the body uses XML the scanner does
// not handle (or is not well-formed), and the encoding/xml path decides.
var errFallback = errors.New("fhirxml: scanner fallback")

// stdTokenizer reads with encoding/xml in strict mode. Its verdicts and
// diagnostics are the reference the scanner must agree with.
type stdTokenizer struct {
	st *decodeState
	xd *xml.Decoder
	// charset is the encoding an XML declaration named, if not UTF-8.
	charset string
}

var errCharset = errors.New("fhirxml: only UTF-8 is accepted")

func newStdTokenizer(st *decodeState) *stdTokenizer {
	t := &stdTokenizer{st: st, xd: xml.NewDecoder(bytes.NewReader(st.data))}
	t.xd.Strict = true
	// encoding/xml asks for a charset reader only when the XML
	// declaration names an encoding other than UTF-8; refusing it is how
	// a non-UTF-8 body is told apart from malformed XML.
	t.xd.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf8") {
			return input, nil
		}
		t.charset = label
		return nil, errCharset
	}
	return t
}

func (t *stdTokenizer) offset() int { return int(t.xd.InputOffset()) }

func (t *stdTokenizer) next(path string, tok *token) (int, error) {
	for {
		at := int(t.xd.InputOffset())
		x, err := t.xd.Token()
		if errors.Is(err, io.EOF) && t.charset == "" {
			*tok = token{kind: tokEOF}
			return at, nil
		}
		if err != nil {
			return at, t.readError(err, path)
		}
		switch x := x.(type) {
		case xml.StartElement:
			*tok = token{kind: tokStart, start: x}
			return at, nil
		case xml.EndElement:
			*tok = token{kind: tokEnd}
			return at, nil
		case xml.CharData:
			*tok = token{kind: tokText, text: x}
			return at, nil
		case xml.Directive:
			return at, t.directive(x, path)
		case xml.Comment, xml.ProcInst:
			// Comments carry no FHIR content; processing instructions
			// (other than the declaration, checked by encoding/xml) are
			// ignored, never acted on.
		}
	}
}

// directive refuses <!DOCTYPE>, <!ENTITY> and every other declaration:
// they are how entity expansion ("billion laughs") and external entities
// (XXE) attacks start, and FHIR XML never needs them.
func (t *stdTokenizer) directive(d xml.Directive, path string) error {
	word, _, _ := strings.Cut(strings.TrimSpace(string(d)), " ")
	if len(word) > 20 {
		word = word[:20]
	}
	return t.st.fatal(http.StatusBadRequest, oo.Security, path,
		"Found the markup declaration <!%s ...>; FHIR XML must not contain a DOCTYPE, entity or other declaration, and this server never processes them.", word)
}

func (t *stdTokenizer) readError(err error, path string) error {
	st := t.st
	if t.charset != "" {
		return st.fatal(http.StatusUnsupportedMediaType, oo.NotSupported, "",
			"The XML declaration names the encoding %q; FHIR XML must be UTF-8.", truncate(t.charset, 40))
	}
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return st.fatal(http.StatusBadRequest, oo.Structure, path, "The body ended before the XML was complete (an element is not closed).")
	case errors.As(err, &se):
		return st.fatal(http.StatusBadRequest, oo.Structure, path, "The body is not well-formed XML: line %d: %s.", se.Line, se.Msg)
	}
	return st.fatal(http.StatusBadRequest, oo.Structure, path, "The body is not well-formed XML: %s.", truncate(err.Error(), 200))
}
