package measures

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"github.com/madx-project/madx/internal/fhirtime"
)

// periodOrdered reports whether start ≤ end honoring precision (FHIR
// invariant per-1): some instant of start's interval is not after some
// instant of end's interval, so 2025-01-01..2025-01-01 is a valid one-day
// period and 2025-01-31..2025-01-01 is not.
func periodOrdered(start, end *dtpb.DateTime) bool {
	lo, _ := fhirtime.Span(start)
	_, hi := fhirtime.Span(end)
	return lo < hi
}
