package fhirjson

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestAgreesWithJSONFormatOnEdgeCases pins the corners of jsonformat's
// behaviour that the decoder reproduces: both accept with equal protos and
// equal output, or both reject.
func TestAgreesWithJSONFormatOnEdgeCases(t *testing.T) {
	patient := func(members string) string { return `{"resourceType":"Patient",` + members + `}` }
	tests := []struct {
		name  string
		input string
	}{
		{"value then extension", patient(`"gender":"female","_gender":{"id":"g","extension":[{"url":"http://e","valueBoolean":true}]}`)},
		{"extension then value", patient(`"_gender":{"id":"g"},"gender":"female"`)},
		{"extension only", patient(`"_birthDate":{"extension":[{"url":"http://e","valueString":"unknown"}]}`)},
		{"extension only code", patient(`"_gender":{"id":"g"}`)},
		{"aligned arrays", patient(`"name":[{"given":["a","b"],"_given":[{"id":"x"},{"id":"y"}]}]`)},
		{"aligned arrays reversed", patient(`"name":[{"_given":[{"id":"x"},{"id":"y"}],"given":["a","b"]}]`)},
		{"misaligned arrays", patient(`"name":[{"given":["a","b"],"_given":[{"id":"x"}]}]`)},
		{"empty value with extension", patient(`"name":[{"family":"","_family":{"id":"f"}}]`)},
		{"choice with extension", patient(`"deceasedBoolean":false,"_deceasedBoolean":{"id":"d"}`)},
		{"two choice types", patient(`"deceasedBoolean":false,"deceasedDateTime":"2020"`)},
		{"upper-case member", patient(`"Gender":"female","Active":true`)},
		{"upper-case code", patient(`"gender":"FEMALE"`)},
		{"resourceType last", `{"gender":"male","resourceType":"Patient"}`},
		{"fragment reference", patient(`"contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"}`)},
		{"history reference", patient(`"generalPractitioner":[{"reference":"Practitioner/1/_history/2"}]`)},
		{"absolute reference", patient(`"generalPractitioner":[{"reference":"http://x/fhir/Practitioner/1"}]`)},
		{"unknown type reference", patient(`"generalPractitioner":[{"reference":"Foo/1"}]`)},
		{"reference with extension", patient(`"managingOrganization":{"reference":"Organization/1","_reference":{"id":"r"}}`)},
		{"wrong reference type", patient(`"managingOrganization":{"reference":"Patient/1"}`)},
		{"contained not validated", patient(`"contained":[{"resourceType":"Organization","id":"bad id","contact":[{}]}]`)},
		{"contained bad enum", patient(`"contained":[{"resourceType":"Organization","telecom":[{"system":"pager2"}]}]`)},
		{"nested bundle", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}}]}`},
		{"missing required in entry", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","code":{"text":"x"}}}]}`},
		{"decimal exponent", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-1.50E+3}}`},
		{"nanosecond dateTime", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2020-01-01T10:00:00.123456789123-00:00"}`},
		{"instant at +14:00", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-12-31T23:59:59.5+14:00"}`},
		{"instant at +14:30", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-12-31T23:59:59+14:30"}`},
		{"leap day", patient(`"birthDate":"2024-02-29"`)},
		{"not a leap day", patient(`"birthDate":"2023-02-29"`)},
		{"year zero", patient(`"birthDate":"0000"`)},
		{"time", `{"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"time","initial":[{"valueTime":"23:59:59.1234"}]}]}`},
		{"base64 in chunks", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVs bG8g d29y bGQ="}`},
		{"base64 bad chunks", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVs bG8gd29y bGQ="}`},
		{"escaped string", patient(`"name":[{"text":"a\"b\\c\/d\u00e9\ud83d\ude00\u2028"}]`)},
		{"lone surrogate", patient(`"name":[{"text":"a\ud800b"}]`)},
		{"control character in string", patient(`"name":[{"text":"a\u0001b"}]`)},
		{"control character in markdown", `{"resourceType":"Measure","status":"draft","description":"a\u0001b"}`},
		{"code with double space", `{"resourceType":"Measure","status":"draft","topic":[{"coding":[{"code":"a  b"}]}]}`},
		{"bad uri", `{"resourceType":"Measure","status":"draft","url":"http://a b:x"}`},
		{"oid", `{"resourceType":"NamingSystem","name":"n","status":"draft","kind":"codesystem","date":"2020","uniqueId":[{"type":"oid","value":"urn:oid:1.2.3"}]}`},
		{"unsignedInt out of range", patient(`"photo":[{"size":2147483648}]`)},
		{"unsignedInt out of range in contained", patient(`"contained":[{"resourceType":"Patient","photo":[{"size":2147483648}]}]`)},
		{"unsignedInt beyond uint32", patient(`"photo":[{"size":4294967296}]`)},
		{"integer negative zero", `{"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"integer","initial":[{"valueInteger":-0}]}]}`},
		{"narrative", patient(`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`)},
		{"empty object and array", patient(`"maritalStatus":{},"identifier":[]`)},
		{"whitespace everywhere", " \n{ \"resourceType\" : \"Patient\" ,\t\"active\" : true }\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.input)
			want, wantErr := reference(t, data)
			got, err := Unmarshal(data)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("Unmarshal error = %v; jsonformat error = %v", err, wantErr)
			}
			if err != nil {
				t.Logf("both reject: %v", err)
				return
			}
			if !proto.Equal(want, got) {
				t.Fatalf("protos differ (-jsonformat +ours):\n%s", cmp.Diff(want, got, protocmp.Transform()))
			}
			checkMarshal(t, got)
		})
	}
}
