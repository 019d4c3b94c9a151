// Package codec sets up madx's FHIR codecs and negotiates which one a
// request and its answer use (FHIR R4 http.html#mime): the Codec
// interface, the JSON and XML codecs of conformance/fhirjson and
// conformance/fhirxml, Content-Type and Accept/_format negotiation. It
// knows net/http's types but no router; server adapts it to gin.
package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/conformance/fhirjson"
	"github.com/madx-project/madx/conformance/fhirxml"
	oo "github.com/madx-project/madx/operationoutcome"
	"google.golang.org/protobuf/proto"
)

// Codec converts between one wire format and the google/fhir R4 model.
type Codec interface {
	// Decode parses one resource into its concrete proto. Bad input gives an
	// *operationoutcome.Error (400, or 415 for an unsupported encoding) with
	// one issue per problem.
	Decode(data []byte) (proto.Message, error)
	// Encode renders a resource; pretty indents.
	Encode(res proto.Message, pretty bool) ([]byte, error)
}

// Format is a wire format of FHIR resources.
type Format int

// The formats madx reads and writes.
const (
	FormatJSON Format = iota
	FormatXML
	// FormatADX is IHE ADX: not a FHIR format, so only ResponseFormat
	// gives it, and only MeasureReports (one, or a search's) can be
	// written in it; any other answer is negotiated again by FHIRFormat.
	FormatADX
)

// MediaType is the media type of f.
func (f Format) MediaType() string {
	switch f {
	case FormatXML:
		return conformance.MediaFHIRXML
	case FormatADX:
		return conformance.MediaADX
	}
	return conformance.MediaFHIRJSON
}

// ContentType is the Content-Type header of an answer in format f.
func (f Format) ContentType() string {
	return f.MediaType() + "; charset=utf-8"
}

// JSON is madx's single-pass FHIR JSON codec (conformance/fhirjson):
// the same protos and validation as google/fhir's jsonformat at about a
// tenth of its CPU, which is what lets one machine ingest thousands of
// reports a second. Bundle entries decode in parallel.
func JSON() Codec {
	dec := fhirjson.Decoder{}
	return Of(dec.Unmarshal, func(m proto.Message, pretty bool) ([]byte, error) {
		if pretty {
			return fhirjson.MarshalIndent(m)
		}
		return fhirjson.Marshal(m)
	})
}

// XML is madx's FHIR XML codec (conformance/fhirxml).
func XML() Codec { return Of(fhirxml.Unmarshal, fhirxml.Marshal) }

// RequestFormat picks the codec for a request body from Content-Type.
// FHIR R4 (http.html#mime) names application/fhir+json and
// application/fhir+xml; plain json/xml types are accepted as HAPI does.
// Anything else is a 415 *operationoutcome.Error.
func RequestFormat(contentType string, body []byte) (Format, error) {
	if strings.TrimSpace(contentType) == "" {
		// curl without -H sends none; sniffing is kinder than a 415.
		switch t := bytes.TrimLeft(body, " \t\r\n\xef\xbb\xbf"); {
		case len(t) > 0 && t[0] == '{':
			return FormatJSON, nil
		case len(t) > 0 && t[0] == '<':
			return FormatXML, nil
		}
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "",
			"Content-Type %q cannot be parsed; expected %s or %s.", contentType, conformance.MediaFHIRJSON, conformance.MediaFHIRXML)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return 0, oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "",
			"Content-Type charset %q is not supported; FHIR resources must be sent as UTF-8.", cs)
	}
	switch mt {
	case conformance.MediaFHIRJSON, conformance.MediaJSON, "application/json+fhir":
		return FormatJSON, nil
	case conformance.MediaFHIRXML, conformance.MediaXML, conformance.MediaTextXML, "application/xml+fhir":
		return FormatXML, nil
	}
	return 0, oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "",
		"Content-Type %q is not supported; send FHIR resources as %s or %s.", mt, conformance.MediaFHIRJSON, conformance.MediaFHIRXML)
}

// ResponseFormat negotiates the answer's format and whether to indent it:
// _format overrides Accept (FHIR R4 http.html#mime); the default is JSON.
// It gives FormatADX when ADX is asked for (_format=adx, or an Accept
// that ranks application/adx+xml first). Nothing acceptable is a 406
// *operationoutcome.Error, returned with JSON so that the error itself can
// still be written.
func ResponseFormat(r *http.Request) (Format, bool, error) { return responseFormat(r, true) }

// FHIRFormat is ResponseFormat among the FHIR formats only: for an answer
// ADX cannot hold (anything but MeasureReports) and for errors. ADX alone
// asked for is then a 406.
func FHIRFormat(r *http.Request) (Format, bool, error) { return responseFormat(r, false) }

// notAcceptable names what can be asked for instead.
const notAcceptable = "; use %s or %s (or %s, for MeasureReport read and search only)."

func responseFormat(r *http.Request, withADX bool) (Format, bool, error) {
	pretty := r.URL.Query().Get("_pretty") == "true"
	if f := r.URL.Query().Get("_format"); f != "" {
		// An unescaped '+' in the query string arrives as a space
		// (application/fhir xml); a media type has no inner spaces, so read
		// it back as '+', as HAPI does.
		mt := strings.ReplaceAll(strings.TrimSpace(strings.SplitN(f, ";", 2)[0]), " ", "+")
		switch strings.ToLower(mt) {
		case "json", conformance.MediaFHIRJSON, conformance.MediaJSON, "application/json+fhir":
			return FormatJSON, pretty, nil
		case "xml", conformance.MediaFHIRXML, conformance.MediaXML, conformance.MediaTextXML, "application/xml+fhir":
			return FormatXML, pretty, nil
		case "adx", conformance.MediaADX, "application/xml+adx":
			if withADX {
				return FormatADX, pretty, nil
			}
		}
		return FormatJSON, pretty, oo.Errorf(http.StatusNotAcceptable, oo.NotSupported, "",
			"_format=%s is not supported here"+notAcceptable, f, conformance.MediaFHIRJSON, conformance.MediaFHIRXML, conformance.MediaADX)
	}
	f, ok := negotiate(r.Header.Values("Accept"), withADX)
	if !ok {
		return FormatJSON, pretty, oo.Errorf(http.StatusNotAcceptable, oo.NotSupported, "",
			"Accept %q names no format madx produces for this answer"+notAcceptable, strings.Join(r.Header.Values("Accept"), ", "), conformance.MediaFHIRJSON, conformance.MediaFHIRXML, conformance.MediaADX)
	}
	return f, pretty, nil
}

// NegotiateAccept picks the best of JSON and XML by quality value; ties go
// to the earlier entry, and JSON wins when nothing is said. ok is false
// when the values name neither.
func NegotiateAccept(values []string) (f Format, ok bool) { return negotiate(values, false) }

func negotiate(values []string, withADX bool) (f Format, ok bool) {
	if len(values) == 0 {
		return FormatJSON, true
	}
	best, bestQ, found := FormatJSON, -1.0, false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				if _, err := fmt.Sscanf(qs, "%g", &q); err != nil {
					continue
				}
			}
			var f Format
			switch mt {
			case conformance.MediaFHIRJSON, conformance.MediaJSON, "application/json+fhir", "application/*", "*/*":
				f = FormatJSON
			case conformance.MediaFHIRXML, conformance.MediaXML, conformance.MediaTextXML, "application/xml+fhir", "text/*":
				f = FormatXML
			case conformance.MediaADX, "application/xml+adx":
				if !withADX {
					continue
				}
				f = FormatADX
			default:
				continue
			}
			if q > 0 && q > bestQ {
				best, bestQ, found = f, q, true
			}
		}
	}
	return best, found
}

// IndentJSON pretty-prints JSON bytes without touching number text, so
// decimals keep their precision; input that is not JSON is returned as is.
func IndentJSON(b []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return b
	}
	return out.Bytes()
}

// funcCodec adapts a pair of functions to Codec.
type funcCodec struct {
	decode func([]byte) (proto.Message, error)
	encode func(proto.Message, bool) ([]byte, error)
}

// Of makes a Codec of a decode and an encode function, such as
// fhirxml.Unmarshal and fhirxml.Marshal.
func Of(decode func([]byte) (proto.Message, error), encode func(proto.Message, bool) ([]byte, error)) Codec {
	return funcCodec{decode: decode, encode: encode}
}

func (c funcCodec) Decode(b []byte) (proto.Message, error)              { return c.decode(b) }
func (c funcCodec) Encode(m proto.Message, pretty bool) ([]byte, error) { return c.encode(m, pretty) }
