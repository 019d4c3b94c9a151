package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	"github.com/madx-project/madx/adx"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

// adxExport serves GET /api/dataValueSets?dataSet=&period=&orgUnit= (each
// repeatable): the stored current report of every combination, as ADX,
// within the caller's read rights (docs/adx.md). Combinations with no
// stored report are left out, as DHIS2 leaves out values it does not hold.
func (s *Server) adxExport(c *gin.Context) (*answer, error) {
	params, bad := parseADXParams(c.Request)
	q := c.Request.URL.Query()
	for _, name := range []string{"dataSet", "period", "orgUnit"} {
		if len(q[name]) == 0 {
			bad = append(bad, adx.Conflict{Object: "?" + name, Value: "the " + name + " parameter is required (repeat it for several); startDate, endDate, children and lastUpdated are not supported yet"})
		}
	}
	if len(bad) > 0 {
		return refusedMessage(c, http.StatusBadRequest, bad...)
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
	var keys []string
	var conflicts []adx.Conflict
	for _, ds := range q["dataSet"] {
		for _, ou := range q["orgUnit"] {
			for _, pe := range q["period"] {
				key, cs, err := ex.Key(ctx, ds, ou, pe)
				if err != nil {
					return nil, err
				}
				conflicts = append(conflicts, cs...)
				if key != "" {
					keys = append(keys, key)
				}
			}
		}
	}
	if len(conflicts) > 0 {
		return adxAnswer(c.Request, importSummary{Status: adxError, Conflicts: dedupe(conflicts)}, http.StatusConflict, "The export names what this server does not hold.")
	}
	holders, err := s.opts.Store.ReportKeyHolders(ctx, keys)
	if err != nil {
		return nil, err
	}
	msg := &adx.Message{Exported: s.opts.Now().UTC().Format(time.RFC3339)}
	for _, key := range keys {
		id, ok := holders[key]
		if !ok {
			continue
		}
		r, err := s.opts.Store.Read(ctx, "MeasureReport", id)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if s.pipe.AuthorizeStored(ctx, r) != nil {
			continue // as a search does: only what the caller may read
		}
		res, err := s.opts.JSON.Decode(r.Body)
		if err != nil {
			return nil, err
		}
		rep, ok := res.(*mrpb.MeasureReport)
		if !ok {
			continue
		}
		g, err := ex.Group(ctx, rep)
		if err != nil {
			return nil, err
		}
		msg.Groups = append(msg.Groups, g)
	}
	if len(msg.Groups) == 0 {
		// The ADX schema requires a group: say so in FHIR's terms instead.
		return nil, oo.Errorf(http.StatusNotFound, oo.NotFound, "",
			"No stored report matches this export among those this client may read (dataSet, orgUnit and period select them).")
	}
	body, err := adx.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: body, contentType: "application/adx+xml; charset=utf-8"}, nil
}

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
