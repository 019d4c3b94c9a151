package pipeline

import (
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	oo "github.com/madx-project/madx/operationoutcome"
)

// idPattern is FHIR R4's id datatype (datatypes.html#id).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// CheckID answers 400 when id is not a FHIR id, and 501 when it is a FHIR
// keyword or operation ("_history", "$validate") that has no route of its
// own on the type.
func CheckID(id string) error {
	if strings.HasPrefix(id, "_") || strings.HasPrefix(id, "$") {
		return oo.Errorf(http.StatusNotImplemented, oo.NotSupported, "",
			"%q is a FHIR keyword or operation this server does not implement on this resource type; see [base]/metadata.", id)
	}
	if id == "." || id == ".." {
		// Valid by the id datatype's pattern, but a path segment every URL
		// resolver rewrites: Type/.. is the base.
		return oo.Errorf(http.StatusBadRequest, oo.Value, "",
			"%q cannot be an id here: it is a relative path segment, so Type/%s would not name a resource. Use letters, digits, '-' or '.' with at least one other character.", id, id)
	}
	if !idPattern.MatchString(id) {
		return oo.Errorf(http.StatusBadRequest, oo.Value, "",
			"%q is not a valid FHIR id: expected 1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'.", id)
	}
	return nil
}

// ParseVersionTag is the one reader of version tags, for the If-Match
// header and Bundle.entry.request.ifMatch alike: W/"3", "3" or 3 (HAPI
// accepts all three); 0 when empty. Anything else, such as W/"3abc", is
// an error.
func ParseVersionTag(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a version tag", h)
	}
	return n, nil
}

// refuseConditionalCreate answers 501 to a conditional create (If-None-Exist,
// or entry.request.ifNoneExist at expr): madx does not implement it, and
// ignoring it made the duplicate the client asked to avoid. A MeasureReport
// needs none: its business key already turns a resent create into an
// update of the stored report (docs/validation.md).
func refuseConditionalCreate(query, expr string) error {
	if strings.TrimSpace(query) == "" {
		return nil
	}
	return oo.Errorf(http.StatusNotImplemented, oo.NotSupported, expr,
		"Conditional create (If-None-Exist: %s) is not supported by this server; nothing was stored. PUT the resource to its id, or POST it without the condition (a resent MeasureReport updates the stored one by its measure, subject and period).", query)
}

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
