package fhirjson

import (
	"net/url"

	"google.golang.org/protobuf/reflect/protoreflect"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// setString sets a string-valued primitive. The core types are set through
// their Go fields: protoreflect's Set goes through package reflect and
// costs several times more, and these are most of a MeasureReport.
func setString(m protoreflect.Message, cm *msgInfo, s string) {
	switch v := m.Interface().(type) {
	case *dpb.String:
		v.Value = s
	case *dpb.Code:
		v.Value = s
	case *dpb.Uri:
		v.Value = s
	case *dpb.Canonical:
		v.Value = s
	case *dpb.Id:
		v.Value = s
	case *dpb.Url:
		v.Value = s
	case *dpb.Markdown:
		v.Value = s
	case *dpb.Decimal:
		v.Value = s
	default:
		m.Set(cm.valueFD, protoreflect.ValueOfString(s))
	}
}

// setUint32 sets a positiveInt or unsignedInt.
func setUint32(m protoreflect.Message, cm *msgInfo, n uint32) {
	switch v := m.Interface().(type) {
	case *dpb.PositiveInt:
		v.Value = n
	case *dpb.UnsignedInt:
		v.Value = n
	default:
		m.Set(cm.valueFD, protoreflect.ValueOfUint32(n))
	}
}

// setInt32 sets an integer.
func setInt32(m protoreflect.Message, cm *msgInfo, n int32) {
	if v, ok := m.Interface().(*dpb.Integer); ok {
		v.Value = n
		return
	}
	m.Set(cm.valueFD, protoreflect.ValueOfInt32(n))
}

// uriCache remembers the last URIs that parsed, per decode: a report
// repeats the same few code systems in every stratum.
type uriCache [4]string

func (c *uriCache) valid(s string) bool {
	for _, u := range c {
		if u == s && u != "" {
			return true
		}
	}
	if !simpleURI(s) {
		if _, err := url.Parse(s); err != nil {
			return false
		}
	}
	copy(c[1:], c[:3])
	c[0] = s
	return true
}

// simpleURI recognizes the common URIs that url.Parse certainly accepts
// without running it: http(s)://host[/path] with unreserved characters
// only, and urn:... opaque URIs without '%'. The tests check it against
// url.Parse.
func simpleURI(s string) bool {
	rest, ok := cutPrefix(s, "http://")
	if !ok {
		rest, ok = cutPrefix(s, "https://")
	}
	if ok {
		i := 0
		for i < len(rest) && (isAlnum(rest[i]) || rest[i] == '.' || rest[i] == '-') {
			i++
		}
		if i == 0 {
			return false
		}
		for ; i < len(rest); i++ {
			if c := rest[i]; !(isAlnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == '/') {
				return false
			}
		}
		return i == len(rest) && (len(rest) == 0 || rest[0] != '/')
	}
	if rest, ok := cutPrefix(s, "urn:"); ok && rest != "" && rest[0] != '/' {
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; !(isAlnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == ':') {
				return false
			}
		}
		return true
	}
	return false
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// getString reads a string-valued primitive, through the Go field for the
// core types (see setString).
func getString(m protoreflect.Message, cm *msgInfo) string {
	switch v := m.Interface().(type) {
	case *dpb.String:
		return v.Value
	case *dpb.Code:
		return v.Value
	case *dpb.Uri:
		return v.Value
	case *dpb.Canonical:
		return v.Value
	case *dpb.Id:
		return v.Value
	case *dpb.Url:
		return v.Value
	case *dpb.Markdown:
		return v.Value
	case *dpb.Decimal:
		return v.Value
	}
	return m.Get(cm.valueFD).String()
}
