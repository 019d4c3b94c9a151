package fhirxml

import (
	"fmt"
	"strconv"
	"strings"

	bundlepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	oo "github.com/madx-project/madx/operationoutcome"
)

// validationReporter turns google/fhir fhirvalidate reports into issues.
// It implements errorreporter.ErrorReporter. fhirvalidate names elements
// by JSON path ("Bundle.entry[0].resource.measureReport.status"); issues
// carry the FHIRPath instead ("Bundle.entry[0].resource.status").
type validationReporter struct {
	issues []oo.Issue
}

// ReportValidationError records one issue per validation failure;
// jsonformat rejects a resource on any of them, and so does this codec.
func (r *validationReporter) ReportValidationError(path string, err error) error {
	if len(r.issues) < maxIssues {
		r.issues = append(r.issues, validationIssue(path, err))
	}
	return nil
}

// ReportValidationWarning ignores warnings, as jsonformat.Unmarshal does
// (fhirvalidate reports none).
func (r *validationReporter) ReportValidationWarning(string, error) error { return nil }

func validationIssue(path string, err error) oo.Issue {
	expr := fhirPath(path)
	// jsonpbhelper.UnmarshalError renders as `error at "<path>": <details>`.
	details := strings.TrimPrefix(err.Error(), fmt.Sprintf("error at %q: ", path))
	if rest, ok := strings.CutPrefix(details, "missing required field "); ok {
		name, uerr := strconv.Unquote(rest)
		if uerr == nil {
			expr += "." + name
		}
		return oo.Issuef(oo.SeverityFatal, oo.Required, expr, "%s is required but missing.", expr)
	}
	code := oo.Value
	switch {
	case strings.HasPrefix(details, "invalid reference"):
		code = oo.Invalid
	case strings.Contains(details, "exceeds maximum size"):
		code = oo.TooLong
	}
	return oo.Issuef(oo.SeverityFatal, code, expr, "%s: %s.", expr, details)
}

// fhirPath converts a google/fhir JSON path to FHIRPath: the
// ContainedResource member ("measureReport") is dropped, a choice member
// becomes ofType(...), a reference's typed id becomes reference.
func fhirPath(jsonPath string) string {
	segs := strings.Split(jsonPath, ".")
	f := resourceFields()[segs[0]]
	if f == nil {
		return jsonPath
	}
	var b strings.Builder
	b.WriteString(segs[0])
	d := f.Message()
	for i := 1; i < len(segs); i++ {
		name, idx := segs[i], ""
		if j := strings.IndexByte(name, '['); j >= 0 {
			name, idx = name[:j], name[j:]
		}
		var fd protoreflect.FieldDescriptor
		if d != nil {
			fd = d.Fields().ByJSONName(name)
		}
		if fd == nil {
			b.WriteString("." + segs[i])
			d = nil
			continue
		}
		if schemaOf(d).reference && fd.ContainingOneof() != nil {
			name = "reference"
		}
		b.WriteString("." + name + idx)
		d = fd.Message()
		switch {
		case d == nil || i+1 == len(segs):
		case isChoice(d):
			if c := d.Fields().ByJSONName(segs[i+1]); c != nil {
				b.WriteString(".ofType(" + typeCode(c) + ")")
				d = c.Message()
				i++
			}
		case d.FullName() == containedResourceName:
			if r := (&bundlepb.ContainedResource{}).ProtoReflect().Descriptor().Fields().ByJSONName(segs[i+1]); r != nil {
				d = r.Message()
				i++
			}
		}
	}
	return b.String()
}
