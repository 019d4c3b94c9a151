package fhirjson

import (
	"math/rand/v2"
	"net/url"
	"regexp"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
)

// The patterns jsonformat (v0.7.4) validates with; the hand-written
// matchers must agree with them on every string (the temporal ones are
// internal/fhirtime's, tested there).
var (
	jfCode = regexp.MustCompile(`^[^\s]+(\s[^\s]+)*$`)
	jfID   = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
)

// mutations returns seeds and random edits of them over alphabet.
func mutations(seeds []string, alphabet string, n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := append([]string(nil), seeds...)
	for range n {
		b := []byte(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			c := alphabet[r.IntN(len(alphabet))]
			switch i := r.IntN(len(b) + 1); r.IntN(3) {
			case 0:
				b = append(b[:i], append([]byte{c}, b[i:]...)...)
			case 1:
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			default:
				if i < len(b) {
					b[i] = c
				}
			}
		}
		out = append(out, string(b))
	}
	return out
}

func TestMatchersAgreeWithJSONFormatPatterns(t *testing.T) {
	tests := []struct {
		name     string
		got      func(string) bool
		want     *regexp.Regexp
		seeds    []string
		alphabet string
	}{
		{"code", codeOK, jfCode, []string{"a", "a b", "male", "x\ty", "é ü"}, " \t\n\r\f\va-é"},
		{"id", idOK, jfID, []string{"a", "HealthPost1", "a.b-c", "0123456789012345678901234567890123456789012345678901234567890123"}, "aZ09.-_ /é"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range mutations(tc.seeds, tc.alphabet, 100000) {
				if got, want := tc.got(s), tc.want.MatchString(s); got != want {
					t.Errorf("%q: matcher says %v, pattern says %v", s, got, want)
				}
			}
		})
	}
}

func TestSimpleURIImpliesURLParse(t *testing.T) {
	seeds := []string{"http://hl7.org/fhir/ValueSet/x", "https://a.b/c_d~e", "urn:oid:1.2.3", "urn:uuid:abc", "http://a:80/", "http://[::1]/"}
	for _, s := range mutations(seeds, "a:/%[]@?#-._~ \x01", 100000) {
		if simpleURI(s) {
			if _, err := url.Parse(s); err != nil {
				t.Errorf("simpleURI(%q) but url.Parse fails: %v", s, err)
			}
		}
	}
}

func TestEnumLookupMatchesJSONFormat(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"complete", true}, {"COMPLETE", true}, {"Complete", true}, {"pending", true},
		{"error", true}, {"entered-in-error", false}, {"", true}, {"x", false},
	}
	cm := infoFor(statusCodeDesc())
	for _, tc := range tests {
		if _, ok := cm.enum.lookup(tc.code); ok != tc.ok {
			t.Errorf("lookup(%q) ok = %v, want %v", tc.code, ok, tc.ok)
		}
	}
}

func statusCodeDesc() protoreflect.MessageDescriptor {
	return (&mrpb.MeasureReport_StatusCode{}).ProtoReflect().Descriptor()
}
