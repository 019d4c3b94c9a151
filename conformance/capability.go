package conformance

import (
	"encoding/json"
	"slices"
	"time"
)

// CapabilityOptions describe the running server for its CapabilityStatement.
type CapabilityOptions struct {
	BaseURL  string
	Version  string // madx version
	Date     time.Time
	Formats  []string // e.g. "json", "xml"
	Security string   // rest.security.description; empty for none
}

type capabilityStatement struct {
	ResourceType   string            `json:"resourceType"`
	Status         string            `json:"status"`
	Date           string            `json:"date"`
	Publisher      string            `json:"publisher"`
	Kind           string            `json:"kind"`
	Software       capSoftware       `json:"software"`
	Implementation capImplementation `json:"implementation"`
	FHIRVersion    string            `json:"fhirVersion"`
	Format         []string          `json:"format"`
	Rest           []capRest         `json:"rest"`
}

type capSoftware struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type capImplementation struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

type capRest struct {
	Mode          string           `json:"mode"`
	Documentation string           `json:"documentation,omitempty"`
	Security      *capSecurity     `json:"security,omitempty"`
	Resource      []capResource    `json:"resource"`
	Interaction   []capInteraction `json:"interaction,omitempty"`
}

type capSecurity struct {
	Description string `json:"description"`
}

type capResource struct {
	Type              string           `json:"type"`
	Profile           string           `json:"profile,omitempty"`
	Documentation     string           `json:"documentation,omitempty"`
	Interaction       []capInteraction `json:"interaction"`
	Versioning        string           `json:"versioning"`
	ReadHistory       bool             `json:"readHistory"`
	UpdateCreate      bool             `json:"updateCreate"`
	ConditionalDelete string           `json:"conditionalDelete,omitempty"`
	SearchParam       []capSearchParam `json:"searchParam,omitempty"`
	Operation         []capOperation   `json:"operation,omitempty"`
}

type capOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

type capSearchParam struct {
	Name       string `json:"name"`
	Definition string `json:"definition,omitempty"`
	Type       string `json:"type"`
}

type capInteraction struct {
	Code string `json:"code"`
}

// CapabilityStatement renders the CapabilityStatement (FHIR JSON) of a
// server that serves exactly Resources(), ReadOnlyResources() and
// SystemInteractions().
func CapabilityStatement(o CapabilityOptions) ([]byte, error) {
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement", Status: "active", Kind: "instance",
		Date:      o.Date.UTC().Format(time.RFC3339),
		Publisher: "madx",
		Software:  capSoftware{Name: "madx", Version: o.Version},
		Implementation: capImplementation{URL: o.BaseURL,
			Description: "madx: IHE mADX Content Consumer (Send Aggregate Report [QRPH-58]) and Aggregate Report Definition source (Retrieve Aggregate Report Definition [QRPH-59])"},
		FHIRVersion: FHIRVersion,
		Format:      o.Formats,
	}
	rest := capRest{Mode: "server", Documentation: "MeasureReports are validated against their Measure, its value sets and the known reporting Locations (IHE mADX)."}
	if o.Security != "" {
		rest.Security = &capSecurity{Description: o.Security}
	}
	for _, spec := range append(Resources(), ReadOnlyResources()...) {
		r := capResource{Type: spec.Type, Profile: spec.Profile, Documentation: spec.Documentation,
			Versioning: "versioned", ReadHistory: slices.Contains(spec.Interactions, VRead), UpdateCreate: slices.Contains(spec.Interactions, Update)}
		if r.UpdateCreate {
			r.Versioning = "versioned-update"
		}
		for _, in := range spec.Interactions {
			r.Interaction = append(r.Interaction, capInteraction{Code: string(in)})
		}
		for _, p := range append(CommonSearchParams(), spec.SearchParams...) {
			r.SearchParam = append(r.SearchParam, capSearchParam{Name: p.Name, Definition: p.Definition, Type: p.Type})
		}
		for _, op := range spec.Operations {
			r.Operation = append(r.Operation, capOperation{Name: op.Name, Definition: op.Definition})
		}
		rest.Resource = append(rest.Resource, r)
	}
	for _, in := range SystemInteractions() {
		rest.Interaction = append(rest.Interaction, capInteraction{Code: string(in)})
	}
	cs.Rest = []capRest{rest}
	return json.Marshal(cs)
}
