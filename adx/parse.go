package adx

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits bound what Parse reads; the zero value of a field takes the
// default of DefaultLimits.
type Limits struct {
	MaxBytes      int // the whole message
	MaxDepth      int // element nesting
	MaxAttributes int // per element
	MaxGroups     int
	MaxDataValues int // in the whole message
	MaxAttrBytes  int // one attribute value
}

// DefaultLimits are generous for real feeds (a district's monthly message
// has hundreds of groups of tens of values) and small enough that a
// hostile message costs little.
var DefaultLimits = Limits{
	MaxBytes:      32 << 20,
	MaxDepth:      8,
	MaxAttributes: 64,
	MaxGroups:     10000,
	MaxDataValues: 1000000,
	MaxAttrBytes:  1024,
}

func (l Limits) orDefault() Limits {
	d := DefaultLimits
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxAttributes > 0 {
		d.MaxAttributes = l.MaxAttributes
	}
	if l.MaxGroups > 0 {
		d.MaxGroups = l.MaxGroups
	}
	if l.MaxDataValues > 0 {
		d.MaxDataValues = l.MaxDataValues
	}
	if l.MaxAttrBytes > 0 {
		d.MaxAttrBytes = l.MaxAttrBytes
	}
	return d
}

// Message is a parsed ADX document.
type Message struct {
	Exported string // adx/@exported
	Groups   []Group
}

// Attr is an attribute as sent (no namespace: ADX attributes have none).
type Attr struct{ Name, Value string }

// Group is one ADX group: one report. Attrs holds its attributes other
// than orgUnit, period, dataSet and completeDate, in document order.
type Group struct {
	OrgUnit, Period, DataSet, CompleteDate string
	Attrs                                  []Attr
	Values                                 []DataValue
}

// DataValue is one dataValue. Disaggs holds its attributes other than
// dataElement and value, in document order.
type DataValue struct {
	DataElement, Value string
	Disaggs            []Attr
}

// SyntaxError is a message Parse refuses whole: malformed XML, a DTD, a
// limit passed, or a structure that is not ADX. Where is an XPath-like
// location ("/adx/group[2]/dataValue[5]/@value"), or "" for the document.
type SyntaxError struct {
	Where string
	Line  int
	Msg   string
}

func (e *SyntaxError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("adx: line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("adx: line %d, %s: %s", e.Line, e.Where, e.Msg)
}

// Parse reads an ADX message. It refuses, with a *SyntaxError, anything
// that is not UTF-8, declares a DTD or uses an entity other than XML's
// five, passes a limit, is not in the ADX namespace, or misses an
// attribute the ADX schema requires (adx/@exported is not required: DHIS2
// does not require it either). Values are checked by Map, not here.
func Parse(data []byte, lim Limits) (*Message, error) {
	lim = lim.orDefault()
	if len(data) > lim.MaxBytes {
		return nil, &SyntaxError{Msg: fmt.Sprintf("the message has %d bytes; at most %d are accepted", len(data), lim.MaxBytes)}
	}
	if !utf8.Valid(data) {
		return nil, &SyntaxError{Msg: "the message is not valid UTF-8; ADX is read as UTF-8 only"}
	}
	p := &parser{lim: lim, dec: xml.NewDecoder(bytes.NewReader(data))}
	p.dec.Strict = true
	p.dec.Entity = nil // only amp, lt, gt, apos, quot
	p.dec.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q is not accepted; send UTF-8", label)
	}
	m, err := p.document()
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, &SyntaxError{Line: p.line(), Msg: xmlText(err)}
	}
	return m, nil
}

type parser struct {
	lim    Limits
	dec    *xml.Decoder
	values int
}

func (p *parser) line() int { l, _ := p.dec.InputPos(); return l }

func (p *parser) fail(where, format string, args ...any) error {
	return &SyntaxError{Where: where, Line: p.line(), Msg: fmt.Sprintf(format, args...)}
}

// xmlText is encoding/xml's error without its package prefix.
func xmlText(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return "malformed XML: " + se.Msg
	}
	return "malformed XML: " + strings.TrimPrefix(err.Error(), "xml: ")
}

// next returns the next token that matters: elements and non-blank text.
// Directives (DTDs), processing instructions other than the declaration,
// and comments are refused or skipped.
func (p *parser) next() (xml.Token, error) {
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, p.fail("", "a DTD or other <!...> declaration is not accepted in ADX")
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, p.fail("", "processing instruction <?%s?> is not accepted in ADX", t.Target)
			}
		case xml.Comment:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return t, nil
			}
		default:
			return tok, nil
		}
	}
}

func (p *parser) document() (*Message, error) {
	tok, err := p.next()
	if err == io.EOF {
		return nil, p.fail("", "the message is empty; expected an <adx> element in namespace %s", Namespace)
	}
	if err != nil {
		return nil, err
	}
	root, ok := tok.(xml.StartElement)
	if !ok || root.Name.Local != "adx" || root.Name.Space != Namespace {
		return nil, p.fail("/", "the root is %s; expected <adx xmlns=%q>", describe(tok), Namespace)
	}
	m := &Message{}
	attrs, err := p.attrs("/adx", root)
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if a.Name == "exported" {
			m.Exported = a.Value
		}
	}
	for {
		tok, err := p.next()
		if err == io.EOF {
			return nil, p.fail("/adx", "the message ends before </adx>")
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if len(m.Groups) == 0 {
				return nil, p.fail("/adx", "the message has no group; expected at least one")
			}
			if _, err := p.next(); err != io.EOF {
				if err != nil {
					return nil, err
				}
				return nil, p.fail("/adx", "content after </adx>")
			}
			return m, nil
		case xml.StartElement:
			where := fmt.Sprintf("/adx/group[%d]", len(m.Groups)+1)
			if t.Name.Local != "group" || t.Name.Space != Namespace {
				return nil, p.fail(where, "found %s; expected <group> in namespace %s", describe(t), Namespace)
			}
			if len(m.Groups) == p.lim.MaxGroups {
				return nil, p.fail(where, "the message has more than %d groups; split it", p.lim.MaxGroups)
			}
			g, err := p.group(where, t)
			if err != nil {
				return nil, err
			}
			m.Groups = append(m.Groups, g)
		default:
			return nil, p.fail("/adx", "text is not allowed in <adx>; expected <group> elements")
		}
	}
}

func (p *parser) group(where string, start xml.StartElement) (Group, error) {
	var g Group
	attrs, err := p.attrs(where, start)
	if err != nil {
		return g, err
	}
	for _, a := range attrs {
		switch a.Name {
		case "orgUnit":
			g.OrgUnit = a.Value
		case "period":
			g.Period = a.Value
		case "dataSet":
			g.DataSet = a.Value
		case "completeDate":
			g.CompleteDate = a.Value
		default:
			g.Attrs = append(g.Attrs, a)
		}
	}
	for _, req := range []struct{ name, val string }{{"orgUnit", g.OrgUnit}, {"period", g.Period}, {"dataSet", g.DataSet}} {
		if req.val == "" {
			return g, p.fail(where+"/@"+req.name, "the group has no %s attribute, which is required", req.name)
		}
	}
	for {
		tok, err := p.next()
		if err != nil {
			if err == io.EOF {
				return g, p.fail(where, "the message ends inside the group")
			}
			return g, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if len(g.Values) == 0 {
				return g, p.fail(where, "the group has no dataValue; expected at least one")
			}
			return g, nil
		case xml.StartElement:
			dw := fmt.Sprintf("%s/dataValue[%d]", where, len(g.Values)+1)
			if t.Name.Local != "dataValue" || t.Name.Space != Namespace {
				return g, p.fail(dw, "found %s; expected <dataValue> in namespace %s", describe(t), Namespace)
			}
			if p.values == p.lim.MaxDataValues {
				return g, p.fail(dw, "the message has more than %d dataValues; split it", p.lim.MaxDataValues)
			}
			p.values++
			dv, err := p.dataValue(dw, t)
			if err != nil {
				return g, err
			}
			g.Values = append(g.Values, dv)
		default:
			return g, p.fail(where, "text is not allowed in <group>; expected <dataValue> elements")
		}
	}
}

func (p *parser) dataValue(where string, start xml.StartElement) (DataValue, error) {
	var dv DataValue
	attrs, err := p.attrs(where, start)
	if err != nil {
		return dv, err
	}
	seenValue := false
	for _, a := range attrs {
		switch a.Name {
		case "dataElement":
			dv.DataElement = a.Value
		case "value":
			dv.Value, seenValue = a.Value, true
		default:
			dv.Disaggs = append(dv.Disaggs, a)
		}
	}
	if dv.DataElement == "" {
		return dv, p.fail(where+"/@dataElement", "the dataValue has no dataElement attribute, which is required")
	}
	if !seenValue {
		return dv, p.fail(where+"/@value", "the dataValue has no value attribute, which is required")
	}
	// An optional <annotation> (free content, ignored), then the end.
	annotations := 0
	for {
		tok, err := p.next()
		if err != nil {
			if err == io.EOF {
				return dv, p.fail(where, "the message ends inside the dataValue")
			}
			return dv, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return dv, nil
		case xml.StartElement:
			if t.Name.Local != "annotation" || t.Name.Space != Namespace || annotations > 0 {
				return dv, p.fail(where, "found %s; a dataValue holds at most one <annotation>", describe(t))
			}
			annotations++
			if err := p.skip(where+"/annotation", 4); err != nil {
				return dv, err
			}
		default:
			return dv, p.fail(where, "text is not allowed in <dataValue>; its value is the value attribute")
		}
	}
}

// skip reads to the end of the current element, within the depth limit.
func (p *parser) skip(where string, depth int) error {
	for d := depth; ; {
		tok, err := p.dec.Token()
		if err != nil {
			if err == io.EOF {
				return p.fail(where, "the message ends inside the element")
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if d++; d > p.lim.MaxDepth {
				return p.fail(where, "elements are nested deeper than %d", p.lim.MaxDepth)
			}
		case xml.EndElement:
			if d--; d < depth {
				return nil
			}
		case xml.Directive:
			return p.fail(where, "a DTD or other <!...> declaration is not accepted in ADX")
		}
	}
}

// attrs returns an element's own attributes, without namespace
// declarations and attributes in other namespaces (xsi:schemaLocation).
func (p *parser) attrs(where string, el xml.StartElement) ([]Attr, error) {
	if len(el.Attr) > p.lim.MaxAttributes {
		return nil, p.fail(where, "the element has %d attributes; at most %d are accepted", len(el.Attr), p.lim.MaxAttributes)
	}
	out := make([]Attr, 0, len(el.Attr))
	for _, a := range el.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") || a.Name.Space != "" {
			continue
		}
		if len(a.Value) > p.lim.MaxAttrBytes {
			return nil, p.fail(where+"/@"+a.Name.Local, "the attribute has %d bytes; at most %d are accepted", len(a.Value), p.lim.MaxAttrBytes)
		}
		for _, o := range out {
			if o.Name == a.Name.Local {
				return nil, p.fail(where+"/@"+a.Name.Local, "the attribute is given twice")
			}
		}
		out = append(out, Attr{Name: a.Name.Local, Value: strings.TrimSpace(a.Value)})
	}
	return out, nil
}

func describe(tok xml.Token) string {
	switch t := tok.(type) {
	case xml.StartElement:
		if t.Name.Space == "" {
			return fmt.Sprintf("<%s> in no namespace", t.Name.Local)
		}
		return fmt.Sprintf("<%s> in namespace %s", t.Name.Local, t.Name.Space)
	case xml.CharData:
		return "text"
	case xml.EndElement:
		return "an end tag"
	}
	return "nothing"
}
