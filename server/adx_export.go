package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/adx"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

// maxExportGroups caps the reports of one export at what one ADX import
// takes (adx.Limits), so that every export can be sent back as it is.
const maxExportGroups = 10000

// adxExport serves GET /api/dataValueSets: the stored current reports of
// the dataSets, orgUnits (with children=true, every Location below them)
// and periods (or startDate/endDate) asked for, changed since lastUpdated,
// as ADX, within the caller's read rights (docs/adx.md). It is one store
// search over the report index, as a FHIR search is.
func (s *Server) adxExport(c *gin.Context) (*answer, error) {
	params, bad := parseADXParams(c.Request)
	if len(bad) > 0 {
		return refusedMessage(c, http.StatusBadRequest, bad...)
	}
	sel, bad := parseExportQuery(c.Request.URL.Query(), s.opts.Now())
	if len(bad) > 0 {
		return refusedMessage(c, http.StatusBadRequest, bad...)
	}
	if illegal := sel.illegal(); len(illegal) > 0 {
		// DHIS2 answers an incomplete export query with 409 (E2001-E2008).
		return refusedMessage(c, http.StatusConflict, illegal...)
	}
	ctx, err := s.pipe.WithSnapshot(c.Request.Context())
	if err != nil {
		return nil, err
	}
	cat, err := s.pipe.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	ex := adx.NewExporter(cat, params.schemes)
	q, conflicts, err := sel.query(ctx, ex)
	if err != nil {
		return nil, err
	}
	if len(conflicts) > 0 {
		return adxAnswer(c.Request, importSummary{Status: adxError, Conflicts: dedupe(conflicts)}, http.StatusConflict, "The export names what this server does not hold.")
	}
	if err := s.pipe.LimitSearch(ctx, &q); err != nil {
		return nil, err
	}
	var reports []*mrpb.MeasureReport
	for {
		page, err := s.opts.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Resources {
			if s.pipe.AuthorizeStored(ctx, r) != nil {
				continue // as a search does: only what the caller may read
			}
			rep, err := s.storedReport(r)
			if err != nil {
				return nil, err
			}
			reports = append(reports, rep)
		}
		if len(reports) > maxExportGroups {
			return refusedMessage(c, http.StatusConflict, adx.Conflict{Object: "?", Value: fmt.Sprintf(
				"more than %d reports match, more than one ADX message may hold; narrow the export (fewer periods, orgUnits or dataSets, or a shorter startDate/endDate)", maxExportGroups)})
		}
		if !page.More || len(page.Resources) == 0 {
			break
		}
		k := q.Sort.KeyOf(page.Resources[len(page.Resources)-1])
		q.After = &k
	}
	if len(reports) == 0 {
		// The ADX schema requires a group: say so in FHIR's terms instead.
		return nil, oo.Errorf(http.StatusNotFound, oo.NotFound, "",
			"No stored report matches this export among those this client may read (dataSet, orgUnit and period or startDate/endDate select them).")
	}
	return s.adxOf(ctx, ex, reports)
}

// storedReport decodes a stored MeasureReport.
func (s *Server) storedReport(r store.Resource) (*mrpb.MeasureReport, error) {
	res, err := s.opts.JSON.Decode(r.Body)
	if err != nil {
		return nil, err
	}
	rep, ok := res.(*mrpb.MeasureReport)
	if !ok {
		return nil, fmt.Errorf("adx: MeasureReport/%s is stored as %T", r.ID, res)
	}
	return rep, nil
}

// adxOf is the ADX answer holding one group per report, in order.
func (s *Server) adxOf(ctx context.Context, ex *adx.Exporter, reports []*mrpb.MeasureReport) (*answer, error) {
	msg := &adx.Message{Exported: s.opts.Now().UTC().Format(time.RFC3339)}
	for _, rep := range reports {
		g, err := ex.Group(ctx, rep)
		if err != nil {
			return nil, err
		}
		msg.Groups = append(msg.Groups, g)
	}
	body, err := adx.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: body, contentType: mediaADX + "; charset=utf-8"}, nil
}

// mediaADX is the media type of IHE ADX.
const mediaADX = "application/adx+xml"

func dedupe(cs []adx.Conflict) []adx.Conflict {
	seen := map[adx.Conflict]bool{}
	var out []adx.Conflict
	for _, c := range cs {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}
