package fhirjson

import (
	"net/url"
	"unsafe"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// valueField returns the address of a primitive's value in its Go struct,
// or nil when the plan could not locate it. Setting values there skips
// protoreflect's Set, which goes through package reflect; primitives are
// most of a MeasureReport.
func valueField(p unsafe.Pointer, cm *msgInfo) unsafe.Pointer {
	if !cm.valOK {
		return nil
	}
	return unsafe.Add(p, cm.valOff)
}

// setString sets a string-valued primitive.
func setString(p unsafe.Pointer, cm *msgInfo, s string) {
	if v := valueField(p, cm); v != nil && cm.prim != primEnumCode {
		*(*string)(v) = s
		return
	}
	cm.view(p).Set(cm.valueFD, protoreflect.ValueOfString(s))
}

// setUint32 sets a positiveInt or unsignedInt.
func setUint32(p unsafe.Pointer, cm *msgInfo, n uint32) {
	if v := valueField(p, cm); v != nil {
		*(*uint32)(v) = n
		return
	}
	cm.view(p).Set(cm.valueFD, protoreflect.ValueOfUint32(n))
}

// setInt32 sets an integer.
func setInt32(p unsafe.Pointer, cm *msgInfo, n int32) {
	if v := valueField(p, cm); v != nil {
		*(*int32)(v) = n
		return
	}
	cm.view(p).Set(cm.valueFD, protoreflect.ValueOfInt32(n))
}

// setBool sets a boolean.
func setBool(p unsafe.Pointer, cm *msgInfo, b bool) {
	if v := valueField(p, cm); v != nil {
		*(*bool)(v) = b
		return
	}
	cm.view(p).Set(cm.valueFD, protoreflect.ValueOfBool(b))
}

// setEnum sets a value-set bound code held as an enum.
func setEnum(p unsafe.Pointer, cm *msgInfo, n protoreflect.EnumNumber) {
	if v := valueField(p, cm); v != nil {
		*(*int32)(v) = int32(n)
		return
	}
	cm.view(p).Set(cm.valueFD, protoreflect.ValueOfEnum(n))
}

// uriCache remembers the last URIs that parsed, per decode: a report
// repeats the same few code systems in every stratum.
type uriCache [8]string

// find returns the cached URI spelled b, which can be used as is: it is
// valid, and reusing it saves a copy.
func (c *uriCache) find(b []byte) (string, bool) {
	for _, u := range c {
		if u == string(b) && u != "" {
			return u, true
		}
	}
	return "", false
}

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
	copy(c[1:], c[:len(c)-1])
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
