// Package operationoutcome is madx's FHIR error vocabulary: the issues a
// request can raise, the error type that carries them with an HTTP status,
// and their rendering as an R4 OperationOutcome. It is a leaf: it imports no
// other madx package, so every layer can speak it.
package operationoutcome

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Severity is an OperationOutcome.issue.severity code.
type Severity string

// The four R4 issue severities.
const (
	SeverityFatal       Severity = "fatal"
	SeverityError       Severity = "error"
	SeverityWarning     Severity = "warning"
	SeverityInformation Severity = "information"
)

// IssueType is an OperationOutcome.issue.code (R4 IssueType value set).
type IssueType string

// The R4 IssueType codes madx raises.
const (
	Invalid       IssueType = "invalid"
	Structure     IssueType = "structure"
	Required      IssueType = "required"
	Value         IssueType = "value"
	Invariant     IssueType = "invariant"
	Security      IssueType = "security"
	Login         IssueType = "login"
	Forbidden     IssueType = "forbidden"
	Processing    IssueType = "processing"
	NotSupported  IssueType = "not-supported"
	Duplicate     IssueType = "duplicate"
	NotFound      IssueType = "not-found"
	Deleted       IssueType = "deleted"
	TooLong       IssueType = "too-long"
	CodeInvalid   IssueType = "code-invalid"
	BusinessRule  IssueType = "business-rule"
	Conflict      IssueType = "conflict"
	Exception     IssueType = "exception"
	Timeout       IssueType = "timeout"
	TooCostly     IssueType = "too-costly"
	Throttled     IssueType = "throttled"
	Informational IssueType = "informational"
	Transient     IssueType = "transient"
	// Incomplete: not all the data needed was available (e.g. a value set
	// that could not be fully expanded).
	Incomplete IssueType = "incomplete"
)

// Issue is one OperationOutcome.issue. Diagnostics is the human text that
// says what was expected and what was found; Expression holds FHIRPath
// expressions of the offending element (R4 issue.expression).
type Issue struct {
	Severity    Severity
	Code        IssueType
	Diagnostics string
	Expression  []string
}

// Issuef builds an issue with a formatted diagnostics text and at most one
// expression (an empty expr adds none).
func Issuef(sev Severity, code IssueType, expr string, format string, args ...any) Issue {
	is := Issue{Severity: sev, Code: code, Diagnostics: fmt.Sprintf(format, args...)}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return is
}

// IsProblem reports whether the issue blocks the request (fatal or error).
func (is Issue) IsProblem() bool { return is.Severity == SeverityFatal || is.Severity == SeverityError }

// HasProblems reports whether any issue is fatal or error.
func HasProblems(issues []Issue) bool {
	for _, is := range issues {
		if is.IsProblem() {
			return true
		}
	}
	return false
}

// Problems returns the fatal and error issues only.
func Problems(issues []Issue) []Issue {
	var out []Issue
	for _, is := range issues {
		if is.IsProblem() {
			out = append(out, is)
		}
	}
	return out
}

// Prefix rewrites every expression that starts with the resource type root
// (e.g. "MeasureReport.group[0]") to sit under prefix (e.g.
// "Bundle.entry[2].resource.group[0]"), as QRPH-58 asks for issues inside a
// Bundle. An expression that is exactly the root becomes the prefix without
// its trailing dot. An expression that already sits in prefix's tree
// (starts with prefix's first element, e.g. "Bundle.entry[2].request.url")
// is kept as it is. Issues are copied; the input is not changed.
func Prefix(issues []Issue, root, prefix string) []Issue {
	tree := prefix
	if i := strings.IndexAny(prefix, ".["); i >= 0 {
		tree = prefix[:i]
	}
	out := make([]Issue, len(issues))
	for i, is := range issues {
		out[i] = is
		if len(is.Expression) == 0 {
			continue
		}
		exprs := make([]string, len(is.Expression))
		for j, e := range is.Expression {
			switch {
			case e == root:
				exprs[j] = strings.TrimSuffix(prefix, ".")
			case strings.HasPrefix(e, root+"."):
				exprs[j] = prefix + e[len(root)+1:]
			case strings.HasPrefix(e, root+"["):
				exprs[j] = strings.TrimSuffix(prefix, ".") + e[len(root):]
			case tree != "" && (strings.HasPrefix(e, tree+".") || strings.HasPrefix(e, tree+"[")):
				exprs[j] = e // already rooted where prefix is
			default:
				exprs[j] = prefix + e
			}
		}
		out[i].Expression = exprs
	}
	return out
}

// Error is an error that carries an HTTP status and the issues to answer
// with. Its cause, if any, is for logs only: it never reaches a client.
type Error struct {
	Status int
	Issues []Issue
	cause  error
}

// New returns an *Error with the given status and issues.
func New(status int, issues ...Issue) *Error {
	return &Error{Status: status, Issues: issues}
}

// Wrap returns an *Error whose private cause is err.
func Wrap(status int, err error, issues ...Issue) *Error {
	return &Error{Status: status, Issues: issues, cause: err}
}

// Errorf returns an *Error with one fatal issue.
func Errorf(status int, code IssueType, expr string, format string, args ...any) *Error {
	return New(status, Issuef(SeverityFatal, code, expr, format, args...))
}

// Error summarises the status, the first issue and the private cause.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if len(e.Issues) > 0 {
		fmt.Fprintf(&b, ": %s", e.Issues[0].Diagnostics)
		if len(e.Issues) > 1 {
			fmt.Fprintf(&b, " (and %d more issues)", len(e.Issues)-1)
		}
	}
	if e.cause != nil {
		fmt.Fprintf(&b, ": %v", e.cause)
	}
	return b.String()
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.cause }

// From turns any error into an *Error. An *Error anywhere in the chain is
// returned as is; anything else is an internal failure whose text stays
// private: the client sees a generic 500 issue.
func From(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return Wrap(http.StatusInternalServerError, err, Issue{
		Severity:    SeverityFatal,
		Code:        Exception,
		Diagnostics: "The server failed to process the request; the failure is logged under this request's id.",
	})
}
