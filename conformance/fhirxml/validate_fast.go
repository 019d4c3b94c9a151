package fhirxml

import (
	"math"
	"strings"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// While decoding, the checks below note whether anything in the resource
// could fail google/fhir's fhirvalidate. Only then does Unmarshal run it;
// a resource that passes them all passes fhirvalidate, which costs as much
// as the decoding itself (a reflective walk with a path string per node).
// The checks may flag more than fhirvalidate rejects (required elements
// inside contained resources, which fhirvalidate never sees); that costs
// only the walk, since fhirvalidate's verdict is the one reported.
//
// fhirvalidate's other rules are enforced while parsing, with the same
// regular expressions and limits (see parsePrimitive), or cannot be broken
// in XML: the control characters it refuses in strings are not XML
// characters, so neither reader lets them through.

// checkRequired notes a missing REQUIRED_BY_FHIR field of m.
func (st *decodeState) checkRequired(m protoreflect.Message, sch *schema) {
	for _, f := range sch.required {
		if !m.Has(f) {
			st.suspect = true
			return
		}
	}
}

// checkReference notes a typed reference to a resource type the element
// does not allow.
func (st *decodeState) checkReference(ref protoreflect.Message, el element) {
	od := ref.Descriptor().Oneofs().ByName("reference")
	if od == nil {
		st.suspect = true
		return
	}
	// Only typed ids ("location_id") name a type; uri, fragment and
	// identifier references are not checked.
	if f := ref.WhichOneof(od); f != nil && strings.HasSuffix(string(f.Name()), "_id") && !el.refTargets[f.Number()] {
		st.suspect = true
	}
}

// checkPrimitive notes the unsigned integers fhirvalidate bounds to the
// signed 32-bit range.
func (st *decodeState) checkPrimitive(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *dpb.PositiveInt:
		st.suspect = st.suspect || v.Value > math.MaxInt32
	case *dpb.UnsignedInt:
		st.suspect = st.suspect || v.Value > math.MaxInt32
	}
}
