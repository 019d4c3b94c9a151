package fhirxml

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/fhir/go/jsonformat/fhirvalidate"
	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	oo "github.com/madx-project/madx/operationoutcome"
)

// Default limits of a zero Decoder.
const (
	// DefaultMaxDepth bounds element nesting. The deepest mADX path
	// (Bundle.entry.resource.MeasureReport.group.stratifier.stratum.
	// component.value.coding.system) is 11 deep; narratives and nested
	// extensions add a few more.
	DefaultMaxDepth = 100
	// DefaultMaxElements bounds the number of elements, XHTML included. The
	// largest mADX example Bundle has about 8,200.
	DefaultMaxElements = 1_000_000
	// maxIssues caps the issues collected before decoding gives up, so a
	// hostile body cannot make the answer grow with its size.
	maxIssues = 100
)

// Decoder decodes FHIR R4 XML resources. The zero value is ready to use and
// applies the defaults; set a field to change one limit.
type Decoder struct {
	// MaxDepth is the deepest element nesting accepted, the root being 1;
	// 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxElements is the most elements accepted in one body, XHTML
	// elements included; 0 means DefaultMaxElements.
	MaxElements int
	// TimeZone is recorded for dates and dateTimes written without one (a
	// day, month or year), as jsonformat.NewUnmarshaller's tz argument; nil
	// means UTC.
	TimeZone *time.Location
	// noScanner decodes with encoding/xml only; tests compare the two
	// paths with it.
	noScanner bool
}

// Unmarshal decodes one FHIR R4 resource in XML with a zero Decoder. See
// Decoder.Unmarshal.
func Unmarshal(data []byte) (proto.Message, error) {
	return Decoder{}.Unmarshal(data)
}

// Unmarshal decodes one FHIR R4 resource in XML into its proto: the concrete
// resource message, such as *measure_report_go_proto.MeasureReport or
// *bundle_and_contained_resource_go_proto.Bundle.
//
// Every error is an *operationoutcome.Error. Its status is 415 when the XML
// declaration names an encoding other than UTF-8 (or the body starts with a
// UTF-16 or UTF-32 byte order mark), and 400 for everything else: XML that is
// not well-formed, a DOCTYPE or entity declaration (security), limits
// exceeded (too-long, too-costly), elements that are unknown, out of order
// or repeated (structure), primitive values that do not parse (value,
// code-invalid) and the failures of google/fhir's fhirvalidate (required,
// value, invalid). Element-level problems are all collected, one issue each,
// with a FHIRPath expression; failures of the XML itself stop decoding.
// Comments and processing instructions are ignored.
func (dc Decoder) Unmarshal(data []byte) (proto.Message, error) {
	st := &decodeState{
		maxDepth:    orDefault(dc.MaxDepth, DefaultMaxDepth),
		maxElements: orDefault(dc.MaxElements, DefaultMaxElements),
		loc:         dc.TimeZone,
	}
	if st.loc == nil {
		st.loc = time.UTC
	}
	if err := st.start(data); err != nil {
		return nil, err
	}
	// The scanner decodes the common shape of FHIR XML without
	// encoding/xml's cost. Whatever it does not take on, and every body
	// with a problem, is decoded again from the start with encoding/xml,
	// so verdicts and diagnostics are those of the strict reader.
	var cr *bundlepb.ContainedResource
	var res protoreflect.Message
	err := errFallback
	suspect := true
	if !dc.noScanner {
		fast := *st
		fast.tz, fast.scanning = newScanner(fast.data), true
		cr, res, err = fast.decode()
		if err == nil && len(fast.issues) > 0 {
			err = errFallback
		}
		suspect = fast.suspect
	}
	if err != nil {
		suspect = true
		st.tz = newStdTokenizer(st)
		if cr, res, err = st.decode(); err != nil {
			return nil, err
		}
		if len(st.issues) > 0 {
			return nil, oo.New(http.StatusBadRequest, st.issues...)
		}
	}
	if !suspect {
		return res.Interface(), nil
	}
	// Only a cleanly parsed resource is validated, as in jsonformat:
	// after a parse problem, missing-element reports would be noise.
	rep := &validationReporter{}
	if err := fhirvalidate.ValidateWithErrorReporter(cr, rep); err != nil {
		return nil, oo.Wrap(http.StatusInternalServerError, fmt.Errorf("fhirxml: validate: %w", err))
	}
	if len(rep.issues) > 0 {
		return nil, oo.New(http.StatusBadRequest, rep.issues...)
	}
	return res.Interface(), nil
}

// decode reads the whole body through st.tz. Element-level problems are
// left in st.issues.
func (st *decodeState) decode() (*bundlepb.ContainedResource, protoreflect.Message, error) {
	cr := &bundlepb.ContainedResource{}
	root, err := st.prolog()
	if err != nil {
		return nil, nil, err
	}
	res, err := st.resource(root, cr.ProtoReflect(), "")
	if err != nil {
		return nil, nil, err
	}
	if err := st.epilog(); err != nil {
		return nil, nil, err
	}
	return cr, res, nil
}

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// decodeState is one decoding pass.
type decodeState struct {
	data        []byte
	tz          tokenizer
	loc         *time.Location
	maxDepth    int
	maxElements int
	depth       int
	elements    int
	// tokStart is the offset of the token last returned by next, used to
	// keep the narrative div as written.
	tokStart int
	// tok is the token last read, filled in place: a token is too large
	// to return by value on every read.
	tok    token
	issues []oo.Issue
	// suspect notes that the resource may fail fhirvalidate (see
	// validate_fast.go).
	suspect bool
	// scanning marks the pass with the scanner. Its diagnostics are never
	// shown (any problem sends the body to encoding/xml, which reports it),
	// so it builds no element paths: they were a tenth of its time.
	scanning bool
}

var (
	utf8BOM   = []byte{0xEF, 0xBB, 0xBF}
	otherBOMs = [][]byte{{0x00, 0x00, 0xFE, 0xFF}, {0xFF, 0xFE, 0x00, 0x00}, {0xFE, 0xFF}, {0xFF, 0xFE}}
)

func (st *decodeState) start(data []byte) error {
	for _, bom := range otherBOMs {
		if bytes.HasPrefix(data, bom) {
			return oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "",
				"The body starts with a UTF-16 or UTF-32 byte order mark; FHIR XML must be sent in UTF-8.")
		}
	}
	st.data = bytes.TrimPrefix(data, utf8BOM)
	return nil
}

// next returns the next start element, end element or text, enforcing the
// limits. The token is valid until the next call. path names where the reader is, for the expression of a fatal
// issue.
func (st *decodeState) next(path string) (*token, error) {
	tok := &st.tok
	at, err := st.tz.next(path, tok)
	st.tokStart = at
	if err != nil {
		return nil, err
	}
	switch tok.kind {
	case tokStart:
		st.depth++
		st.elements++
		if st.depth > st.maxDepth {
			return nil, st.fatal(http.StatusBadRequest, oo.TooCostly, path,
				"Elements are nested more than %d deep at <%s>; this server accepts at most %d levels.", st.maxDepth, tok.start.Name.Local, st.maxDepth)
		}
		if st.elements > st.maxElements {
			return nil, st.fatal(http.StatusBadRequest, oo.TooLong, path,
				"The body has more than %d elements; this server accepts at most %d per resource.", st.maxElements, st.maxElements)
		}
	case tokEnd:
		st.depth--
	case tokEOF:
		return nil, st.fatal(http.StatusBadRequest, oo.Structure, path, "The body ended before the XML was complete (an element is not closed).")
	}
	return tok, nil
}

// prolog reads up to the root element.
func (st *decodeState) prolog() (xml.StartElement, error) {
	if len(bytes.TrimSpace(st.data)) == 0 {
		return xml.StartElement{}, st.fatal(http.StatusBadRequest, oo.Structure, "", "The body is empty; expected a FHIR resource such as <MeasureReport xmlns=\"http://hl7.org/fhir\">.")
	}
	for {
		tok, err := st.next("")
		if err != nil {
			return xml.StartElement{}, err
		}
		switch tok.kind {
		case tokStart:
			return tok.start, nil
		case tokText:
			if !isSpace(tok.text) {
				return xml.StartElement{}, st.fatal(http.StatusBadRequest, oo.Structure, "", "Found text %q before the root element; expected a FHIR resource element.", excerpt(tok.text))
			}
		}
	}
}

// epilog reads what follows the root element: only whitespace, comments
// and processing instructions may.
func (st *decodeState) epilog() error {
	for {
		tok := &st.tok
		at, err := st.tz.next("", tok)
		st.tokStart = at
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokEOF:
			return nil
		case tokStart:
			return st.fatal(http.StatusBadRequest, oo.Structure, "", "Found a second root element <%s>; a body holds exactly one resource.", tok.start.Name.Local)
		case tokText:
			if !isSpace(tok.text) {
				return st.fatal(http.StatusBadRequest, oo.Structure, "", "Found text %q after the root element.", excerpt(tok.text))
			}
		}
	}
}

// report records a problem with one element and says whether decoding may
// go on; past maxIssues it returns the fatal error to stop with.
func (st *decodeState) report(code oo.IssueType, expr, format string, args ...any) error {
	st.issues = append(st.issues, oo.Issuef(oo.SeverityFatal, code, expr, format, args...))
	if len(st.issues) >= maxIssues {
		return st.fatal(http.StatusBadRequest, oo.TooCostly, "", "Stopped after %d problems; fix these and send the resource again.", maxIssues)
	}
	return nil
}

// fatal ends decoding with the issues found so far plus this one.
func (st *decodeState) fatal(status int, code oo.IssueType, expr, format string, args ...any) error {
	issues := append(st.issues, oo.Issuef(oo.SeverityFatal, code, expr, format, args...))
	return oo.New(status, issues...)
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// excerpt quotes at most 40 bytes of user text for a diagnostic.
func excerpt(b []byte) string {
	return truncate(strings.TrimSpace(string(b)), 40)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
