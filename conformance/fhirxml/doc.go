// Package fhirxml converts between FHIR R4 XML (http://hl7.org/fhir/R4/xml.html)
// and the google/fhir R4 protocol buffers, the same in-memory model that
// github.com/google/fhir/go/jsonformat produces from FHIR JSON.
//
// The codec is generic: element names, element order, attributes, choice
// types, references and contained resources are all derived from the proto
// descriptors and the FHIR annotations they carry, so it knows every R4
// resource without code per resource.
//
// Decoding is as strict as jsonformat.NewUnmarshaller("UTC", fhirversion.R4):
// primitives are parsed with the same rules, unknown elements are errors, and
// the decoded resource goes through google/fhir's fhirvalidate (required
// elements, primitive formats, reference target types). XML adds its own
// rules: elements must be in the FHIR namespace and in the order the
// specification defines, singletons may not repeat, and primitive values live
// in value attributes, never in text.
//
// The decoder is meant to face the internet. It never resolves DTDs,
// entities, external resources or XInclude: any DOCTYPE or other markup
// declaration is rejected, and nesting depth and element count are bounded
// (see Decoder). Only UTF-8 input is accepted.
//
// For speed, a small scanner reads the usual shape of FHIR XML; a body it
// does not take on, or that has any problem, is read again by encoding/xml
// in strict mode, which gives the verdict and the diagnostics (see
// BENCHMARKS.md).
//
// Every decoding failure is an *operationoutcome.Error whose issues each name
// what was expected, what was found and where (as a FHIRPath expression when
// an element can be named).
package fhirxml

// Namespaces of FHIR XML (http://hl7.org/fhir/R4/xml.html#1.17.1) and of the
// narrative (http://hl7.org/fhir/R4/narrative.html#xhtml).
const (
	// FHIRNamespace is the namespace of every FHIR element.
	FHIRNamespace = "http://hl7.org/fhir"
	// XHTMLNamespace is the namespace of the narrative div.
	XHTMLNamespace = "http://www.w3.org/1999/xhtml"
)
