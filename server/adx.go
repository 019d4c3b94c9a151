package server

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/adx"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// adxParams are the query parameters DHIS2 reads on an ADX import.
type adxParams struct {
	schemes  adx.Options
	dryRun   bool
	strategy string // CREATE_AND_UPDATE, CREATE, UPDATE, DELETE
	atomic   bool   // atomicMode=ALL
}

func parseADXParams(r *http.Request) (adxParams, []adx.Conflict) {
	q := r.URL.Query()
	var p adxParams
	var conflicts []adx.Conflict
	bad := func(name, format string, args ...any) {
		conflicts = append(conflicts, adx.Conflict{Object: "?" + name, Value: fmt.Sprintf(format, args...)})
	}
	id, err := adx.ParseScheme(q.Get("idScheme"))
	if err != nil {
		bad("idScheme", "%s", err)
	}
	p.schemes = adx.Options{DataSet: id, DataElement: id, OrgUnit: id}
	for _, s := range []struct {
		name string
		to   *adx.Scheme
	}{{"dataElementIdScheme", &p.schemes.DataElement}, {"orgUnitIdScheme", &p.schemes.OrgUnit}, {"dataSetIdScheme", &p.schemes.DataSet}} {
		if v := q.Get(s.name); v != "" {
			if sys, ok := cutFold(v, "ATTRIBUTE:"); ok && s.name == "orgUnitIdScheme" {
				// DHIS2's ATTRIBUTE:<id>: here the identifier system of the
				// sender's codes (docs/adx.md, Site codes).
				p.schemes.OrgUnit, p.schemes.OrgUnitSystem = adx.Code, sys
				if sys == "" {
					bad(s.name, "orgUnitIdScheme is %q; expected ATTRIBUTE:<the identifier system of the orgUnit codes>", v)
				}
				continue
			}
			if *s.to, err = adx.ParseScheme(v); err != nil {
				bad(s.name, "%s", err)
			}
		}
	}
	switch v := strings.ToLower(q.Get("dryRun")); v {
	case "", "false":
	case "true":
		p.dryRun = true
	default:
		bad("dryRun", "dryRun is %q; expected true or false", q.Get("dryRun"))
	}
	switch p.strategy = strings.ToUpper(q.Get("importStrategy")); p.strategy {
	case "":
		p.strategy = "CREATE_AND_UPDATE"
	case "CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE":
	case "NEW_AND_UPDATES", "NEW", "UPDATES", "DELETES":
		// DHIS2's older spellings.
		p.strategy = map[string]string{"NEW_AND_UPDATES": "CREATE_AND_UPDATE", "NEW": "CREATE", "UPDATES": "UPDATE", "DELETES": "DELETE"}[p.strategy]
	default:
		bad("importStrategy", "importStrategy is %q; expected CREATE_AND_UPDATE, CREATE, UPDATE or DELETE", q.Get("importStrategy"))
	}
	switch v := strings.ToUpper(q.Get("atomicMode")); v {
	case "", "NONE":
	case "ALL":
		p.atomic = true
	default:
		bad("atomicMode", "atomicMode is %q; expected NONE or ALL", q.Get("atomicMode"))
	}
	return p, conflicts
}

// cutFold is strings.CutPrefix ignoring the case of prefix.
func cutFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// senderSystem ties the orgUnit codes to the sender's identifier system:
// its token's (or certificate rule's) madx_site_system, else the one
// orgUnitIdScheme=ATTRIBUTE:<system> names. A sender whose credential
// names a system may not send codes of another: it would report under
// facility codes the jurisdiction did not give it.
func senderSystem(ctx context.Context, p *adxParams) []adx.Conflict {
	who, _ := auth.FromContext(ctx)
	switch claim, asked := who.SiteSystem, p.schemes.OrgUnitSystem; {
	case claim == "":
	case asked != "" && asked != claim:
		return []adx.Conflict{{Object: "?orgUnitIdScheme", Value: fmt.Sprintf(
			"orgUnitIdScheme names the system %s, but this client's codes are of %s (its madx_site_system); send codes of %s, or leave orgUnitIdScheme out", asked, claim, claim)}}
	case p.schemes.OrgUnit == adx.Code:
		p.schemes.OrgUnitSystem = claim
	}
	return nil
}

// adxMediaTypes are the Content-Types of ADX: the IHE profile's, and the
// spelling DHIS2's documentation uses.
func isADXMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/adx+xml" || mt == "application/xml+adx")
}

// refusedMessage answers a message refused before any group was mapped.
func refusedMessage(c *gin.Context, status int, conflicts ...adx.Conflict) (*answer, error) {
	return adxAnswer(c.Request, importSummary{Status: adxError, Conflicts: conflicts}, status, "The ADX message was not imported.")
}

// adxImport serves POST /api/dataValueSets (and /api/{version}/...): each
// ADX group becomes one MeasureReport that goes through the write pipeline
// as a FHIR submission does (docs/adx.md).
func (s *Server) adxImport(c *gin.Context) (*answer, error) {
	if ct := c.GetHeader("Content-Type"); !isADXMediaType(ct) {
		return refusedMessage(c, http.StatusUnsupportedMediaType, adx.Conflict{Object: "Content-Type",
			Value: fmt.Sprintf("Content-Type is %q; this endpoint reads ADX: application/adx+xml (or application/xml+adx)", ct)})
	}
	params, bad := parseADXParams(c.Request)
	if len(bad) > 0 {
		return refusedMessage(c, http.StatusBadRequest, bad...)
	}
	body, err := readBody(c)
	if err != nil {
		var e *oo.Error
		if errors.As(err, &e) && e.Status < 500 {
			return refusedMessage(c, e.Status, adx.Conflict{Object: "body", Value: e.Issues[0].Diagnostics})
		}
		return nil, err
	}
	msg, err := adx.Parse(body, adx.Limits{})
	if err != nil {
		var se *adx.SyntaxError
		if errors.As(err, &se) {
			obj := se.Where
			if obj == "" {
				obj = "/"
			}
			return refusedMessage(c, http.StatusBadRequest, adx.Conflict{Object: obj, Value: fmt.Sprintf("line %d: %s", se.Line, se.Msg)})
		}
		return nil, err
	}
	ctx, err := s.pipe.WithSnapshot(c.Request.Context())
	if err != nil {
		return nil, err
	}
	auditBundle(ctx, "adx", len(msg.Groups))
	if bad := senderSystem(ctx, &params); len(bad) > 0 {
		return refusedMessage(c, http.StatusBadRequest, bad...)
	}
	cat, err := s.pipe.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	reports, err := adx.Map(ctx, cat, msg, params.schemes)
	if err != nil {
		return nil, err
	}
	sum, err := s.importReports(ctx, reports, params)
	if err != nil {
		return nil, err
	}
	return adxAnswer(c.Request, sum, 0, summaryMessage(sum, params))
}

func summaryMessage(sum importSummary, p adxParams) string {
	m := "Import process completed successfully"
	switch sum.Status {
	case adxWarning:
		m = "Import process completed with conflicts"
	case adxError:
		m = "Import process failed: no group was imported"
	}
	if p.dryRun {
		m += " (dryRun: nothing was stored)"
	}
	return m
}

// groupPlan is one mapped group on its way through the pipeline.
type groupPlan struct {
	r        *adx.Report
	plan     *pipeline.Planned
	del      bool       // importStrategy=DELETE of a stored report
	warnings []oo.Issue // of the mapped report, accepted
}

// importReports plans every mapped report, refuses those the pipeline or
// the import strategy refuse, and commits the others: each on its own
// (atomicMode=NONE), or all or none (ALL).
func (s *Server) importReports(ctx context.Context, reports []adx.Report, p adxParams) (importSummary, error) {
	var sum importSummary
	refuse := func(r *adx.Report, cs ...adx.Conflict) {
		sum.Conflicts = append(sum.Conflicts, cs...)
		sum.ImportCount.Ignored += r.Values
		sum.refused++
	}
	var intents []pipeline.Intent
	var live []*adx.Report
	for i := range reports {
		r := &reports[i]
		if r.Report == nil {
			refuse(r, r.Conflicts...)
			continue
		}
		intents = append(intents, pipeline.Intent{Op: pipeline.Create, Type: "MeasureReport", Resource: r.Report, SkipUnchanged: true})
		live = append(live, r)
	}
	plans, errs := s.pipe.Plan(ctx, intents)
	sameReport(live, plans, errs)
	var ok []groupPlan
	for i, r := range live {
		if err := errs[i]; err != nil {
			cs, ferr := refusalConflicts(r, err)
			if ferr != nil {
				return sum, ferr
			}
			refuse(r, cs...)
			continue
		}
		pl := plans[i]
		switch {
		case p.strategy == "CREATE" && pl.Corrects != "":
			refuse(r, adx.Conflict{Object: r.Where(""), Value: fmt.Sprintf("the report is already stored as MeasureReport/%s; importStrategy=CREATE only adds new reports", pl.Corrects)})
			continue
		case (p.strategy == "UPDATE" || p.strategy == "DELETE") && pl.Corrects == "":
			refuse(r, adx.Conflict{Object: r.Where(""), Value: fmt.Sprintf("no report for this dataSet, orgUnit and period is stored; importStrategy=%s changes stored reports only", p.strategy)})
			continue
		}
		g := groupPlan{r: r, plan: pl, warnings: pl.Warnings()}
		if p.strategy == "DELETE" {
			g.del = true
			dels, derrs := s.pipe.Plan(ctx, []pipeline.Intent{{Op: pipeline.Delete, Type: "MeasureReport", ID: pl.Corrects}})
			if derrs[0] != nil {
				cs, ferr := refusalConflicts(r, derrs[0])
				if ferr != nil {
					return sum, ferr
				}
				refuse(r, cs...)
				continue
			}
			g.plan = dels[0]
		}
		ok = append(ok, g)
	}
	if p.atomic && len(sum.Conflicts) > 0 {
		for _, g := range ok {
			sum.ImportCount.Ignored += g.r.Values
		}
		sum.Status = adxError
		sum.Description = "atomicMode=ALL: the message has conflicts, so no group was imported"
		return sum, nil
	}
	if p.dryRun {
		for _, g := range ok {
			rs, _, err := s.pipe.DryRun(ctx, []*pipeline.Planned{g.plan})
			if err != nil {
				cs, ferr := refusalConflicts(g.r, err)
				if ferr != nil {
					return sum, ferr
				}
				refuse(g.r, cs...)
				continue
			}
			count(&sum, g, rs[0])
		}
		return finishSummary(sum), nil
	}
	if err := s.commitGroups(ctx, ok, p.atomic, &sum, refuse); err != nil {
		return sum, err
	}
	return finishSummary(sum), nil
}

// commitGroups writes the planned groups: in one atomic write, and, should
// that fail without atomicMode=ALL, each on its own so that one group's
// failure is only its own.
func (s *Server) commitGroups(ctx context.Context, gs []groupPlan, atomic bool, sum *importSummary, refuse func(*adx.Report, ...adx.Conflict)) error {
	if len(gs) == 0 {
		return nil
	}
	plans := make([]*pipeline.Planned, len(gs))
	for i, g := range gs {
		plans[i] = g.plan
	}
	rs, at, err := s.pipe.Commit(ctx, plans)
	if err == nil {
		for i, g := range gs {
			count(sum, g, rs[i])
		}
		return nil
	}
	if atomic || len(gs) == 1 {
		if !isClientRefusal(err) {
			return err
		}
		for i, g := range gs {
			if i == at || (at < 0 && i == 0) {
				cs, _ := refusalConflicts(g.r, err)
				refuse(g.r, cs...)
			} else {
				sum.ImportCount.Ignored += g.r.Values
			}
		}
		if atomic {
			sum.Description = "atomicMode=ALL: a group was refused when written, so no group was imported"
		}
		return nil
	}
	for _, g := range gs {
		if err := s.commitGroups(ctx, []groupPlan{g}, false, sum, refuse); err != nil {
			return err
		}
	}
	return nil
}

// count counts an accepted group's values, and reports the validator's
// warnings about its report as conflicts, as DHIS2 reports the warnings of
// values it imported (the summary is then WARNING).
func count(sum *importSummary, g groupPlan, r store.Result) {
	for _, is := range g.warnings {
		if is.Severity == oo.SeverityWarning {
			expr := ""
			if len(is.Expression) > 0 {
				expr = is.Expression[0]
			}
			sum.Conflicts = append(sum.Conflicts, adx.Conflict{Object: g.r.Where(expr), Value: "warning: " + is.Diagnostics})
		}
	}
	n := g.r.Values
	switch {
	case g.del:
		sum.ImportCount.Deleted += n
	case r.Unchanged:
		sum.ImportCount.Ignored += n
	case r.Created:
		sum.ImportCount.Imported += n
	default:
		sum.ImportCount.Updated += n
	}
}

// finishSummary sets the status: ERROR when groups were refused and none
// was taken, WARNING when some were refused or an accepted one has
// warnings, else SUCCESS.
func finishSummary(sum importSummary) importSummary {
	taken := sum.ImportCount.Imported + sum.ImportCount.Updated + sum.ImportCount.Deleted
	switch {
	case len(sum.Conflicts) == 0:
		sum.Status = adxSuccess
	case taken == 0 && sum.refused > 0:
		sum.Status = adxError
	default:
		sum.Status = adxWarning
	}
	return sum
}

func isClientRefusal(err error) bool {
	var e *oo.Error
	return errors.As(err, &e) && e.Status < 500
}

// refusalConflicts turns the pipeline's refusal of a mapped report into
// conflicts that name the ADX elements the issues are about; an error that
// is not a refusal (the store failing) is returned as it is.
func refusalConflicts(r *adx.Report, err error) ([]adx.Conflict, error) {
	var e *oo.Error
	if !errors.As(err, &e) || e.Status >= 500 {
		return nil, err
	}
	var out []adx.Conflict
	for _, is := range e.Issues {
		if is.Severity != oo.SeverityFatal && is.Severity != oo.SeverityError {
			continue
		}
		expr := ""
		if len(is.Expression) > 0 {
			expr = is.Expression[0]
		}
		out = append(out, adx.Conflict{Object: r.Where(expr), Value: is.Diagnostics})
	}
	if len(out) == 0 {
		out = append(out, adx.Conflict{Object: r.Where(""), Value: fmt.Sprintf("the report was refused (HTTP %d)", e.Status)})
	}
	return out, nil
}

// sameReport refuses every group whose planned report has the business key
// of another group's: two codes of one sender that the site maps send to
// one Location, say. adx.Map refuses groups that name the same report;
// this catches those that only the pipeline's resolution makes the same,
// so that neither overwrites the other whatever their order.
func sameReport(live []*adx.Report, plans []*pipeline.Planned, errs []error) {
	byKey := map[string][]int{}
	for i, pl := range plans {
		if errs[i] == nil && pl.ReportKey() != "" {
			byKey[pl.ReportKey()] = append(byKey[pl.ReportKey()], i)
		}
	}
	for _, is := range byKey {
		if len(is) < 2 {
			continue
		}
		names := make([]string, len(is))
		for j, i := range is {
			names[j] = fmt.Sprintf("group[%d]", live[i].Group+1)
		}
		for _, i := range is {
			errs[i] = oo.Errorf(http.StatusConflict, oo.Duplicate, "",
				"groups %s map to the same report (dataSet, the Location their orgUnits resolve to, and period); none of them is imported: send each report once", strings.Join(names, ", "))
		}
	}
}
