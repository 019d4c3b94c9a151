package server

import (
	"context"
	"errors"
	"time"

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
