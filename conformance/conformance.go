// Package conformance is the FHIR dialect madx speaks: its media types and
// the one table of resource types and interactions that both the server's
// router and its CapabilityStatement are generated from, so the two cannot
// disagree (a test in server checks it).
package conformance

// FHIRVersion is the FHIR release madx implements.
const FHIRVersion = "4.0.1"

// Media types madx reads and writes.
const (
	MediaFHIRJSON = "application/fhir+json"
	MediaFHIRXML  = "application/fhir+xml"
	MediaJSON     = "application/json"
	MediaXML      = "application/xml"
	MediaTextXML  = "text/xml"
	// MediaADX is IHE ADX (urn:ihe:qrph:adx:2015), which madx writes for
	// MeasureReports (docs/adx.md); DHIS2's documentation spells it
	// application/xml+adx.
	MediaADX = "application/adx+xml"
)

// Interaction is a FHIR RESTful interaction code (CapabilityStatement
// rest.resource.interaction.code or rest.interaction.code).
type Interaction string

// The interactions madx serves.
const (
	Read            Interaction = "read"
	VRead           Interaction = "vread"
	Update          Interaction = "update"
	Patch           Interaction = "patch"
	Delete          Interaction = "delete"
	HistoryInstance Interaction = "history-instance"
	HistoryType     Interaction = "history-type"
	Create          Interaction = "create"
	SearchType      Interaction = "search-type"
	Transaction     Interaction = "transaction"
	Batch           Interaction = "batch"
	SearchSystem    Interaction = "search-system"
	HistorySystem   Interaction = "history-system"
)

// ResourceSpec is what madx serves for one resource type.
type ResourceSpec struct {
	Type string
	// Profile is the canonical of the profile madx validates the type
	// against, if any.
	Profile string
	// Interactions lists the instance- and type-level interactions served.
	Interactions []Interaction
	// Documentation is a one-line description for the CapabilityStatement.
	Documentation string
	// SearchParams are the search parameters served on the type (besides
	// CommonSearchParams); the server compiles each from this table.
	SearchParams []SearchParam
	// Operations are the FHIR operations served on the type.
	Operations []Operation
	// DefaultSort is the _sort a search of the type uses when the client
	// sends none; empty means _id.
	DefaultSort string
}

// Operation is a FHIR operation served on a type, at the type level
// (POST [base]/Type/$name) and the instance level (POST
// [base]/Type/[id]/$name).
type Operation struct {
	Name       string // without the $
	Definition string // the canonical OperationDefinition
	// Reads marks an operation that only reads (it changes nothing, like
	// $evaluate-measure): served at the instance level, by GET with its
	// parameters in the query as well as by POST with a Parameters body.
	Reads bool
}

// Validate is FHIR R4's $validate (resource-operation-validate.html).
var Validate = Operation{Name: "validate", Definition: "http://hl7.org/fhir/OperationDefinition/Resource-validate"}

// Completeness is madx's $completeness on a Measure: expected, received,
// on-time, late and missing reports per period and Location
// (docs/reporting.md).
var Completeness = Operation{Name: "completeness", Definition: "https://github.com/madx-project/madx/fhir/OperationDefinition/Measure-completeness", Reads: true}

// Aggregate is madx's $aggregate on a Measure: the stored reports summed
// over a longer period and the Locations below one (docs/aggregation.md),
// with the parameter names of FHIR's $evaluate-measure.
var Aggregate = Operation{Name: "aggregate", Definition: "https://github.com/madx-project/madx/fhir/OperationDefinition/Measure-aggregate", Reads: true}

// OperationRoutes returns the routes of an operation on a type.
func OperationRoutes(typ string, op Operation) []Route {
	if op.Reads {
		return []Route{{"GET", "/" + typ + "/:id/$" + op.Name}, {"POST", "/" + typ + "/:id/$" + op.Name}}
	}
	return []Route{{"POST", "/" + typ + "/$" + op.Name}, {"POST", "/" + typ + "/:id/$" + op.Name}}
}

// SearchParam is one search parameter: its FHIR name and type, and the
// extracted index field (Target) the server searches it on.
type SearchParam struct {
	Name string
	// Type is the FHIR search parameter type: token, reference, date,
	// string, uri.
	Type string
	// Target names the index field: "id", "lastUpdated", "url", "version",
	// "status", "measure", "subject", "period", "date", "token:<name>"
	// for a resource's extracted system|value tokens of that name, or
	// "code:<name>" for extracted tokens "<name>=<value>" that a value
	// matches exactly as written (AuditEvent's agent, entity, outcome).
	Target string
	// Definition is the canonical SearchParameter it implements.
	Definition string
}

// CommonSearchParams are served on every resource type.
func CommonSearchParams() []SearchParam {
	return []SearchParam{
		{Name: "_id", Type: "token", Target: "id", Definition: "http://hl7.org/fhir/SearchParameter/Resource-id"},
		{Name: "_lastUpdated", Type: "date", Target: "lastUpdated", Definition: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"},
	}
}

func param(typ, name, ptype, target string) SearchParam {
	return SearchParam{Name: name, Type: ptype, Target: target, Definition: "http://hl7.org/fhir/SearchParameter/" + typ + "-" + name}
}

// definitionParams are the parameters of a canonical resource (FHIR R4
// conformance-url, -version, -name, -status).
func definitionParams(typ string) []SearchParam {
	return []SearchParam{
		param(typ, "url", "uri", "url"), param(typ, "version", "token", "version"),
		param(typ, "name", "string", "token:name"), param(typ, "status", "token", "status"),
	}
}

// ValidatedAgainstParam is madx's search parameter on the Measure version
// that validated a stored report, as url|version (docs/validation.md).
const ValidatedAgainstParam = "https://github.com/madx-project/madx/fhir/SearchParameter/MeasureReport-validated-against"

// Route is one HTTP route an interaction is served on; Path is relative to
// the FHIR base and uses gin's ":name" parameters.
type Route struct {
	Method string
	Path   string
}

// Routes returns the HTTP routes of one interaction on one resource type,
// or nil for system-level interactions (see SystemRoutes).
func Routes(typ string, in Interaction) []Route {
	switch in {
	case Read:
		return []Route{{"GET", "/" + typ + "/:id"}}
	case VRead:
		return []Route{{"GET", "/" + typ + "/:id/_history/:vid"}}
	case Update:
		return []Route{{"PUT", "/" + typ + "/:id"}}
	case Patch:
		return []Route{{"PATCH", "/" + typ + "/:id"}}
	case Delete:
		return []Route{{"DELETE", "/" + typ + "/:id"}}
	case HistoryInstance:
		return []Route{{"GET", "/" + typ + "/:id/_history"}}
	case HistoryType:
		return []Route{{"GET", "/" + typ + "/_history"}}
	case Create:
		return []Route{{"POST", "/" + typ}}
	case SearchType:
		return []Route{{"GET", "/" + typ}, {"POST", "/" + typ + "/_search"}}
	}
	return nil
}

// SystemRoutes returns the routes of a system-level interaction.
func SystemRoutes(in Interaction) []Route {
	switch in {
	case Transaction, Batch:
		return []Route{{"POST", "/"}}
	case HistorySystem:
		return []Route{{"GET", "/_history"}}
	case SearchSystem:
		return []Route{{"GET", "/"}}
	}
	return nil
}

// Definitions are the resource types a jurisdiction publishes.
var definitionTypes = []string{"Measure", "ValueSet", "CodeSystem", "Location", "Organization", "ConceptMap"}

// DefinitionTypes returns the resource types that define what reports are
// checked against (loadable with `madx load`).
func DefinitionTypes() []string { return append([]string(nil), definitionTypes...) }

// Resources returns the table of served resource types, in the order the
// CapabilityStatement lists them. Each call returns a fresh copy.
func Resources() []ResourceSpec {
	crud := []Interaction{Read, VRead, Update, Delete, HistoryInstance, Create, SearchType, HistoryType}
	return []ResourceSpec{
		{Type: "Measure", Profile: "https://profiles.ihe.net/QRPH/mADX/StructureDefinition/mADX-Measure", Interactions: crud,
			Operations:    []Operation{Validate, Completeness, Aggregate},
			Documentation: "Aggregate Report Definitions: Retrieve Aggregate Report Definition [QRPH-59].",
			SearchParams: append(definitionParams("Measure"), param("Measure", "title", "string", "token:title"),
				param("Measure", "identifier", "token", "token:identifier"), param("Measure", "publisher", "string", "token:publisher"))},
		{Type: "MeasureReport", Profile: "https://profiles.ihe.net/QRPH/mADX/StructureDefinition/mADX-MeasureReport", Interactions: crud,
			Operations:    []Operation{Validate},
			Documentation: "Aggregate Reports: Send Aggregate Report [QRPH-58].",
			SearchParams: []SearchParam{
				param("MeasureReport", "measure", "reference", "measure"), param("MeasureReport", "subject", "reference", "subject"),
				param("MeasureReport", "reporter", "reference", "token:reporter"), param("MeasureReport", "period", "date", "period"),
				param("MeasureReport", "status", "token", "status"), param("MeasureReport", "date", "date", "date"),
				param("MeasureReport", "identifier", "token", "token:identifier"),
				{Name: "validated-against", Type: "token", Target: "token:validated-against", Definition: ValidatedAgainstParam},
				{Name: "_tag", Type: "token", Target: "token:_tag", Definition: "http://hl7.org/fhir/SearchParameter/Resource-tag"},
			}},
		{Type: "ValueSet", Interactions: crud, Documentation: "Value sets that Measure.relatedArtifact names for stratifier values.",
			SearchParams: definitionParams("ValueSet")},
		{Type: "CodeSystem", Interactions: crud, Documentation: "Code systems behind the value sets.",
			SearchParams: definitionParams("CodeSystem")},
		{Type: "Location", Interactions: crud, Documentation: "Known reporting locations (MeasureReport.subject).",
			SearchParams: []SearchParam{
				param("Location", "identifier", "token", "token:identifier"), param("Location", "name", "string", "token:name"),
				param("Location", "partof", "reference", "token:partof"), param("Location", "organization", "reference", "token:organization"),
				param("Location", "type", "token", "token:type"),
			}},
		{Type: "Organization", Interactions: crud, Documentation: "Known reporting organizations (MeasureReport.reporter).",
			SearchParams: []SearchParam{
				param("Organization", "identifier", "token", "token:identifier"), param("Organization", "name", "string", "token:name"),
				param("Organization", "partof", "reference", "token:partof"), param("Organization", "type", "token", "token:type"),
			}},
		{Type: "ConceptMap", Interactions: crud,
			Documentation: "Site maps: a sender's facility codes (group.source, its identifier system) to the jurisdiction's Locations (docs/validation.md, Site codes).",
			SearchParams:  definitionParams("ConceptMap")},
	}
}

// ReadOnlyResources returns the types served for reading only, in the
// order the CapabilityStatement lists them after Resources(): the audit
// trail, which madx writes itself and clients never do. They are not in
// Resources(), which is the table of what clients may write.
func ReadOnlyResources() []ResourceSpec {
	// agent and entity are reference parameters in FHIR; madx matches
	// them, like the tokens, against what it recorded (the principal's
	// name, Type/id, a measure or subject), exactly.
	code := func(name, ptype string) SearchParam { return param("AuditEvent", name, ptype, "code:"+name) }
	return []ResourceSpec{
		{Type: "AuditEvent", Interactions: []Interaction{Read, SearchType}, DefaultSort: "-date",
			Documentation: "The audit trail: one AuditEvent per write attempt, whatever its outcome; read and searched with system/AuditEvent.read.",
			SearchParams: []SearchParam{
				param("AuditEvent", "date", "date", "period"), code("agent", "reference"), code("entity", "reference"),
				code("outcome", "token"), code("action", "token"), code("subtype", "token"),
			}},
	}
}

// NotImplemented lists interactions madx answers with 501 on every served
// type, so a client learns it is not there rather than that the URL is wrong.
func NotImplemented() []Interaction { return []Interaction{Patch} }

// SystemInteractions returns the system-level interactions served.
func SystemInteractions() []Interaction { return []Interaction{Transaction, Batch, HistorySystem} }
