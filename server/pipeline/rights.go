package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

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

	// covered caches coveredLocations by rights: the graph never changes
	// (a new registry is a new graph), and a district token's 10,000
	// Locations took 15 ms to list on every search.
	mu      sync.Mutex
	covered map[string][]string
}

// maxCoveredCache bounds the cached lists (a national token's is 10,000
// references, about 300 KB).
const maxCoveredCache = 64

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
	return g.compile(rights).covers(g, subject)
}

// rightSet is a principal's rights read once: the literal references and
// the Locations and Organizations they name (identifiers resolved).
type rightSet struct {
	literal    map[string]bool
	locs, orgs map[string]bool
}

func (g *facilityGraph) compile(rights []string) rightSet {
	rs := rightSet{literal: map[string]bool{}, locs: map[string]bool{}, orgs: map[string]bool{}}
	for _, r := range rights {
		r = strings.TrimPrefix(r, "identifier:")
		rs.literal[r] = true // also covers unresolved subjects compared literally
		switch {
		case strings.HasPrefix(r, "Location/"):
			rs.locs[strings.TrimPrefix(r, "Location/")] = true
		case strings.HasPrefix(r, "Organization/"):
			rs.orgs[strings.TrimPrefix(r, "Organization/")] = true
		case strings.Contains(r, "|") && g != nil:
			for _, id := range g.locIdent[r] {
				rs.locs[id] = true
			}
			for _, id := range g.orgIdent[r] {
				rs.orgs[id] = true
			}
		}
	}
	return rs
}

func (rs rightSet) covers(g *facilityGraph, subject string) bool {
	if rs.literal[subject] {
		return true
	}
	loc, ok := strings.CutPrefix(subject, "Location/")
	if !ok || g == nil {
		return false
	}
	for i := 0; loc != "" && i < maxDepth; i, loc = i+1, g.locParent[loc] {
		if rs.locs[loc] {
			return true
		}
		for j, org := 0, g.locOrg[loc]; org != "" && j < maxDepth; j, org = j+1, g.orgParent[org] {
			if rs.orgs[org] {
				return true
			}
		}
	}
	return false
}

// authorizeSubject answers 403 when the caller may not report for the
// report's subject (QRPH-58 2:3.58.6: a facility submits only its own
// reports). An unresolved subject is left to validation, which rejects it.
func (p *Pipeline) authorizeSubject(ctx context.Context, sn *snapshot, r *mrpb.MeasureReport, subject measures.SubjectRef) error {
	who, ok := auth.FromContext(ctx)
	if ok && who.AllFacilities() {
		return nil
	}
	ref := subject.Reference
	if ref == "" && !p.opts.Validation.SkipSubjectCheck {
		// No Location to check rights on: validation refuses the report,
		// saying why (an unknown or unmapped code, with the system
		// expected), which tells the caller nothing of other facilities.
		return nil
	}
	if ref == "" {
		ref = referenceString(r.GetSubject())
	}
	if ref == "" {
		// --subject-check=off accepts unregistered subjects, never weaker
		// rights: a subject with only a display names nothing to check them
		// against.
		return oo.Errorf(http.StatusForbidden, oo.Forbidden, "MeasureReport.subject",
			"MeasureReport.subject names no reference or identifier, so this client's rights (madx_subjects %s) cannot be checked against it; send subject.reference or subject.identifier.", rightsText(who))
	}
	if ok && sn.graph.covers(who.Rights, ref) {
		return nil
	}
	return oo.Errorf(http.StatusForbidden, oo.Forbidden, "MeasureReport.subject",
		"MeasureReport.subject is %s, which this client may not report for; its rights (madx_subjects) are %s.", ref, rightsText(who))
}

// facilityLimited reports whether the caller's writes are limited to some
// facilities' reports (not a jurisdiction-wide token, not anonymous mode).
func (p *Pipeline) facilityLimited(ctx context.Context) bool {
	who, ok := auth.FromContext(ctx)
	if ok && who.AllFacilities() {
		return false
	}
	return ok || p.opts.Secured
}

// authorizeReplaced answers 403 when pl would replace or delete cur, a
// stored MeasureReport whose subject the caller may not report for: rights
// are checked against the version being replaced as well as against the
// new body (authorizeSubject), so a facility can neither overwrite nor
// delete another's report by naming its id (issue 11).
func (p *Pipeline) authorizeReplaced(ctx context.Context, sn *snapshot, pl *Planned, cur store.Resource) error {
	who, ok := auth.FromContext(ctx)
	if ok && sn.graph.covers(who.Rights, cur.Index.Subject) {
		return nil
	}
	verb := "replace"
	if pl.Change.Delete {
		verb = "delete"
	}
	return oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
		"MeasureReport/%s is stored as a report about %s, which this client may not report for, so it may not %s it; its rights (madx_subjects) are %s.",
		cur.ID, orNone(cur.Index.Subject), verb, rightsText(who))
}

// AuthorizeStored answers 404 when the caller may not read a stored
// MeasureReport, as if it did not exist (HAPI's authorization interceptor
// hides it so too): its subject must be within the caller's rights unless
// it holds the jurisdiction-wide read scope. Deletion versions are checked
// with the subject of the report they deleted, so a 410 tells a facility
// nothing of another's reports either (issue 14).
func (p *Pipeline) AuthorizeStored(ctx context.Context, rs ...store.Resource) error {
	who, ok := auth.FromContext(ctx)
	if ok && (who.AllFacilities() || who.HasScope(auth.ScopeJurisdictionRead)) {
		return nil
	}
	if !ok && !p.opts.Secured {
		return nil
	}
	var sn *snapshot
	for _, r := range rs {
		if r.Type != "MeasureReport" {
			continue
		}
		if sn == nil {
			var err error
			if sn, err = p.snapshotOf(ctx); err != nil {
				return err
			}
		}
		if !ok || !sn.graph.covers(who.Rights, r.Index.Subject) {
			return oo.Wrap(http.StatusNotFound, store.ErrNotFound, oo.Issuef(oo.SeverityFatal, oo.NotFound, "",
				"%s/%s is not known to this server.", r.Type, r.ID))
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
	key := strings.Join(rights, "\x00")
	g.mu.Lock()
	out, ok := g.covered[key]
	g.mu.Unlock()
	if ok {
		return out
	}
	out = g.listCovered(rights)
	g.mu.Lock()
	if g.covered == nil {
		g.covered = map[string][]string{}
	}
	if len(g.covered) < maxCoveredCache {
		g.covered[key] = out
	}
	g.mu.Unlock()
	return out
}

// listCovered is coveredLocations without the cache.
func (g *facilityGraph) listCovered(rights []string) []string {
	rs := g.compile(rights) // once: a national token names thousands
	seen := map[string]bool{}
	var out []string
	consider := func(id string) {
		ref := "Location/" + id
		if !seen[ref] {
			seen[ref] = true
			if rs.covers(g, ref) {
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

// LimitSearch narrows a MeasureReport search to the subjects the caller
// may read (QRPH-58 2:3.58.6; the same rule as reading one report): one
// more AND-ed clause whose alternatives are the covered Locations. A
// caller with jurisdiction-wide reads is not limited.
func (p *Pipeline) LimitSearch(ctx context.Context, q *store.Query) error {
	if q.Type != "MeasureReport" {
		return nil
	}
	who, ok := auth.FromContext(ctx)
	if ok && (who.AllFacilities() || who.HasScope(auth.ScopeJurisdictionRead)) {
		return nil
	}
	if !ok && !p.opts.Secured {
		return nil // no authentication configured: nothing to limit
	}
	sn, err := p.snapshotOf(ctx)
	if err != nil {
		return err
	}
	var allowed []string
	if ok {
		allowed = sn.graph.coveredLocations(who.Rights)
	}
	// Broad when it covers most facilities (a district over a whole
	// registry, a national token): then it is a filter, not the way in.
	clause := store.Clause{Broad: len(allowed) >= broadRights && 2*len(allowed) >= len(sn.locs)}
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

// broadRights is the fewest covered Locations for which rights are a
// filter rather than the index a search is planned by (with half of the
// registry or more).
const broadRights = 500

// LimitFeed restricts a history query to what the caller may read: of
// types, those it holds a read or search scope for, and MeasureReports
// about the facilities its madx_subjects cover unless it reads
// jurisdiction-wide (the rule of read and search). The store applies both,
// so pages stay full and their cursors right.
func (p *Pipeline) LimitFeed(ctx context.Context, q *store.HistoryQuery, types []string) error {
	q.Types = []string{}
	who, ok := auth.FromContext(ctx)
	if !ok {
		if p.opts.Secured {
			return nil // nobody authenticated: nothing to show
		}
		who = auth.Anonymous()
	}
	for _, t := range types {
		if (q.Type == "" || q.Type == t) && (who.Allows(t, auth.Read) || who.Allows(t, auth.Search)) {
			q.Types = append(q.Types, t)
		}
	}
	if who.AllFacilities() || who.HasScope(auth.ScopeJurisdictionRead) {
		return nil
	}
	sn, err := p.snapshotOf(ctx)
	if err != nil {
		return err
	}
	q.Subjects = map[string][]string{"MeasureReport": sn.graph.coveredLocations(who.Rights)}
	return nil
}
