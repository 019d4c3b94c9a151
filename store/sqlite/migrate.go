package sqlite

import (
	"context"
	"fmt"

	"github.com/madx-project/madx/store"
)

// migrations[v] upgrades a database at schema version v to v+1. They run in
// one transaction before the schema script (which then only adds what is
// missing), so an existing data directory opens with a newer madx.
var migrations = map[int][]string{
	1: {
		`ALTER TABLE current ADD COLUMN date_start INTEGER`,
		`ALTER TABLE current ADD COLUMN date_end INTEGER`,
		// Version 1 left the missing end of an open period NULL; version 2
		// indexes it as unbounded (store.DistantPast, store.DistantFuture).
		fmt.Sprintf(`UPDATE current SET period_end = %d WHERE period_start IS NOT NULL AND period_end IS NULL`, store.DistantFuture.UnixMicro()),
		fmt.Sprintf(`UPDATE current SET period_start = %d WHERE period_end IS NOT NULL AND period_start IS NULL`, store.DistantPast.UnixMicro()),
		// history_feed replaces it.
		`DROP INDEX IF EXISTS history_updated`,
	},
}

func (s *Store) upgrade(ctx context.Context, from int) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %v: %w", s.path, err, store.ErrUnavailable)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for v := from; v < schemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlite: migrate %s from schema %d: %v: %w", s.path, v, err, store.ErrUnavailable)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %v: %w", s.path, err, store.ErrUnavailable)
	}
	return nil
}
