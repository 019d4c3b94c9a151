package fhirxml

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	oo "github.com/madx-project/madx/operationoutcome"
)

// withExtension puts one extension into a valid MeasureReport, in XML and
// in JSON.
func withExtension(xmlExt, jsonExt string) (xmlDoc, jsonDoc string) {
	xmlDoc = strings.Replace(minimalReport, `<id value="mr1"/>`, `<id value="mr1"/><extension url="http://example.org/x">`+xmlExt+`</extension>`, 1)
	jsonDoc = `{"resourceType": "MeasureReport", "id": "mr1",
	  "extension": [{"url": "http://example.org/x", ` + jsonExt + `}],
	  "status": "complete", "type": "summary", "measure": "http://ohie.org/Measure/madx-hiv-indicator-example",
	  "subject": {"reference": "Location/HealthPost1"},
	  "period": {"start": "2025-01-01", "end": "2025-01-31"},
	  "group": [{"population": [{"count": 426}]}]}`
	return xmlDoc, jsonDoc
}

// TestPrimitiveValues checks, value by value, that XML and JSON decode to
// the same proto, that Marshal writes the value back as it came (or as
// jsonformat would), and that XML refuses what jsonformat refuses.
func TestPrimitiveValues(t *testing.T) {
	cases := []struct {
		name    string
		xml     string
		json    string // "" when JSON cannot say it
		written string // the element Marshal writes back; "" means xml
		wantErr oo.IssueType
	}{
		{name: "decimal-trailing-zero", xml: `<valueDecimal value="1.50"/>`, json: `"valueDecimal": 1.50`},
		{name: "decimal-exponent", xml: `<valueDecimal value="1.0e-3"/>`, json: `"valueDecimal": 1.0e-3`},
		{name: "decimal-negative-zero", xml: `<valueDecimal value="-0.0"/>`, json: `"valueDecimal": -0.0`},
		{name: "decimal-leading-zeros", xml: `<valueDecimal value="01.5"/>`, wantErr: oo.Value},
		{name: "decimal-comma", xml: `<valueDecimal value="1,5"/>`, wantErr: oo.Value},
		{name: "integer-min", xml: `<valueInteger value="-2147483648"/>`, json: `"valueInteger": -2147483648`},
		{name: "integer-overflow", xml: `<valueInteger value="2147483648"/>`, wantErr: oo.Value},
		{name: "integer-plus", xml: `<valueInteger value="+1"/>`, wantErr: oo.Value},
		{name: "positive-int-plus", xml: `<valuePositiveInt value="+5"/>`, json: `"valuePositiveInt": 5`, written: `<valuePositiveInt value="5"/>`},
		{name: "positive-int-zero", xml: `<valuePositiveInt value="0"/>`, wantErr: oo.Value},
		{name: "positive-int-overflow", xml: `<valuePositiveInt value="2147483648"/>`, wantErr: oo.Value},
		{name: "unsigned-int-zero", xml: `<valueUnsignedInt value="0"/>`, json: `"valueUnsignedInt": 0`},
		{name: "boolean-capital", xml: `<valueBoolean value="True"/>`, wantErr: oo.Value},
		{name: "date-year", xml: `<valueDate value="2025"/>`, json: `"valueDate": "2025"`},
		{name: "date-bad-month", xml: `<valueDate value="2025-13"/>`, wantErr: oo.Value},
		{name: "datetime-no-zone", xml: `<valueDateTime value="2025-02-05T10:00:00"/>`, wantErr: oo.Value},
		{name: "datetime-negative-offset", xml: `<valueDateTime value="2025-02-05T10:00:00-03:30"/>`, json: `"valueDateTime": "2025-02-05T10:00:00-03:30"`},
		{name: "datetime-plus-zero", xml: `<valueDateTime value="2025-02-05T10:00:00+00:00"/>`, json: `"valueDateTime": "2025-02-05T10:00:00+00:00"`},
		{name: "datetime-micros", xml: `<valueDateTime value="2025-02-05T10:00:00.000001Z"/>`, json: `"valueDateTime": "2025-02-05T10:00:00.000001Z"`},
		{name: "instant-without-zone", xml: `<valueInstant value="2025-02-05T10:00:00"/>`, wantErr: oo.Value},
		{name: "time", xml: `<valueTime value="23:59:59"/>`, json: `"valueTime": "23:59:59"`},
		{name: "time-24h", xml: `<valueTime value="24:00:00"/>`, wantErr: oo.Value},
		{name: "base64", xml: `<valueBase64Binary value="aGVsbG8="/>`, json: `"valueBase64Binary": "aGVsbG8="`},
		{name: "base64-bad", xml: `<valueBase64Binary value="a*b="/>`, wantErr: oo.Value},
		{name: "code-with-space", xml: `<valueCode value="a  b"/>`, wantErr: oo.Value},
		{name: "oid", xml: `<valueOid value="urn:oid:1.2.3"/>`, json: `"valueOid": "urn:oid:1.2.3"`},
		{name: "oid-bad", xml: `<valueOid value="1.2.3"/>`, wantErr: oo.Value},
		{name: "uuid-upper-case", xml: `<valueUuid value="urn:uuid:C757873D-EC9A-4326-A141-556F43239520"/>`, wantErr: oo.Value},
		{name: "string-newline", xml: `<valueString value="a&#xA;b"/>`, json: `"valueString": "a\nb"`},
		{name: "string-empty", xml: `<valueString value=""/>`, json: `"valueString": ""`},
		{name: "string-id-and-extension", xml: `<valueString id="s" value="v"><extension url="http://example.org/y"><valueBoolean value="true"/></extension></valueString>`,
			json: `"valueString": "v", "_valueString": {"id": "s", "extension": [{"url": "http://example.org/y", "valueBoolean": true}]}`},
		{name: "string-extension-without-value", xml: `<valueString><extension url="http://example.org/y"><valueBoolean value="true"/></extension></valueString>`,
			json: `"_valueString": {"extension": [{"url": "http://example.org/y", "valueBoolean": true}]}`},
		{name: "unknown-choice-type", xml: `<valueWhatever value="x"/>`, wantErr: oo.Structure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			xmlDoc, jsonDoc := withExtension(tc.xml, tc.json)
			got, err := Unmarshal([]byte(xmlDoc))
			if tc.wantErr != "" {
				var oe *oo.Error
				if !errors.As(err, &oe) || oe.Issues[0].Code != tc.wantErr || !strings.HasPrefix(oe.Issues[0].Expression[0], "MeasureReport.extension[0].value") {
					t.Fatalf("Unmarshal error = %v, want a %s issue at MeasureReport.extension[0].value", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := diffProto(decodeJSON(t, []byte(jsonDoc)), got); diff != "" {
				t.Errorf("XML and JSON decode differently (-json +xml):\n%s", diff)
			}
			written := tc.xml
			if tc.written != "" {
				written = tc.written
			}
			wantDoc, _ := withExtension(written, "")
			if diff := cmp.Diff(canonicalXML(t, []byte(wantDoc)), canonicalXML(t, encodeXML(t, got))); diff != "" {
				t.Errorf("Marshal (-want +got):\n%s", diff)
			}
		})
	}
}
