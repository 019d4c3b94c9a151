package measures

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// codeKey identifies a concept by code system and code. It is the key of
// every lookup table, so checking a report hashes two strings and never
// concatenates them.
type codeKey struct {
	system string
	code   string
}

func (k codeKey) String() string { return k.system + "|" + k.code }

func keyOf(c *dtpb.Coding) codeKey {
	return codeKey{system: c.GetSystem().GetValue(), code: c.GetCode().GetValue()}
}

// codingsText renders the codings of a CodeableConcept for diagnostics, e.g.
// "http://hl7.org/fhir/administrative-gender|F"; several codings are joined
// by ", ".
func codingsText(cc *dtpb.CodeableConcept) string {
	var parts []string
	for _, c := range cc.GetCoding() {
		parts = append(parts, keyOf(c).String())
	}
	if len(parts) == 0 {
		if t := cc.GetText().GetValue(); t != "" {
			return "text '" + t + "' without a coding"
		}
		return "no coding"
	}
	return strings.Join(parts, ", ")
}

// firstCode returns the code of the first coding that has one, for labels.
func firstCode(cc *dtpb.CodeableConcept) string {
	for _, c := range cc.GetCoding() {
		if v := c.GetCode().GetValue(); v != "" {
			return v
		}
	}
	return ""
}

// hasCode reports whether any coding of cc carries a code.
func hasCode(cc *dtpb.CodeableConcept) bool { return firstCode(cc) != "" }

// listCodes renders at most max codes for "one of: ..." diagnostics.
func listCodes(codes []string, max int) string {
	if len(codes) <= max {
		return strings.Join(codes, ", ")
	}
	return strings.Join(codes[:max], ", ") + ", ... (" + itoa(len(codes)-max) + " more)"
}

// contentNameOf turns a google/fhir enum name (DEPENDS_ON) into its FHIR
// code (depends-on).
func contentNameOf(enumName string) string {
	return strings.ReplaceAll(strings.ToLower(enumName), "_", "-")
}
