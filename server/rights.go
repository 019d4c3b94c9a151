package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/store"
)

// facilityGraph is the hierarchy submitter rights are checked against:
// Location.partOf, Location.managingOrganization and Organization.partOf,
// built with the Registry from the same snapshot so no report costs a query.
type facilityGraph struct {
	locParent map[string]string   // Location id -> parent Location id
	locOrg    map[string]string   // Location id -> managing Organization id
	orgParent map[string]string   // Organization id -> parent Organization id
	locIdent  map[string][]string // "system|value" -> Location ids
	orgIdent  map[string][]string // "system|value" -> Organization ids
}

func newFacilityGraph(locs []*locpb.Location, orgs []*orgpb.Organization) *facilityGraph {
	g := &facilityGraph{locParent: map[string]string{}, locOrg: map[string]string{}, orgParent: map[string]string{},
		locIdent: map[string][]string{}, orgIdent: map[string][]string{}}
	for _, l := range locs {
		id := l.GetId().GetValue()
		if id == "" {
			continue
		}
		if p, ok := strings.CutPrefix(referenceString(l.GetPartOf()), "Location/"); ok {
			g.locParent[id] = p
		}
		if o, ok := strings.CutPrefix(referenceString(l.GetManagingOrganization()), "Organization/"); ok {
			g.locOrg[id] = o
		}
		for _, i := range l.GetIdentifier() {
			k := i.GetSystem().GetValue() + "|" + i.GetValue().GetValue()
			g.locIdent[k] = append(g.locIdent[k], id)
		}
	}
	for _, o := range orgs {
		id := o.GetId().GetValue()
		if id == "" {
			continue
		}
		if p, ok := strings.CutPrefix(referenceString(o.GetPartOf()), "Organization/"); ok {
			g.orgParent[id] = p
		}
		for _, i := range o.GetIdentifier() {
			k := i.GetSystem().GetValue() + "|" + i.GetValue().GetValue()
			g.orgIdent[k] = append(g.orgIdent[k], id)
		}
	}
	return g
}

// maxDepth bounds partOf walks: a cycle in the registry (a data error)
// must not hang a request.
const maxDepth = 64

// covers reports whether rights include the subject ("Location/<id>"):
// the Location itself, a Location it is partOf, or an Organization that
// manages it or one of those Locations, directly or through
// Organization.partOf.
func (g *facilityGraph) covers(rights []string, subject string) bool {
	locs, orgs := map[string]bool{}, map[string]bool{}
	for _, r := range rights {
		r = strings.TrimPrefix(r, "identifier:")
		switch {
		case r == subject:
			return true // also covers unresolved subjects compared literally
		case strings.HasPrefix(r, "Location/"):
			locs[strings.TrimPrefix(r, "Location/")] = true
		case strings.HasPrefix(r, "Organization/"):
			orgs[strings.TrimPrefix(r, "Organization/")] = true
		case strings.Contains(r, "|") && g != nil:
			for _, id := range g.locIdent[r] {
				locs[id] = true
			}
			for _, id := range g.orgIdent[r] {
				orgs[id] = true
			}
		}
	}
	loc, ok := strings.CutPrefix(subject, "Location/")
	if !ok || g == nil {
		return false
	}
	for i := 0; loc != "" && i < maxDepth; i, loc = i+1, g.locParent[loc] {
		if locs[loc] {
			return true
		}
		for j, org := 0, g.locOrg[loc]; org != "" && j < maxDepth; j, org = j+1, g.orgParent[org] {
			if orgs[org] {
				return true
			}
		}
	}
	return false
}

// authorizeSubject answers 403 when the caller may not report for the
// report's subject (QRPH-58 2:3.58.6: a facility submits only its own
// reports). An unresolved subject is left to validation, which rejects it.
func (s *Server) authorizeSubject(ctx context.Context, sn *snapshot, r *mrpb.MeasureReport, subject measures.SubjectRef) error {
	p, ok := auth.FromContext(ctx)
	if ok && p.AllFacilities() {
		return nil
	}
	ref := subject.Reference
	if ref == "" {
		ref = referenceString(r.GetSubject())
	}
	if ref == "" {
		return nil
	}
	if ok && sn.graph.covers(p.Rights, ref) {
		return nil
	}
	return oo.Errorf(http.StatusForbidden, oo.Forbidden, "MeasureReport.subject",
		"MeasureReport.subject is %s, which this client may not report for; its rights (madx_subjects) are %s.", ref, rightsText(p))
}

// authorizeReplaced answers 403 when a change would replace or delete a
// stored MeasureReport whose subject the caller may not report for: rights
// are checked against the version being replaced as well as against the new
// body (prepare checks that one), so a facility can neither overwrite nor
// delete another's report by naming its id (issue 11). It returns the index
// of the refused change. Every store write of the server goes through
// commit, which calls it.
func (s *Server) authorizeReplaced(ctx context.Context, changes []store.Change) (int, error) {
	p, ok := auth.FromContext(ctx)
	if ok && p.AllFacilities() {
		return -1, nil
	}
	if !ok && !s.opts.Security.enabled() {
		return -1, nil
	}
	var sn *snapshot
	for i, ch := range changes {
		if ch.Type != "MeasureReport" {
			continue
		}
		cur, err := s.opts.Store.Read(ctx, ch.Type, ch.ID)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted) {
			continue // nothing live is replaced
		}
		if err != nil {
			return i, err
		}
		if sn == nil {
			if sn, err = s.snapshotOf(ctx); err != nil {
				return i, err
			}
		}
		if ok && sn.graph.covers(p.Rights, cur.Index.Subject) {
			continue
		}
		verb := "replace"
		if ch.Delete {
			verb = "delete"
		}
		return i, oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
			"MeasureReport/%s is stored as a report about %s, which this client may not report for, so it may not %s it; its rights (madx_subjects) are %s.",
			ch.ID, orNone(cur.Index.Subject), verb, rightsText(p))
	}
	return -1, nil
}

// commit is the one way the server writes resources a client sent: it
// checks the rights on what the changes replace, then writes them
// atomically. On a refusal it returns the index of the refused change.
func (s *Server) commit(ctx context.Context, changes []store.Change) ([]store.Result, int, error) {
	if i, err := s.authorizeReplaced(ctx, changes); err != nil {
		return nil, i, err
	}
	if i, err := s.checkIfMatch(ctx, changes); err != nil {
		return nil, i, err
	}
	rs, err := s.opts.Store.Write(ctx, changes)
	return rs, -1, err
}

// checkIfMatch answers 412 naming the change whose IfMatch is not the
// current version, so that a transaction says which entry is stale (the
// store's own check, which still guards the race, cannot say which).
func (s *Server) checkIfMatch(ctx context.Context, changes []store.Change) (int, error) {
	for i, ch := range changes {
		if ch.IfMatch == 0 {
			continue
		}
		cur, err := s.opts.Store.Read(ctx, ch.Type, ch.ID)
		if err != nil && !errors.Is(err, store.ErrDeleted) && !errors.Is(err, store.ErrNotFound) {
			return i, err
		}
		if err != nil || cur.VersionID != ch.IfMatch {
			return i, changeError(ch, store.ErrVersionConflict)
		}
	}
	return -1, nil
}

// authorizeStored answers 403 when the caller may not read a stored
// MeasureReport: its subject must be within the caller's rights unless it
// holds the jurisdiction-wide read scope.
func (s *Server) authorizeStored(ctx context.Context, rs ...store.Resource) error {
	p, ok := auth.FromContext(ctx)
	if ok && (p.AllFacilities() || p.HasScope(auth.ScopeJurisdictionRead)) {
		return nil
	}
	var sn *snapshot
	for _, r := range rs {
		if r.Type != "MeasureReport" || r.Deleted {
			continue
		}
		if sn == nil {
			var err error
			if sn, err = s.snapshotOf(ctx); err != nil {
				return err
			}
		}
		if !ok || !sn.graph.covers(p.Rights, r.Index.Subject) {
			return oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
				"MeasureReport/%s is about %s, whose reports this client may not read; its rights (madx_subjects) are %s, and it lacks the scope %s.",
				r.ID, orNone(r.Index.Subject), rightsText(p), auth.ScopeJurisdictionRead)
		}
	}
	return nil
}

func rightsText(p auth.Principal) string {
	if len(p.Rights) == 0 {
		return "empty"
	}
	return fmt.Sprintf("[%s]", strings.Join(p.Rights, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "no known subject"
	}
	return s
}

// coveredLocations lists every Location (as "Location/<id>") the rights
// cover, for narrowing a search to what the caller may read.
func (g *facilityGraph) coveredLocations(rights []string) []string {
	seen := map[string]bool{}
	var out []string
	consider := func(id string) {
		ref := "Location/" + id
		if !seen[ref] {
			seen[ref] = true
			if g.covers(rights, ref) {
				out = append(out, ref)
			}
		}
	}
	for id := range g.locParent {
		consider(id)
	}
	for id := range g.locOrg {
		consider(id)
	}
	for _, ids := range g.locIdent {
		for _, id := range ids {
			consider(id)
		}
	}
	for _, r := range rights {
		if id, ok := strings.CutPrefix(r, "Location/"); ok {
			consider(id)
		}
	}
	slices.Sort(out)
	return out
}

// limitSearch narrows a MeasureReport search to the subjects the caller
// may read (QRPH-58 2:3.58.6; the same rule as reading one report): one
// more AND-ed clause whose alternatives are the covered Locations. A
// caller with jurisdiction-wide reads is not limited.
func (s *Server) limitSearch(ctx context.Context, q *store.Query) error {
	if q.Type != "MeasureReport" {
		return nil
	}
	p, ok := auth.FromContext(ctx)
	if ok && (p.AllFacilities() || p.HasScope(auth.ScopeJurisdictionRead)) {
		return nil
	}
	if !ok && !s.opts.Security.enabled() {
		return nil // no authentication configured: nothing to limit
	}
	sn, err := s.snapshotOf(ctx)
	if err != nil {
		return err
	}
	var allowed []string
	if ok {
		allowed = sn.graph.coveredLocations(p.Rights)
	}
	clause := store.Clause{}
	for _, ref := range allowed {
		clause.Any = append(clause.Any, store.Cond{Field: store.FieldSubject, Op: store.OpEq, Value: ref})
	}
	if len(clause.Any) == 0 {
		// Nothing is covered: a condition no report meets.
		clause.Any = []store.Cond{{Field: store.FieldSubject, Op: store.OpEq, Value: "Location/\x00none"}}
	}
	q.Where = append(q.Where, clause)
	return nil
}

// requireJurisdictionRead guards the change feeds: they list every
// facility's reports, so a facility-limited caller gets 403 and is pointed
// to search, which is limited to its own.
func (s *Server) requireJurisdictionRead(ctx context.Context, typ string) error {
	if typ != "" && typ != "MeasureReport" {
		return nil
	}
	p, ok := auth.FromContext(ctx)
	if !s.opts.Security.enabled() && !ok {
		return nil
	}
	if ok && (p.AllFacilities() || p.HasScope(auth.ScopeJurisdictionRead)) {
		return nil
	}
	return oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
		"The change feed lists every facility's reports; it needs the scope %s or rights to all facilities (madx_subjects *). This client's rights are %s: search MeasureReport (e.g. ?_lastUpdated=gt...) to list its own reports.",
		auth.ScopeJurisdictionRead, rightsText(p))
}
