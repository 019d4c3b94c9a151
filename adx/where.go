package adx

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var reportPath = regexp.MustCompile(`^MeasureReport\.group\[(\d+)\](?:\.stratifier\[(\d+)\]\.stratum\[(\d+)\])?`)

// Where says where in the ADX message the element of the mapped report
// that a FHIRPath expression names came from, so that the validator's
// issues reach the sender in the sender's terms: "/adx/group[1]/dataValue[7]
// (MeasureReport.group[0].stratifier[0].stratum[3].measureScore)".
func (r *Report) Where(expr string) string {
	at := where(r.Group)
	if strings.HasPrefix(expr, "MeasureReport.subject") {
		return at + "/@orgUnit (" + expr + ")"
	}
	if m := reportPath.FindStringSubmatch(expr); m != nil {
		g, _ := strconv.Atoi(m[1])
		switch {
		case m[2] != "" && g < len(r.strata):
			s, _ := strconv.Atoi(m[2])
			k, _ := strconv.Atoi(m[3])
			if s < len(r.strata[g]) && k < len(r.strata[g][s]) {
				at = fmt.Sprintf("%s/dataValue[%d]", at, r.strata[g][s][k])
			}
		case g < len(r.origin) && r.origin[g] > 0:
			at = fmt.Sprintf("%s/dataValue[%d]", at, r.origin[g])
		}
	}
	if expr == "" {
		return at
	}
	return at + " (" + expr + ")"
}
