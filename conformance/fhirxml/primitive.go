package fhirxml

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/madx-project/madx/internal/fhirtime"
)

// valueError is a primitive value that does not parse: what was expected,
// and the OperationOutcome issue type to report it with.
type valueError struct {
	expected string
	codeType bool // a code outside its required value set (code-invalid)
	tooLong  bool // longer than FHIR allows (too-long)
}

func (e *valueError) Error() string { return "expected " + e.expected }

var (
	integerRegex     = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	positiveIntRegex = regexp.MustCompile(`^\+?[1-9][0-9]*$`)
	unsignedIntRegex = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	// decimalRegex is the value_regex annotation of the Decimal proto, as
	// jsonformat compiles it.
	decimalRegex = sync.OnceValue(func() *regexp.Regexp {
		re := proto.GetExtension((&dpb.Decimal{}).ProtoReflect().Descriptor().Options(), apb.E_ValueRegex).(string)
		return regexp.MustCompile("^" + re + "$")
	})
)

// parsePrimitive sets the value of primitive m from the text s of its XML
// value attribute, by the rules jsonformat applies to the same JSON value.
// String formats that fhirvalidate checks afterwards (id, code, oid, uuid,
// control characters, lengths) are only stored here.
//
// borrowed says that s points into the request body (see scanner): it is
// copied before being stored, and only then, as most values (numbers,
// dates, enum codes) are parsed rather than stored.
func parsePrimitive(m protoreflect.Message, s string, loc *time.Location, borrowed bool) error {
	switch v := m.Interface().(type) {
	case *dpb.Boolean:
		switch s {
		case "true":
			v.Value = true
		case "false":
			v.Value = false
		default:
			return &valueError{expected: "a boolean (true or false)"}
		}
	case *dpb.Integer:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || !integerRegex.MatchString(s) {
			return &valueError{expected: "an integer between -2147483648 and 2147483647"}
		}
		v.Value = int32(n)
	case *dpb.PositiveInt:
		n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 32)
		if err != nil || !positiveIntRegex.MatchString(s) {
			return &valueError{expected: "a positive integer"}
		}
		v.Value = uint32(n)
	case *dpb.UnsignedInt:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || !unsignedIntRegex.MatchString(s) {
			return &valueError{expected: "a non-negative integer"}
		}
		v.Value = uint32(n)
	case *dpb.Decimal:
		// Kept as written: "1.50" stays "1.50" (FHIR decimals carry precision).
		if !decimalRegex().MatchString(s) {
			return &valueError{expected: "a decimal such as 1.50"}
		}
		v.Value = owned(s, borrowed)
	case *dpb.Date:
		if !parseDate(s, loc, v) {
			return &valueError{expected: "a date (YYYY, YYYY-MM or YYYY-MM-DD)"}
		}
	case *dpb.DateTime:
		if !parseDateTime(s, loc, v) {
			return &valueError{expected: "a dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a timezone)"}
		}
	case *dpb.Instant:
		if !parseInstant(s, v) {
			return &valueError{expected: "an instant (YYYY-MM-DDThh:mm:ss[.fff] with a timezone)"}
		}
	case *dpb.Time:
		if !parseTime(s, v) {
			return &valueError{expected: "a time (hh:mm:ss[.fff])"}
		}
	case *dpb.Base64Binary:
		return parseBase64(s, v)
	case *dpb.String:
		if len(s) > maxStringSize {
			return &valueError{expected: "a string of at most 1 MB", tooLong: true}
		}
		v.Value = owned(s, borrowed)
	case *dpb.Code:
		v.Value = owned(s, borrowed)
		if fastCode(s) {
			return nil
		}
		return checkRegex(m, s, "a code (no leading, trailing or repeated whitespace)")
	case *dpb.Id:
		v.Value = owned(s, borrowed)
		if fastID(s) {
			return nil
		}
		return checkRegex(m, s, "an id (1 to 64 characters of A-Z, a-z, 0-9, '-' and '.')")
	case *dpb.Oid:
		v.Value = owned(s, borrowed)
		return checkRegex(m, s, "an OID such as urn:oid:1.2.3")
	case *dpb.Uuid:
		v.Value = owned(s, borrowed)
		return checkRegex(m, s, "a UUID such as urn:uuid:c757873d-ec9a-4326-a141-556f43239520")
	case *dpb.Uri:
		v.Value = owned(s, borrowed)
		return checkURI(s)
	case *dpb.Url:
		v.Value = owned(s, borrowed)
		return checkURI(s)
	case *dpb.Canonical:
		v.Value = owned(s, borrowed)
		return checkURI(s)
	case *dpb.Markdown:
		v.Value = owned(s, borrowed)
	default:
		return parseCode(m, s, borrowed)
	}
	return nil
}

// owned returns s, copied if it is borrowed from the request body.
func owned(s string, borrowed bool) string {
	if borrowed {
		return strings.Clone(s)
	}
	return s
}

// maxStringSize is the FHIR limit on strings that fhirvalidate enforces.
const maxStringSize = 1024 * 1024

// valueRegexes memoises the value_regex annotations of primitive types.
var valueRegexes sync.Map // protoreflect.FullName -> *regexp.Regexp

// checkRegex checks s against the value_regex annotation of m's type, the
// rule fhirvalidate applies to ids, codes, OIDs and UUIDs, so that the
// diagnostic can show the value found.
func checkRegex(m protoreflect.Message, s, expected string) error {
	d := m.Descriptor()
	re, ok := valueRegexes.Load(d.FullName())
	if !ok {
		re = regexp.MustCompile("^(?:" + proto.GetExtension(d.Options(), apb.E_ValueRegex).(string) + ")$")
		valueRegexes.Store(d.FullName(), re)
	}
	if !re.(*regexp.Regexp).MatchString(s) {
		return &valueError{expected: expected}
	}
	return nil
}

// checkURI is fhirvalidate's rule for uri, url and canonical.
func checkURI(s string) error {
	if fastURI(s) {
		return nil
	}
	if _, err := url.Parse(s); err != nil {
		return &valueError{expected: "a URI"}
	}
	return nil
}

// parseCode sets a code bound to a required value set, held as an enum (or
// a string) in a message of its own, the way jsonpbhelper.UnmarshalCode does.
func parseCode(m protoreflect.Message, s string, borrowed bool) error {
	d := m.Descriptor()
	fd := d.Fields().ByName("value")
	if fd == nil || !proto.HasExtension(d.Options(), apb.E_FhirValuesetUrl) {
		return fmt.Errorf("fhirxml: unsupported primitive type %s", d.FullName())
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		m.Set(fd, protoreflect.ValueOfString(owned(s, borrowed)))
		return nil
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		if v := values.ByName(protoreflect.Name(strings.ReplaceAll(strings.ToUpper(s), "-", "_"))); v != nil && v.Number() != 0 {
			m.Set(fd, protoreflect.ValueOfEnum(v.Number()))
			return nil
		}
		for i := 0; i < values.Len(); i++ {
			v := values.Get(i)
			if proto.GetExtension(v.Options(), apb.E_FhirOriginalCode).(string) == s && s != "" {
				m.Set(fd, protoreflect.ValueOfEnum(v.Number()))
				return nil
			}
		}
		vs := proto.GetExtension(d.Options(), apb.E_FhirValuesetUrl).(string)
		return &valueError{expected: "a code from " + vs, codeType: true}
	}
	return fmt.Errorf("fhirxml: code %s has a value of kind %v", d.FullName(), fd.Kind())
}

// formatPrimitive returns the value attribute of primitive m; ok is false
// when m has no value (google/fhir's PrimitiveHasNoValue, an unset enum).
func formatPrimitive(m protoreflect.Message) (s string, ok bool, err error) {
	if hasExtension(m, primitiveHasNoValueURL) {
		return "", false, nil
	}
	switch v := m.Interface().(type) {
	case *dpb.Boolean:
		return strconv.FormatBool(v.Value), true, nil
	case *dpb.Integer:
		return strconv.FormatInt(int64(v.Value), 10), true, nil
	case *dpb.PositiveInt:
		return strconv.FormatUint(uint64(v.Value), 10), true, nil
	case *dpb.UnsignedInt:
		return strconv.FormatUint(uint64(v.Value), 10), true, nil
	case *dpb.Decimal:
		return v.Value, true, nil
	case *dpb.Date, *dpb.DateTime, *dpb.Instant, *dpb.Time:
		s, err = fhirtime.Format(v)
	case *dpb.Base64Binary:
		s, err = formatBase64(v)
	case *dpb.String:
		return v.Value, true, nil
	case *dpb.Code:
		return v.Value, true, nil
	case *dpb.Id:
		return v.Value, true, nil
	case *dpb.Oid:
		return v.Value, true, nil
	case *dpb.Uri:
		return v.Value, true, nil
	case *dpb.Url:
		return v.Value, true, nil
	case *dpb.Canonical:
		return v.Value, true, nil
	case *dpb.Markdown:
		return v.Value, true, nil
	case *dpb.Uuid:
		return v.Value, true, nil
	default:
		return formatCode(m)
	}
	if err != nil {
		return "", false, fmt.Errorf("fhirxml: %s: %w", m.Descriptor().Name(), err)
	}
	return s, true, nil
}

func formatCode(m protoreflect.Message) (string, bool, error) {
	d := m.Descriptor()
	fd := d.Fields().ByName("value")
	if fd == nil {
		return "", false, fmt.Errorf("fhirxml: unsupported primitive type %s", d.FullName())
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return m.Get(fd).String(), true, nil
	case protoreflect.EnumKind:
		n := m.Get(fd).Enum()
		if n == 0 {
			return "", false, nil
		}
		v := fd.Enum().Values().ByNumber(n)
		if v == nil {
			return "", false, fmt.Errorf("fhirxml: %s has no enum value %d", d.FullName(), n)
		}
		if orig := proto.GetExtension(v.Options(), apb.E_FhirOriginalCode).(string); orig != "" {
			return orig, true, nil
		}
		return strings.ReplaceAll(strings.ToLower(string(v.Name())), "_", "-"), true, nil
	}
	return "", false, fmt.Errorf("fhirxml: code %s has a value of kind %v", d.FullName(), fd.Kind())
}

// parseBase64 decodes base64Binary as jsonformat does: runs of spaces at a
// fixed stride are allowed and recorded in google/fhir's
// base64Binary-separatorStride extension so that they can be written back.
func parseBase64(s string, v *dpb.Base64Binary) error {
	bad := &valueError{expected: "base64 data"}
	var compact strings.Builder
	stride, sep, chunkStart := 0, 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			compact.WriteByte(s[i])
			continue
		}
		if cur := i - chunkStart; stride == 0 {
			stride = cur
		} else if cur != stride {
			return bad
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if cur := j - i; sep == 0 {
			sep = cur
		} else if cur != sep {
			return bad
		}
		chunkStart, i = j, j-1
	}
	data, err := base64.StdEncoding.DecodeString(compact.String())
	if err != nil {
		return bad
	}
	v.Value = data
	if stride > 0 {
		v.Extension = append(v.Extension, &dpb.Extension{
			Url: &dpb.Uri{Value: base64BinarySeparatorStrideURL},
			Extension: []*dpb.Extension{
				{Url: &dpb.Uri{Value: "separator"}, Value: &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_StringValue{StringValue: &dpb.String{Value: strings.Repeat(" ", sep)}}}},
				{Url: &dpb.Uri{Value: "stride"}, Value: &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_PositiveInt{PositiveInt: &dpb.PositiveInt{Value: uint32(stride)}}}},
			},
		})
	}
	return nil
}

func formatBase64(v *dpb.Base64Binary) (string, error) {
	encoded := base64.StdEncoding.EncodeToString(v.GetValue())
	sep, stride := "", 0
	for _, e := range v.GetExtension() {
		if e.GetUrl().GetValue() != base64BinarySeparatorStrideURL {
			continue
		}
		for _, sub := range e.GetExtension() {
			switch sub.GetUrl().GetValue() {
			case "separator":
				sep = sub.GetValue().GetStringValue().GetValue()
			case "stride":
				stride = int(sub.GetValue().GetPositiveInt().GetValue())
			}
		}
	}
	if stride <= 0 {
		return encoded, nil
	}
	var b strings.Builder
	for len(encoded) > stride {
		b.WriteString(encoded[:stride])
		b.WriteString(sep)
		encoded = encoded[stride:]
	}
	b.WriteString(encoded)
	return b.String(), nil
}

// hasExtension reports whether primitive or element m carries an extension
// with the given url.
func hasExtension(m protoreflect.Message, url string) bool {
	fd := m.Descriptor().Fields().ByName("extension")
	if fd == nil || !fd.IsList() {
		return false
	}
	list := m.Get(fd).List()
	for i := 0; i < list.Len(); i++ {
		if e, ok := list.Get(i).Message().Interface().(*dpb.Extension); ok && e.GetUrl().GetValue() == url {
			return true
		}
	}
	return false
}

// internalExtension reports whether e is one of google/fhir's bookkeeping
// extensions, which record JSON/XML shape and are never written out.
func internalExtension(e *dpb.Extension) bool {
	u := e.GetUrl().GetValue()
	return u == primitiveHasNoValueURL || u == base64BinarySeparatorStrideURL
}

// primitiveHasNoValue is the extension jsonformat adds to a primitive that
// has an id or extensions but no value; XML decoding adds the same one.
func primitiveHasNoValue() *dpb.Extension {
	return &dpb.Extension{
		Url:   &dpb.Uri{Value: primitiveHasNoValueURL},
		Value: &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_Boolean{Boolean: &dpb.Boolean{Value: true}}},
	}
}
