package fhirjson

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// FuzzUnmarshal checks, for any input: no panic; whatever we accept,
// jsonformat accepts with an equal proto, and we write it back exactly as
// jsonformat does; whatever jsonformat accepts, we accept too unless every
// problem we found is a deliberate strictness (see the package documentation); and
// parallel Bundle decoding agrees with sequential decoding.
func FuzzUnmarshal(f *testing.F) {
	for _, p := range append(fixtures(f, "../../testdata/madx"), fixtures(f, "../../testdata/invalid")...) {
		f.Add(readFile(f, p))
	}
	f.Add([]byte(baseReport))
	f.Add([]byte(`{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[{"id":"y"},{"id":"x"}]}],"birthDate":"2000","_birthDate":{"extension":[{"url":"http://e","valueCode":"x"}]}}`))
	f.Add([]byte(`{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":1e3},"effectiveDateTime":"2020-01-01T10:00:00.1234+01:00","issued":"2020-01-01T10:00:00Z"}`))
	f.Add([]byte(`{"resourceType":"Binary","contentType":"text/plain","data":"aGVs bG8g d29y"}`))
	f.Add([]byte(`{"resourceType":"Patient","id":"p","contained":[{"resourceType":"Organization","id":"o","name":"n"}],"managingOrganization":{"reference":"#o"},"generalPractitioner":[{"reference":"Practitioner/1/_history/2"},{"reference":"http://x/Practitioner/1","display":"d"}],"_gender":{"id":"g"},"gender":"female","multipleBirthInteger":2,"active":true}`))
	f.Add([]byte(`{"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"time","initialTime":"10:11:12.1234"},{"linkId":"2","type":"integer","_linkId":{"extension":[{"url":"http://e","valueUnsignedInt":3}]}}],"date":"2020-02-29T00:00:00-00:00"}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Basic","code":{"text":"x"}}},{"resource":{"resourceType":"Basic"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, problems := Decoder{Workers: 1}.decode(data)
		ours := len(problems) == 0
		ref, refErr := safeReference(t, data)
		switch {
		case ours && refErr != nil:
			t.Fatalf("we accept what jsonformat rejects (%v)", refErr)
		case ours && !proto.Equal(res, ref):
			t.Fatalf("protos differ (-jsonformat +ours):\n%s", cmp.Diff(ref, res, protocmp.Transform()))
		case !ours && refErr == nil:
			for _, p := range problems {
				if !p.strict {
					t.Fatalf("jsonformat accepts; we reject with a non-strict problem: %+v", p.issue)
				}
			}
		}
		if ours {
			checkMarshal(t, res)
		}
		par, parProblems := Decoder{Workers: 2}.decode(data)
		if (len(parProblems) == 0) != ours || (ours && !proto.Equal(par, res)) {
			t.Fatalf("parallel decode differs: %d problems, sequential %d", len(parProblems), len(problems))
		}
	})
}

// safeReference runs jsonformat, turning its panics into errors.
func safeReference(tb testing.TB, data []byte) (m proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jsonformat panicked: %v", r)
		}
	}()
	return reference(tb, data)
}

// checkMarshal checks Marshal against jsonformat and the round trip.
func checkMarshal(tb testing.TB, res proto.Message) {
	tb.Helper()
	got, err := Marshal(res)
	if err != nil {
		tb.Fatalf("Marshal: %v", err)
	}
	if want := referenceMarshal(tb, res, false); string(want) != string(got) {
		tb.Fatalf("Marshal differs (-jsonformat +ours):\n%s", cmp.Diff(string(want), string(got)))
	}
	back, err := Unmarshal(got)
	if err != nil {
		tb.Fatalf("Unmarshal(Marshal(x)): %v", err)
	}
	if !proto.Equal(back, res) {
		tb.Fatalf("round trip differs:\n%s", cmp.Diff(res, back, protocmp.Transform()))
	}
}
