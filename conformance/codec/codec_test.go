package codec

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	oo "github.com/madx-project/madx/operationoutcome"
)

func TestRequestFormat(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    Format
		wantStatus              int // 0: no error
	}{
		{"fhir json", "application/fhir+json", "{}", FormatJSON, 0},
		{"json with charset", "application/json; charset=UTF-8", "{}", FormatJSON, 0},
		{"fhir xml", "application/fhir+xml", "<a/>", FormatXML, 0},
		{"text xml", "text/xml", "<a/>", FormatXML, 0},
		{"none, sniffed json", "", " \n{}", FormatJSON, 0},
		{"none, sniffed xml", "", "\xef\xbb\xbf<a/>", FormatXML, 0},
		{"latin-1", "application/fhir+json; charset=iso-8859-1", "{}", 0, http.StatusUnsupportedMediaType},
		{"form", "application/x-www-form-urlencoded", "a=b", 0, http.StatusUnsupportedMediaType},
		{"garbage", "///", "{}", 0, http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RequestFormat(tc.contentType, []byte(tc.body))
			if tc.wantStatus != 0 {
				if st := statusOf(err); st != tc.wantStatus {
					t.Fatalf("status %d (%v), want %d", st, err, tc.wantStatus)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestResponseFormat(t *testing.T) {
	tests := []struct {
		name, query, accept string
		want                Format
		pretty              bool
		wantStatus          int
	}{
		{"default", "", "", FormatJSON, false, 0},
		{"accept xml", "", "application/fhir+xml", FormatXML, false, 0},
		{"quality", "", "application/fhir+json;q=0.5, application/fhir+xml", FormatXML, false, 0},
		{"text star", "", "text/*", FormatXML, false, 0},
		{"_format wins", "_format=xml&_pretty=true", "application/fhir+json", FormatXML, true, 0},
		{"_format with a space for +", "_format=application/fhir+xml", "", FormatXML, false, 0},
		{"html only", "", "text/html", FormatJSON, false, http.StatusNotAcceptable},
		{"bad _format", "_format=yaml", "", FormatJSON, false, http.StatusNotAcceptable},
		{"accept adx", "", "application/fhir+json;q=0.5, application/adx+xml", FormatADX, false, 0},
		{"_format=adx", "_format=adx", "application/fhir+json", FormatADX, false, 0},
		{"DHIS2's spelling", "", "application/xml+adx", FormatADX, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/fhir/Measure?"+tc.query, nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			got, pretty, err := ResponseFormat(r)
			if st := statusOf(err); st != tc.wantStatus {
				t.Fatalf("status %d (%v), want %d", st, err, tc.wantStatus)
			}
			if got != tc.want || pretty != tc.pretty {
				t.Errorf("got %v pretty %v, want %v pretty %v", got, pretty, tc.want, tc.pretty)
			}
			if got.ContentType() != got.MediaType()+"; charset=utf-8" {
				t.Errorf("ContentType %q", got.ContentType())
			}
			// Among the FHIR formats, ADX is never chosen.
			if f, _, _ := FHIRFormat(r); f == FormatADX {
				t.Errorf("FHIRFormat gave ADX")
			}
		})
	}
}

func statusOf(err error) int {
	var e *oo.Error
	if errors.As(err, &e) {
		return e.Status
	}
	if err != nil {
		return -1
	}
	return 0
}
