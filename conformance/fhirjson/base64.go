package fhirjson

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unsafe"

	"github.com/madx-project/madx/operationoutcome"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// base64SeparatorStrideURL marks a base64Binary that was written in
// fixed-width chunks, so that it is written back the same way.
const base64SeparatorStrideURL = "https://g.co/fhir/StructureDefinition/base64Binary-separatorStride"

// base64 sets a base64Binary from the raw text between the quotes, as
// jsonformat does (escapes are not base64 characters, so they fail).
func (d *decoder) base64(m unsafe.Pointer, cm *msgInfo, raw []byte, escaped bool) bool {
	v, ok := asGo[dpb.Base64Binary](m, cm, base64Type)
	if ok && !escaped {
		data := append([]byte(nil), raw...)
		if b, stride, sep, err := decodeBase64(data); err == nil {
			if stride > 0 {
				v.Extension = append(v.Extension, separatorStride(strings.Repeat(" ", sep), uint32(stride)))
			}
			v.Value = b
			return true
		}
	}
	d.addf(operationoutcome.Value, false, "expected base64 data (RFC 4648), found %s", quote(raw))
	return false
}

// separatorStride is the extension jsonformat stores the chunking in.
func separatorStride(sep string, stride uint32) *dpb.Extension {
	return &dpb.Extension{
		Url: &dpb.Uri{Value: base64SeparatorStrideURL},
		Extension: []*dpb.Extension{
			{
				Url:   &dpb.Uri{Value: "separator"},
				Value: &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_StringValue{StringValue: &dpb.String{Value: sep}}},
			},
			{
				Url:   &dpb.Uri{Value: "stride"},
				Value: &dpb.Extension_ValueX{Choice: &dpb.Extension_ValueX_PositiveInt{PositiveInt: &dpb.PositiveInt{Value: stride}}},
			},
		},
	}
}

// filterBase64Spaces is jsonformat's: it removes the separators of a
// chunked base64 string and reports the chunk and separator widths, which
// must be the same throughout.
func filterBase64Spaces(p []byte) (nn, stride, sep int, err error) {
	n := len(p)
	chunkStart := 0
	for i := 0; i < n; i++ {
		c := p[i]
		if c != ' ' {
			if i != nn {
				p[nn] = c
			}
			nn++
			continue
		}
		curStride := i - chunkStart
		if stride == 0 {
			stride = curStride
		}
		if curStride != stride {
			return 0, 0, 0, fmt.Errorf("found stride of length %d, previous stride was %d", curStride, stride)
		}
		chunkStart = i
		for ; i < n && p[i] == ' '; i++ {
		}
		curSep := i - chunkStart
		if sep == 0 {
			sep = curSep
		}
		if curSep != sep {
			return 0, 0, 0, fmt.Errorf("found separator of length %d, previous separator was %d", curSep, sep)
		}
		chunkStart = i
		i--
	}
	return nn, stride, sep, nil
}

func decodeBase64(data []byte) ([]byte, int, int, error) {
	n, stride, sep, err := filterBase64Spaces(data)
	if err != nil {
		return nil, 0, 0, err
	}
	data = data[:n]
	n, err = base64.StdEncoding.Decode(data, data)
	if err != nil {
		return nil, 0, 0, err
	}
	return data[:n], stride, sep, nil
}

// encodeBase64 is jsonformat's serializeBinary without its side effect of
// removing the separator extension from the proto.
func encodeBase64(v *dpb.Base64Binary) string {
	encoded := base64.StdEncoding.EncodeToString(v.GetValue())
	ext := findExtension(v.GetExtension(), base64SeparatorStrideURL)
	if ext == nil {
		return encoded
	}
	sep, stride := "", 0
	for _, e := range ext.GetExtension() {
		switch e.GetUrl().GetValue() {
		case "separator":
			sep = e.GetValue().GetStringValue().GetValue()
		case "stride":
			stride = int(e.GetValue().GetPositiveInt().GetValue())
		}
	}
	if stride <= 0 {
		// jsonformat loops forever here; a chunk width of 0 means no chunks.
		return encoded
	}
	var b strings.Builder
	pos := 0
	for ; (pos+1)*stride < len(encoded); pos++ {
		b.WriteString(encoded[pos*stride : (pos+1)*stride])
		b.WriteString(sep)
	}
	b.WriteString(encoded[pos*stride:])
	return b.String()
}

func findExtension(exts []*dpb.Extension, url string) *dpb.Extension {
	for _, e := range exts {
		if e.GetUrl().GetValue() == url {
			return e
		}
	}
	return nil
}
