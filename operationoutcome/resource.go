package operationoutcome

import (
	"fmt"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
)

// MaxIssues is the most issues one OperationOutcome lists, beside the one
// that says how many more there were (Capped). A Bundle of 10,000 broken
// reports raises hundreds of thousands of issues: rendered whole, that
// answer was 24 MB, and a client that never read it held it in the
// server's memory (issue 14). A facility fixes the first thousand and
// sends again.
const MaxIssues = 1000

// Capped returns the first MaxIssues issues and, when there were more,
// one more issue that counts the rest and says where they are (the
// expressions of the first and last left out); as severe as the worst of
// them, so a client that looks for errors still finds one. Issues within
// the cap are returned as they are.
func Capped(issues []Issue) []Issue {
	if len(issues) <= MaxIssues {
		return issues
	}
	rest := issues[MaxIssues:]
	sev, where := SeverityInformation, ""
	for _, is := range rest {
		if rank(is.Severity) > rank(sev) {
			sev = is.Severity
		}
	}
	first, last := firstExpression(rest, 1), firstExpression(rest, -1)
	switch {
	case first != "" && first != last:
		where = fmt.Sprintf(" They are from %s to %s.", first, last)
	case first != "":
		where = fmt.Sprintf(" They are on %s.", first)
	}
	out := append(issues[:MaxIssues:MaxIssues], Issue{Severity: sev, Code: TooCostly,
		Diagnostics: fmt.Sprintf("%d more issues are not listed: an OperationOutcome from this server lists at most %d.%s Fix those listed and send again to see the rest.", len(rest), MaxIssues, where)})
	return out
}

// firstExpression is the first expression of the issues in order (dir 1)
// or in reverse (dir -1); "" when none has one.
func firstExpression(issues []Issue, dir int) string {
	for i := range issues {
		if dir < 0 {
			i = len(issues) - 1 - i
		}
		if len(issues[i].Expression) > 0 {
			return issues[i].Expression[0]
		}
	}
	return ""
}

func rank(s Severity) int {
	switch s {
	case SeverityFatal:
		return 3
	case SeverityError:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

// Resource renders issues as an R4 OperationOutcome, capped (Capped). An
// empty list renders one "informational" issue, because R4 requires at
// least one issue.
func Resource(issues []Issue) *oopb.OperationOutcome {
	if len(issues) == 0 {
		issues = []Issue{{Severity: SeverityInformation, Code: Informational, Diagnostics: "All OK"}}
	}
	issues = Capped(issues)
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
