package fhirxml

import (
	"net/url"
	"regexp"
	"testing"
)

// FuzzFastPrimitives checks that the fast checks accept nothing that the
// full ones refuse.
func FuzzFastPrimitives(f *testing.F) {
	for _, s := range []string{
		"", "a", "a b", "a  b", " a", "a\f", "complete", "-.AZaz09", "http://ohie.org/Measure/x",
		"https://h/p?q=1#f", "http://a:b/", "http://[::1]/", "http://h/%zz", "urn:oid:1.2.3",
		"urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "urn:/x", ":x", "1a:b", "Location/1", "a/b:c",
		"http://u@h/", "http://h:80/x", "\x7f", "http://h/a b",
	} {
		f.Add(s)
	}
	code := regexp.MustCompile(`^(?:[^\s]+(\s[^\s]+)*)$`)
	id := regexp.MustCompile(`^(?:[A-Za-z0-9\-\.]{1,64})$`)
	f.Fuzz(func(t *testing.T, s string) {
		if fastCode(s) && !code.MatchString(s) {
			t.Errorf("fastCode accepts %q", s)
		}
		if fastID(s) && !id.MatchString(s) {
			t.Errorf("fastID accepts %q", s)
		}
		if _, err := url.Parse(s); fastURI(s) && err != nil {
			t.Errorf("fastURI accepts %q: %v", s, err)
		}
	})
}
