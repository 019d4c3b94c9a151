package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/store"
)

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
