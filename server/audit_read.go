package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/internal/fhirtime"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/store"
)

// auditRoutes serves AuditEvents read-only: read by id and a search by
// date, agent, entity and outcome. They need an explicit
// system/AuditEvent.read scope (auth.Principal.Allows). AuditEvent is not
// in the conformance table: it is not a type clients write, and the
// search issue's generic search does not cover it yet.
func (s *Server) auditRoutes(g *gin.RouterGroup) {
	g.GET("/"+auditType+"/:id", s.handle(s.guard(auditType, conformance.Read, s.readAudit)))
	g.GET("/"+auditType, s.handle(s.guard(auditType, conformance.SearchType, s.searchAudit)))
}

func (s *Server) readAudit(c *gin.Context) (*answer, error) {
	id := c.Param("id")
	if err := checkID(id); err != nil {
		return nil, err
	}
	r, err := s.opts.Store.Read(c.Request.Context(), auditType, id)
	if err != nil {
		return nil, readError(auditType, id, r, err)
	}
	return &answer{status: http.StatusOK, body: r.Body, header: s.versionHeaders(r)}, nil
}

// auditFilter is one parsed AuditEvent search.
type auditFilter struct {
	dates    []dateBound
	tokens   [][]string // every group must match one of its "name=value"
	maxCount int
}

type dateBound struct {
	prefix string
	lo, hi time.Time
}

const (
	defaultAuditCount = 50
	maxAuditCount     = 1000
)

// searchAudit serves GET [base]/AuditEvent?date=&agent=&entity=&outcome=,
// newest first. It scans the AuditEvents' index fields (never their
// bodies), which is fine for an audit trail under retention; a store-level
// search replaces it when the search issue's work covers AuditEvent.
func (s *Server) searchAudit(c *gin.Context) (*answer, error) {
	f, err := parseAuditFilter(c.Request.URL.Query())
	if err != nil {
		return nil, err
	}
	var hits []store.Resource
	err = s.opts.Store.List(c.Request.Context(), auditType, func(r store.Resource) error {
		if f.match(r.Index) {
			hits = append(hits, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(hits, func(a, b store.Resource) int { return b.Index.PeriodStart.Compare(a.Index.PeriodStart) })
	b := s.newBundle("searchset")
	b.Total = len(hits)
	b.Link = []bundleLink{{Relation: "self", URL: s.opts.BaseURL + "/" + auditType + "?" + c.Request.URL.RawQuery}}
	for i, r := range hits {
		if i == f.maxCount {
			break
		}
		b.Entry = append(b.Entry, outEntry{FullURL: s.fullURL(r), Resource: r.Body})
	}
	return s.bundleAnswer(b)
}

func parseAuditFilter(q map[string][]string) (*auditFilter, error) {
	f := &auditFilter{maxCount: defaultAuditCount}
	for name, vals := range q {
		for _, v := range vals {
			switch name {
			case "date":
				d, err := parseDateBound(v)
				if err != nil {
					return nil, err
				}
				f.dates = append(f.dates, d)
			case "agent", "entity", "outcome", "action", "subtype":
				var group []string
				for _, alt := range strings.Split(v, ",") {
					group = append(group, name+"="+alt)
				}
				f.tokens = append(f.tokens, group)
			case "_count":
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "", "_count %q is not a non-negative integer.", v)
				}
				f.maxCount = min(n, maxAuditCount)
			case "_format", "_pretty":
			default:
				return nil, oo.Errorf(http.StatusBadRequest, oo.NotSupported, "",
					"AuditEvent search parameter %q is not supported; use date, agent, entity, outcome, action, subtype or _count.", name)
			}
		}
	}
	return f, nil
}

func (f *auditFilter) match(x store.Index) bool {
	for _, d := range f.dates {
		t := x.PeriodStart
		ok := false
		switch d.prefix {
		case "eq":
			ok = !t.Before(d.lo) && !t.After(d.hi)
		case "ge":
			ok = !t.Before(d.lo)
		case "gt":
			ok = t.After(d.hi)
		case "le":
			ok = !t.After(d.hi)
		case "lt":
			ok = t.Before(d.lo)
		}
		if !ok {
			return false
		}
	}
	for _, group := range f.tokens {
		if !slices.ContainsFunc(group, func(want string) bool { return hasToken(x.Tokens, want) }) {
			return false
		}
	}
	return true
}

// hasToken matches a token exactly; a bare agent ("agent=<sub>", without
// the "jwt:<iss>|" of auth.Principal.Name) also matches a token subject of
// any trusted issuer.
func hasToken(toks []string, want string) bool {
	sub, bare := strings.CutPrefix(want, "agent=")
	bare = bare && !strings.ContainsAny(sub, ":|")
	for _, t := range toks {
		if t == want || bare && strings.HasPrefix(t, "agent=jwt:") && strings.HasSuffix(t, "|"+sub) {
			return true
		}
	}
	return false
}

// parseDateBound reads a FHIR date search value: an optional prefix (eq,
// ge, gt, le, lt) and a date or dateTime, whose precision sets the range,
// read as every other date search reads it (fhirtime.SearchRange).
func parseDateBound(v string) (dateBound, error) {
	d := dateBound{prefix: "eq"}
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
		d.prefix, v = v[:2], v[2:]
	}
	if !slices.Contains([]string{"eq", "ge", "gt", "le", "lt"}, d.prefix) {
		return d, oo.Errorf(http.StatusBadRequest, oo.Value, "", "date prefix %q is not supported; use eq, ge, gt, le or lt.", d.prefix)
	}
	lo, hi, err := fhirtime.SearchRange(v)
	if err != nil {
		return d, oo.Wrap(http.StatusBadRequest, err, oo.Issuef(oo.SeverityFatal, oo.Value, "",
			"date %q is not a FHIR date or dateTime (e.g. 2025-01-31 or 2025-01-31T10:00:00Z).", v))
	}
	d.lo, d.hi = lo, hi
	return d, nil
}

// startAuditRetention deletes AuditEvents older than the retention, hourly.
func (s *Server) startAuditRetention(ctx context.Context) {
	keep := s.opts.Security.AuditRetention
	if keep <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			s.expireAudit(ctx, keep)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (s *Server) expireAudit(ctx context.Context, keep time.Duration) {
	cutoff := s.opts.Now().Add(-keep)
	var old []string
	err := s.opts.Store.List(ctx, auditType, func(r store.Resource) error {
		if r.Index.PeriodStart.Before(cutoff) {
			old = append(old, r.ID)
		}
		return nil
	})
	if err != nil {
		s.log.Warn().Err(err).Msg("audit retention")
		return
	}
	for _, id := range old {
		if _, err := s.opts.Store.Write(ctx, []store.Change{{Type: auditType, ID: id, Delete: true}}); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn().Err(err).Str("audit_event", id).Msg("expire audit event")
		}
	}
	if len(old) > 0 {
		s.log.Info().Int("expired", len(old)).Dur("retention", keep).Msg("audit retention")
	}
}

type jobKey struct{}

// jobContext is the context an asynchronous job is replayed in: its
// submitter's principal (recorded at acceptance) and its id, for the audit.
func (s *Server) jobContext(ctx context.Context, id string, p *auth.Principal) context.Context {
	ctx = context.WithValue(ctx, jobKey{}, id)
	if p != nil {
		ctx = auth.NewContext(ctx, *p)
	}
	return ctx
}

func jobOf(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(jobKey{}).(string)
	return id, ok
}

// submitter is the principal to record with an asynchronous job.
func submitter(ctx context.Context) *auth.Principal {
	if p, ok := auth.FromContext(ctx); ok {
		return &p
	}
	return nil
}

// checkJobOwner hides a job's result from other clients: only its
// submitter (or an unrestricted principal) may fetch it.
func checkJobOwner(ctx context.Context, id string, owner *auth.Principal) error {
	if owner == nil {
		return nil
	}
	p, _ := auth.FromContext(ctx)
	if p.Unrestricted || p.Name() == owner.Name() {
		return nil
	}
	return oo.Errorf(http.StatusNotFound, oo.NotFound, "", "No asynchronous submission %s is known (results are kept for a limited time).", id)
}
