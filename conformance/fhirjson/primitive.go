package fhirjson

import (
	"math"
	"strconv"
	"unsafe"

	"github.com/madx-project/madx/operationoutcome"
)

// primitiveMember reads "name": value for a singular primitive element.
func (d *decoder) primitiveMember(p unsafe.Pointer, mi *msgInfo, fi *fieldInfo, cm *msgInfo) {
	c := d.peek()
	if c == 'n' {
		d.addf(operationoutcome.Structure, false, "expected a %s value, found null (FHIR JSON has no null elements)", typeName(cm))
		d.skipValue(d.depth)
		return
	}
	if has(p, mi, fi) {
		// "_name" came first: merge the value into what it built.
		tmp := newMessage(cm)
		if d.primitiveValue(tmp, cm) {
			mergePrimitive(cm.view(d.mutable(p, mi, fi)), cm.view(tmp))
		}
		return
	}
	d.primitiveValueAt(d.mutable(p, mi, fi), cm, c)
}

// primitiveExtension reads "_name": {id, extension} for a singular
// primitive element (FHIR R4 JSON §2.6.2.7).
func (d *decoder) primitiveExtension(p unsafe.Pointer, mi *msgInfo, fi *fieldInfo, cm *msgInfo) {
	if !d.wantExtensionObject(cm) {
		return
	}
	if has(p, mi, fi) {
		tmp := newMessage(cm)
		d.extensionObject(tmp, cm)
		mergePrimitive(cm.view(d.mutable(p, mi, fi)), cm.view(tmp))
		return
	}
	d.extensionObject(d.mutable(p, mi, fi), cm)
}

// primitiveElement reads one element of a primitive array, either a value
// ("name") or an extension object ("_name"). merge says the element was
// already built from the twin array.
func (d *decoder) primitiveElement(m unsafe.Pointer, cm *msgInfo, underscore, merge bool) {
	if d.peek() == 'n' {
		// FHIR aligns "name" and "_name" arrays with nulls, but jsonformat
		// rejects null everywhere, and its protos have no null elements.
		d.addf(operationoutcome.Structure, false, "expected a %s, found null (null array elements are not supported)", typeName(cm))
		d.skipValue(d.depth)
		return
	}
	if underscore {
		if !d.wantExtensionObject(cm) {
			return
		}
		if merge {
			tmp := newMessage(cm)
			d.extensionObject(tmp, cm)
			mergePrimitive(cm.view(m), cm.view(tmp))
			return
		}
		d.extensionObject(m, cm)
		return
	}
	if merge {
		tmp := newMessage(cm)
		if d.primitiveValue(tmp, cm) {
			mergePrimitive(cm.view(m), cm.view(tmp))
		}
		return
	}
	d.primitiveValue(m, cm)
}

// wantExtensionObject checks that a "_name" member holds an object.
func (d *decoder) wantExtensionObject(cm *msgInfo) bool {
	c := d.peek()
	if c == '{' && cm.extFD != nil {
		return true
	}
	switch {
	case c == '{':
		d.addf(operationoutcome.Structure, false, "a %s cannot have extensions", typeName(cm))
	case c == '[':
		d.addf(operationoutcome.Structure, false, "expected an object with the id and extensions of a %s, found an array", typeName(cm))
	default:
		// jsonformat reads a value here as if it were under "name".
		d.addf(operationoutcome.Structure, true, "expected an object with the id and extensions of a %s, found %s", typeName(cm), d.describeNext())
	}
	d.skipValue(d.depth)
	return false
}

// extensionObject reads a primitive's {id, extension} object into m and
// marks it valueless, as jsonformat does (PrimitiveHasNoValue).
func (d *decoder) extensionObject(m unsafe.Pointer, cm *msgInfo) {
	d.decodeObject(m, cm, false)
	addNoValue(cm.view(m), cm)
}

// wrongType reports a value of the wrong JSON type and skips it.
func (d *decoder) wrongType(cm *msgInfo, want string) bool {
	c := d.peek()
	// An object is what jsonformat takes for an extension object.
	strict := c == '{'
	d.addf(operationoutcome.Structure, strict, "expected %s (FHIR %s), found %s", want, typeName(cm), d.describeNext())
	d.skipValue(d.depth)
	return false
}

// primitiveValue reads one JSON scalar into the primitive m. It reports
// false after reporting a problem.
func (d *decoder) primitiveValue(m unsafe.Pointer, cm *msgInfo) bool {
	return d.primitiveValueAt(m, cm, d.peek())
}

// primitiveValueAt is primitiveValue with the next byte c already peeked.
func (d *decoder) primitiveValueAt(m unsafe.Pointer, cm *msgInfo, c byte) bool {
	switch cm.prim {
	case primBoolean:
		if c != 't' && c != 'f' {
			return d.wrongType(cm, "true or false")
		}
		if d.readLiteral() == "true" {
			setBool(m, cm, true)
		}
		return d.err == nil
	case primInteger, primPositiveInt, primUnsignedInt, primDecimal:
		if c != '-' && (c < '0' || c > '9') {
			return d.wrongType(cm, "a number")
		}
		num := d.readNumber()
		if d.err != nil {
			return false
		}
		return d.number(m, cm, num)
	case primInvalid:
		d.addf(operationoutcome.Structure, false, "%s is not a FHIR JSON type", typeName(cm))
		d.skipValue(d.depth)
		return false
	}
	if c != '"' {
		return d.wrongType(cm, "a string")
	}
	text, raw, escaped := d.stringAt()
	if d.err != nil {
		return false
	}
	return d.stringValue(m, cm, text, raw, escaped)
}

// number sets a numeric primitive from its JSON text.
func (d *decoder) number(m unsafe.Pointer, cm *msgInfo, num []byte) bool {
	if cm.prim == primDecimal {
		// The scanner's number grammar is the decimal value_regex, and the
		// text is kept as written so that 1.50 stays 1.50.
		setString(m, cm, d.strings.string(num))
		return true
	}
	if !isInteger(num) {
		d.addf(operationoutcome.Structure, false, "expected an integer (FHIR %s), found %s", typeName(cm), num)
		return false
	}
	switch cm.prim {
	case primInteger:
		v, err := strconv.ParseInt(string(num), 10, 32)
		if err != nil {
			d.addf(operationoutcome.Value, false, "expected an integer in -2147483648..2147483647, found %s", num)
			return false
		}
		setInt32(m, cm, int32(v))
		return true
	}
	min := "1"
	if cm.prim == primUnsignedInt {
		min = "0"
	}
	if num[0] == '-' || (cm.prim == primPositiveInt && num[0] == '0') || (len(num) > 1 && num[0] == '0') {
		d.addf(operationoutcome.Value, false, "expected an integer in %s..2147483647 (FHIR %s), found %s", min, typeName(cm), num)
		return false
	}
	v, err := strconv.ParseUint(string(num), 10, 32)
	// Above the uint32 range jsonformat fails to parse; above the int32
	// range its validation pass fails, which it skips in contained
	// resources.
	if err != nil || (v > math.MaxInt32 && d.noValidate == 0) {
		d.addf(operationoutcome.Value, false, "expected an integer in %s..2147483647 (FHIR %s), found %s", min, typeName(cm), num)
		return false
	}
	setUint32(m, cm, uint32(v))
	return true
}

func isInteger(num []byte) bool {
	for _, c := range num {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// stringValue sets a string-valued primitive.
func (d *decoder) stringValue(m unsafe.Pointer, cm *msgInfo, text, raw []byte, escaped bool) bool {
	switch cm.prim {
	case primBase64:
		return d.base64(m, cm, raw, escaped)
	case primEnumCode:
		return d.enumCode(m, cm, text)
	case primDate, primDateTime, primInstant, primTime:
		return d.temporal(m, cm, text)
	}
	if cm.prim == primURI {
		if u, ok := d.uris.find(text); ok {
			setString(m, cm, u)
			return true
		}
	}
	s := d.strings.string(text)
	if d.noValidate == 0 {
		if !d.validString(cm, s) {
			return false
		}
	}
	setString(m, cm, s)
	return true
}

// validString applies jsonformat's validation of string-valued types.
func (d *decoder) validString(cm *msgInfo, s string) bool {
	switch cm.prim {
	case primString:
		if len(s) > maxString {
			d.addf(operationoutcome.TooLong, false, "expected a string of at most 1 MiB, found %d bytes", len(s))
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				d.addf(operationoutcome.Value, false, "expected a string without control characters, found U+%04X", c)
				return false
			}
		}
	case primCode:
		if !codeOK(s) {
			d.addf(operationoutcome.Value, false, "expected a code (no leading, trailing or repeated whitespace), found %s", quote([]byte(s)))
			return false
		}
	case primID:
		if !idOK(s) {
			d.addf(operationoutcome.Value, false, "expected an id (1 to 64 of A-Z a-z 0-9 - .), found %s", quote([]byte(s)))
			return false
		}
	case primOID:
		if !oidRegex.MatchString(s) {
			d.addf(operationoutcome.Value, false, "expected an oid (urn:oid:...), found %s", quote([]byte(s)))
			return false
		}
	case primUUID:
		if !uuidRegex.MatchString(s) {
			d.addf(operationoutcome.Value, false, "expected a uuid (urn:uuid:... in lower case), found %s", quote([]byte(s)))
			return false
		}
	case primURI:
		if !d.uris.valid(s) {
			d.addf(operationoutcome.Value, false, "expected a URI (FHIR %s), found %s", typeName(cm), quote([]byte(s)))
			return false
		}
	}
	return true
}

// maxString is the FHIR limit on a string's size (R4 §2.24.0.1).
const maxString = 1 << 20

// enumCode sets a value-set bound code.
func (d *decoder) enumCode(m unsafe.Pointer, cm *msgInfo, text []byte) bool {
	if len(text) == 0 {
		// jsonformat maps "" to the enum's zero value and accepts it.
		d.addf(operationoutcome.CodeInvalid, true, "expected a code from %s, found an empty string", cm.enum.valueSet)
		return false
	}
	n, ok := cm.enum.lookup(string(text))
	if !ok {
		d.addf(operationoutcome.CodeInvalid, false, "expected a code from %s, found %s", cm.enum.valueSet, quote(text))
		return false
	}
	setEnum(m, cm, n)
	return true
}
