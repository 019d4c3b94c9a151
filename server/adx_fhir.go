package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/adx"
	oo "github.com/madx-project/madx/operationoutcome"
)

// asADX writes a FHIR answer as ADX, when ADX was negotiated: a
// MeasureReport (read, vread, a write's representation) becomes a message
// of one group, a searchset of MeasureReports one group per match, in the
// order of the page, with the page's links as HTTP Link headers in the
// answer's header (an ADX message has no place for them). The groups are those the export gives
// (docs/adx.md), in DHIS2's default code scheme. ok is false for any other
// answer, which is then negotiated among the FHIR formats.
func (s *Server) asADX(c *gin.Context, a *answer) (_ *answer, ok bool, _ error) {
	res, err := s.opts.JSON.Decode(a.body)
	if err != nil {
		return nil, false, err
	}
	var reports []*mrpb.MeasureReport
	var links http.Header
	switch r := res.(type) {
	case *mrpb.MeasureReport:
		reports = append(reports, r)
	case *bcrpb.Bundle:
		if r.GetType().GetValue() != cpb.BundleTypeCode_SEARCHSET {
			return nil, false, nil
		}
		for _, e := range r.GetEntry() {
			if e.GetSearch().GetMode().GetValue() != cpb.SearchEntryModeCode_MATCH {
				continue // the outcome of ignored parameters, included resources
			}
			rep := e.GetResource().GetMeasureReport()
			if rep == nil {
				return nil, false, nil
			}
			reports = append(reports, rep)
		}
		links = http.Header{}
		for _, l := range r.GetLink() {
			if rel := l.GetRelation().GetValue(); rel != "self" {
				links.Add("Link", "<"+l.GetUrl().GetValue()+`>; rel="`+rel+`"`)
			}
		}
	default:
		return nil, false, nil
	}
	q := c.Request.URL.Query()
	if q.Has("_summary") || q.Has("_elements") {
		return nil, true, oo.Errorf(http.StatusBadRequest, oo.NotSupported, "",
			"_summary and _elements shape FHIR answers; ADX holds whole reports: leave them out, or ask for FHIR JSON or XML.")
	}
	if len(reports) == 0 {
		// The ADX schema requires a group, as for the export.
		return nil, true, oo.Errorf(http.StatusNotFound, oo.NotFound, "",
			"No MeasureReport matches this search among those this client may read, and an ADX message must hold one; ask for FHIR JSON or XML to get the empty Bundle.")
	}
	ctx, err := s.pipe.WithSnapshot(c.Request.Context())
	if err != nil {
		return nil, true, err
	}
	cat, err := s.pipe.Catalog(ctx)
	if err != nil {
		return nil, true, err
	}
	out, err := s.adxOf(ctx, adx.NewExporter(cat, adx.Options{}), reports)
	if err != nil {
		return nil, true, err
	}
	out.status, out.header = a.status, links
	return out, true, nil
}
