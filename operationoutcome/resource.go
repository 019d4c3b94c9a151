package operationoutcome

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
)

// Resource renders issues as an R4 OperationOutcome. An empty list renders
// one "informational" issue, because R4 requires at least one issue.
func Resource(issues []Issue) *oopb.OperationOutcome {
	if len(issues) == 0 {
		issues = []Issue{{Severity: SeverityInformation, Code: Informational, Diagnostics: "All OK"}}
	}
	out := &oopb.OperationOutcome{}
	for _, is := range issues {
		pi := &oopb.OperationOutcome_Issue{
			Severity: &oopb.OperationOutcome_Issue_SeverityCode{Value: severityValue(is.Severity)},
			Code:     &oopb.OperationOutcome_Issue_CodeType{Value: issueTypeValue(is.Code)},
		}
		if is.Diagnostics != "" {
			pi.Diagnostics = &dpb.String{Value: is.Diagnostics}
		}
		for _, e := range is.Expression {
			pi.Expression = append(pi.Expression, &dpb.String{Value: e})
		}
		out.Issue = append(out.Issue, pi)
	}
	return out
}

func severityValue(s Severity) cpb.IssueSeverityCode_Value {
	if v, ok := cpb.IssueSeverityCode_Value_value[strings.ToUpper(string(s))]; ok {
		return cpb.IssueSeverityCode_Value(v)
	}
	return cpb.IssueSeverityCode_ERROR
}

func issueTypeValue(t IssueType) cpb.IssueTypeCode_Value {
	name := strings.ToUpper(strings.ReplaceAll(string(t), "-", "_"))
	if v, ok := cpb.IssueTypeCode_Value_value[name]; ok {
		return cpb.IssueTypeCode_Value(v)
	}
	return cpb.IssueTypeCode_PROCESSING
}
