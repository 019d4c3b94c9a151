package server

import (
	"context"

	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/store"
)

// feedTypes are the types a change feed (system or type _history) may
// show: those the server serves, AuditEvent included, and never internal
// records such as asynchronous jobs (issue 11: a job carries the submitted
// body and its submitter, and has no resourceType, which broke XML).
func feedTypes() []string {
	return append(servedTypes(), auditType)
}

// limitFeed restricts a history query to what the caller may read: the
// types it holds a read or search scope for, and MeasureReports about the
// facilities its madx_subjects cover unless it reads jurisdiction-wide
// (the rule of read and search). The store applies both, so pages stay
// full and their cursors right.
func (s *Server) limitFeed(ctx context.Context, q *store.HistoryQuery) error {
	q.Types = []string{}
	p, ok := auth.FromContext(ctx)
	if !ok {
		if s.opts.Security.enabled() {
			return nil // nobody authenticated: nothing to show
		}
		p = auth.Anonymous()
	}
	for _, t := range feedTypes() {
		if (q.Type == "" || q.Type == t) && (p.Allows(t, auth.Read) || p.Allows(t, auth.Search)) {
			q.Types = append(q.Types, t)
		}
	}
	if p.AllFacilities() || p.HasScope(auth.ScopeJurisdictionRead) {
		return nil
	}
	sn, err := s.snapshotOf(ctx)
	if err != nil {
		return err
	}
	q.Subjects = map[string][]string{"MeasureReport": sn.graph.coveredLocations(p.Rights)}
	return nil
}
