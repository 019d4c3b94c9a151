package server

import (
	"net/http"

	"github.com/madx-project/madx/conformance/codec"
	"google.golang.org/protobuf/proto"
)

// The codecs and their negotiation live in conformance/codec, beside the
// codecs; these names adapt it to the handlers.

// Codec converts between one wire format and the google/fhir R4 model; see
// codec.Codec.
type Codec = codec.Codec

// CodecOf makes a Codec of a decode and an encode function, such as
// fhirxml.Unmarshal and fhirxml.Marshal.
func CodecOf(decode func([]byte) (proto.Message, error), encode func(proto.Message, bool) ([]byte, error)) Codec {
	return codec.Of(decode, encode)
}

type format = codec.Format

const (
	formatJSON = codec.FormatJSON
	formatXML  = codec.FormatXML
	formatADX  = codec.FormatADX
)

func jsonCodec() Codec { return codec.JSON() }
func xmlCodec() Codec  { return codec.XML() }

func requestFormat(contentType string, body []byte) (format, error) {
	return codec.RequestFormat(contentType, body)
}

func responseFormat(r *http.Request) (format, bool, error) { return codec.ResponseFormat(r) }

func fhirFormat(r *http.Request) (format, bool, error) { return codec.FHIRFormat(r) }

func contentType(f format) string { return f.ContentType() }

func indentJSON(b []byte) []byte { return codec.IndentJSON(b) }
