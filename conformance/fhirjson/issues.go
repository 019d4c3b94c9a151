package fhirjson

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/madx-project/madx/operationoutcome"
)

// pathStep is one step of the FHIRPath of the element being decoded. It
// holds no pointer, so pushing one writes none to the heap: a pointer
// write costs a write barrier while the GC runs, and there is a step per
// member.
type pathStep struct {
	name  stepName // "group", "value.ofType(Quantity)"; 0 ("") for a pure index step
	index int      // array index, or -1
}

// stepName numbers a path step's name in stepNames.
type stepName int32

// stepNames holds every step name, once: member names come from the
// tables, which are built once per type, and resource type names from the
// R4 set, so it stays small.
var stepNames = struct {
	sync.Mutex
	names []string
	ids   map[string]stepName
}{names: []string{""}, ids: map[string]stepName{"": 0}}

// stepNameOf returns the number of name.
func stepNameOf(name string) stepName {
	stepNames.Lock()
	defer stepNames.Unlock()
	id, ok := stepNames.ids[name]
	if !ok {
		id = stepName(len(stepNames.names))
		stepNames.names = append(stepNames.names, name)
		stepNames.ids[name] = id
	}
	return id
}

// problem is one issue found while decoding. strict marks problems that
// jsonformat does not report (duplicate keys, null, depth...): the
// differential tests use it to tell deliberate strictness from a bug.
type problem struct {
	issue  operationoutcome.Issue
	strict bool
	// entry is the index of the top-level Bundle.entry the problem lies in,
	// or -1.
	entry int
}

// path renders the current FHIRPath, e.g. "MeasureReport.group[0].count".
func (d *decoder) path() string {
	stepNames.Lock()
	names := stepNames.names
	stepNames.Unlock()
	var b strings.Builder
	for i, st := range d.steps {
		if st.name != 0 {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(names[st.name])
		}
		if st.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(st.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func (d *decoder) push(name stepName) { d.steps = append(d.steps, pathStep{name: name, index: -1}) }
func (d *decoder) pop()               { d.steps = d.steps[:len(d.steps)-1] }
func (d *decoder) setIndex(i int)     { d.steps[len(d.steps)-1].index = i }
func (d *decoder) report(p problem)   { d.problems = append(d.problems, p) }

// addf records a problem at the current path. Diagnostics start with the
// path so that logs read on their own.
func (d *decoder) addf(code operationoutcome.IssueType, strict bool, format string, args ...any) {
	d.addAt(d.path(), code, strict, format, args...)
}

// addAt records a problem at an explicit path (a missing element is
// reported at its parent).
func (d *decoder) addAt(expr string, code operationoutcome.IssueType, strict bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if expr != "" {
		msg = expr + ": " + msg
	}
	d.report(problem{
		issue: operationoutcome.Issue{
			Severity:    operationoutcome.SeverityFatal,
			Code:        code,
			Diagnostics: msg,
			Expression:  exprList(expr),
		},
		strict: strict,
		entry:  d.entry,
	})
}

func exprList(expr string) []string {
	if expr == "" {
		return nil
	}
	return []string{expr}
}

// quote renders found input for a diagnostic: at most 40 characters,
// quoted, invalid UTF-8 escaped, so no diagnostic echoes a whole payload.
func quote(b []byte) string {
	const limit = 40
	if utf8.RuneCount(b) > limit {
		n := 0
		for range limit {
			_, sz := utf8.DecodeRune(b[n:])
			n += sz
		}
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

// toError turns collected problems into the error callers get.
func toError(ps []problem) error {
	if len(ps) == 0 {
		return nil
	}
	issues := make([]operationoutcome.Issue, len(ps))
	for i, p := range ps {
		issues[i] = p.issue
	}
	return operationoutcome.New(http.StatusBadRequest, issues...)
}
