package fhirjson

import (
	"fmt"
	"reflect"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/madx-project/madx/internal/fhirtime"
)

// Primitives are read through their Go fields, located once per type in
// the plan (buildPrimitivePlan): their id is a *dpb.String and their
// extensions a []*dpb.Extension in every google/fhir primitive.

func extensionList(p unsafe.Pointer, cm *msgInfo) []*dpb.Extension {
	if cm.extFI == nil || p == nil {
		return nil
	}
	return *(*[]*dpb.Extension)(unsafe.Add(p, cm.extFI.fast.offset))
}

// hasValue reports whether a primitive's value is written, following
// jsonformat: not when it is marked PrimitiveHasNoValue, not for the zero
// enum.
func hasValue(p unsafe.Pointer, cm *msgInfo) bool {
	if p == nil {
		return cm.prim != primEnumCode
	}
	if markedNoValue(extensionList(p, cm)) {
		return false
	}
	if cm.prim == primEnumCode {
		pl := cm.plan()
		return !pl.valOK || *(*int32)(unsafe.Add(p, pl.valOff)) != 0
	}
	return true
}

func markedNoValue(exts []*dpb.Extension) bool {
	for _, x := range exts {
		if x.GetUrl().GetValue() == noValueURL {
			return true
		}
	}
	return false
}

// hasExtensions reports whether a primitive has an id or extensions to
// write under "_name" (PrimitiveHasNoValue and, when the value is written,
// the base64 chunking extension are jsonformat's own and never written).
func hasExtensions(p unsafe.Pointer, cm *msgInfo) bool {
	if p == nil {
		return false
	}
	if cm.idFI != nil && *(*unsafe.Pointer)(unsafe.Add(p, cm.idFI.fast.offset)) != nil {
		return true
	}
	exts := extensionList(p, cm)
	drop := dropBase64Stride(exts, cm)
	for _, x := range exts {
		if written(x, drop) {
			return true
		}
	}
	return false
}

// dropBase64Stride reports whether the base64 chunking extension is left
// out, as it is when the value it describes is written.
func dropBase64Stride(exts []*dpb.Extension, cm *msgInfo) bool {
	return cm.prim == primBase64 && !markedNoValue(exts) && findExtension(exts, base64SeparatorStrideURL) != nil
}

func written(x *dpb.Extension, dropBase64 bool) bool {
	if u := x.GetUrl(); u != nil && (u.GetValue() == noValueURL || dropBase64 && u.GetValue() == base64SeparatorStrideURL) {
		return false
	}
	return true
}

// extensions writes a primitive's {"extension": [...], "id": "..."}.
func (e *encoder) extensions(p unsafe.Pointer, cm *msgInfo) error {
	exts := extensionList(p, cm)
	drop := dropBase64Stride(exts, cm)
	e.buf = append(e.buf, '{')
	n := 0
	for _, x := range exts {
		if !written(x, drop) {
			continue
		}
		if n == 0 {
			e.buf = append(e.buf, `"extension":[`...)
		} else {
			e.buf = append(e.buf, ',')
		}
		n++
		if err := e.object(unsafe.Pointer(x), cm.plan().extInfo, false); err != nil {
			return err
		}
	}
	if n > 0 {
		e.buf = append(e.buf, ']')
	}
	if cm.idFI != nil && p != nil {
		if id := *(**dpb.String)(unsafe.Add(p, cm.idFI.fast.offset)); id != nil {
			if n > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(e.buf, `"id":`...)
			e.buf = appendString(e.buf, id.Value)
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

var (
	base64Type   = reflect.TypeFor[dpb.Base64Binary]()
	dateType     = reflect.TypeFor[dpb.Date]()
	dateTimeType = reflect.TypeFor[dpb.DateTime]()
	instantType  = reflect.TypeFor[dpb.Instant]()
	timeType     = reflect.TypeFor[dpb.Time]()
)

// value writes a primitive's value.
func (e *encoder) value(p unsafe.Pointer, cm *msgInfo) error {
	pl := cm.plan()
	switch cm.prim {
	case primDate, primDateTime, primInstant, primTime:
		return e.temporal(p, cm)
	case primBase64:
		if cm.goType != base64Type {
			return errNotGenerated{cm.desc.FullName()}
		}
		e.buf = appendString(e.buf, encodeBase64((*dpb.Base64Binary)(p)))
		return nil
	case primInvalid:
		if cm.desc.Name() != "ReferenceId" {
			return fmt.Errorf("not a supported primitive type: %v", cm.desc.Name())
		}
	}
	if !pl.valOK {
		return errNotGenerated{cm.desc.FullName()}
	}
	var zero [8]byte
	v := unsafe.Pointer(&zero)
	if p != nil {
		v = unsafe.Add(p, pl.valOff)
	}
	switch cm.prim {
	case primBoolean:
		e.buf = strconv.AppendBool(e.buf, *(*bool)(v))
	case primInteger:
		e.buf = strconv.AppendInt(e.buf, int64(*(*int32)(v)), 10)
	case primPositiveInt, primUnsignedInt:
		e.buf = strconv.AppendUint(e.buf, uint64(*(*uint32)(v)), 10)
	case primDecimal:
		s := ""
		if p != nil {
			s = *(*string)(v)
		}
		if !isJSONNumber(s) {
			return fmt.Errorf("decimal %q is not a JSON number", s)
		}
		e.buf = append(e.buf, s...)
	case primEnumCode:
		n := *(*int32)(v)
		if n >= 0 && int(n) < len(pl.enumCodes) && pl.enumCodes[n] != "" {
			e.buf = append(e.buf, pl.enumCodes[n]...)
			break
		}
		code, ok := cm.enum.code[protoreflect.EnumNumber(n)]
		if !ok {
			return fmt.Errorf("enum %s has no value %d", cm.valueFD.Enum().FullName(), n)
		}
		e.buf = appendString(e.buf, code)
	default:
		s := ""
		if p != nil {
			s = *(*string)(v)
		}
		e.buf = appendString(e.buf, s)
	}
	return nil
}

// temporal writes a date, dateTime, instant or time.
func (e *encoder) temporal(p unsafe.Pointer, cm *msgInfo) error {
	var m proto.Message
	switch cm.goType {
	case dateType:
		m = (*dpb.Date)(p)
	case dateTimeType:
		m = (*dpb.DateTime)(p)
	case instantType:
		m = (*dpb.Instant)(p)
	case timeType:
		m = (*dpb.Time)(p)
	default:
		return fmt.Errorf("unsupported temporal type %v", cm.desc.FullName())
	}
	s, err := fhirtime.Format(m)
	if err != nil {
		return err
	}
	e.buf = appendString(e.buf, s)
	return nil
}

// isJSONNumber reports whether s is a number by the RFC 8259 grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		d := i + 1
		if i = skipDigits(s, d); i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		if i = skipDigits(s, d); i == d {
			return false
		}
	}
	return i == len(s)
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// plain8 reports whether the 8 bytes of s are ASCII that JSON writes as
// is: none is a control character, '"', '\\' or at or above 0x80 (SWAR:
// each test sets a byte's high bit where it holds).
func plain8(s string) bool {
	_ = s[7]
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := (w - 0x20*ones) &^ w // high bit set where a byte < 0x20 (or >= 0x80)
	q := w ^ '"'*ones
	bs := w ^ '\\'*ones
	zq := (q - ones) &^ q   // high bit where a byte was '"'
	zb := (bs - ones) &^ bs // high bit where a byte was '\\'
	return (ctl|zq|zb|w)&highs == 0
}

// appendString is encoding/json's string encoding with HTML escaping off.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain ASCII bytes at a time: most strings (URIs, codes)
		// need no escaping at all.
		for i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
