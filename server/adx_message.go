package server

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/madx-project/madx/adx"
)

// webMessage is the envelope DHIS2 2.36+ answers imports with; response
// is an importSummary. Senders that speak DHIS2 parse these field names.
type webMessage struct {
	XMLName        xml.Name      `json:"-" xml:"http://dhis2.org/schema/dxf/2.0 webMessage"`
	HTTPStatus     string        `json:"httpStatus" xml:"httpStatus"`
	HTTPStatusCode int           `json:"httpStatusCode" xml:"httpStatusCode"`
	Status         string        `json:"status" xml:"status"`
	Message        string        `json:"message,omitempty" xml:"message,omitempty"`
	Response       importSummary `json:"response" xml:"response"`
}

// importSummary is DHIS2's ImportSummary: counts are in data values.
type importSummary struct {
	ResponseType string         `json:"responseType" xml:"responseType,attr"`
	Status       string         `json:"status" xml:"status"`
	Description  string         `json:"description,omitempty" xml:"description,omitempty"`
	ImportCount  importCount    `json:"importCount" xml:"importCount"`
	Conflicts    []adx.Conflict `json:"conflicts" xml:"conflicts>conflict"`
	// DataSetComplete is DHIS2's; madx maps completeDate to the report's
	// date and answers "false" as DHIS2 does when none is registered.
	DataSetComplete string `json:"dataSetComplete" xml:"dataSetComplete"`
	// refused counts the refused groups: Conflicts also holds the warnings
	// of accepted ones, which do not make the import fail.
	refused int
}

type importCount struct {
	Imported int `json:"imported" xml:"imported,attr"`
	Updated  int `json:"updated" xml:"updated,attr"`
	Ignored  int `json:"ignored" xml:"ignored,attr"`
	Deleted  int `json:"deleted" xml:"deleted,attr"`
}

// Import summary statuses.
const (
	adxSuccess = "SUCCESS"
	adxWarning = "WARNING"
	adxError   = "ERROR"
)

// adxAnswer renders the summary in a WebMessage: 200 for SUCCESS and
// WARNING, 409 for ERROR (DHIS2), or the status given for a message refused
// before any group was read (400, 413, 415).
func adxAnswer(r *http.Request, sum importSummary, status int, message string) (*answer, error) {
	sum.ResponseType = "ImportSummary"
	if sum.Conflicts == nil {
		sum.Conflicts = []adx.Conflict{}
	}
	if sum.DataSetComplete == "" {
		sum.DataSetComplete = "false"
	}
	if status == 0 {
		status = http.StatusOK
		if sum.Status == adxError {
			status = http.StatusConflict
		}
	}
	wm := webMessage{HTTPStatus: http.StatusText(status), HTTPStatusCode: status, Status: "OK", Message: message, Response: sum}
	if status >= 400 {
		wm.Status = "ERROR"
	} else if sum.Status == adxWarning {
		wm.Status = "WARNING"
	}
	var body []byte
	var err error
	ct := "application/json; charset=utf-8"
	if wantsXML(r) {
		ct = "application/xml; charset=utf-8"
		body, err = xml.Marshal(wm)
		body = append([]byte(xml.Header), body...)
	} else {
		body, err = json.Marshal(wm)
	}
	if err != nil {
		return nil, err
	}
	return &answer{status: status, body: body, contentType: ct}, nil
}

// wantsXML tells whether the client asked for XML (Accept naming an XML
// type before any JSON one, or a .xml-style format parameter).
func wantsXML(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return strings.EqualFold(f, "xml")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		switch {
		case strings.Contains(mt, "json"):
			return false
		case strings.Contains(mt, "xml"):
			return true
		}
	}
	return false
}
