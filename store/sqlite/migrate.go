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
		`ALTER TABLE current ADD COLUMN measure_url TEXT GENERATED ALWAYS AS (` + measureURL + `) VIRTUAL`,
		// Version 1 left the missing end of an open period NULL; version 2
		// indexes it as unbounded (store.DistantPast, store.DistantFuture).
		fmt.Sprintf(`UPDATE current SET period_end = %d WHERE period_start IS NOT NULL AND period_end IS NULL`, store.DistantFuture.UnixMicro()),
		fmt.Sprintf(`UPDATE current SET period_start = %d WHERE period_end IS NOT NULL AND period_start IS NULL`, store.DistantPast.UnixMicro()),
		// history_feed replaces it.
		`DROP INDEX IF EXISTS history_updated`,
	},
	// Packed bodies need nothing: stored plain bodies stay readable.
	2: {
		`ALTER TABLE current ADD COLUMN tokens TEXT`,
		`UPDATE current SET tokens = (SELECT json_group_array(t.token) FROM tokens t WHERE t.type = current.type AND t.id = current.id)
			WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.type = current.type AND t.id = current.id)`,
		`DROP INDEX IF EXISTS tokens_owner`,
		// Recreated by the schema script with updated as last column.
		`DROP INDEX IF EXISTS current_date`,
		`DROP INDEX IF EXISTS current_status`,
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

// plannerStats are the sqlite_stat1 rows a database starts with, shaped
// like a jurisdiction's data (100,000 reports over 1,000 facilities and 100
// periods, a few thousand definitions). Without statistics SQLite takes
// "c.type = ?" on the primary key for selective (it also yields id order,
// sparing a sort) and walks every report of the type; with these it picks
// the index of the searched field. ANALYZE (PRAGMA optimize at Close)
// replaces them with real figures once the data has grown. See
// https://sqlite.org/optoverview.html#manual_control_of_query_plans_using_sqlite_stat_tables
var plannerStats = [][3]string{
	{"current", "current", "100000 20000 1"},
	{"current", "current_report", "100000 10000 10"},
	{"current", "current_measure_url", "100000 10000 10 5"},
	{"current", "current_subject", "100000 100 1"},
	{"current", "current_period", "100000 20000 100 10"},
	{"current", "current_period_end", "100000 20000 10"},
	{"current", "current_date", "100000 20000 10 1 1"},
	{"current", "current_updated", "100000 20000 2 1"},
	{"current", "current_status", "100000 20000 5000 1"},
	{"current", "current_version", "2000 400 2"},
	{"current", "current_canonical", "2000 400 2 1"},
	{"current", "current_report_key", "100000 1"},
	{"tokens", "tokens", "300000 60000 10 1"},
	{"history", "history_feed", "200000 2 1 1 1"},
	{"history", "history_type_feed", "200000 40000 2 1 1"},
	{"history", "history_version", "200000 40000 2 1"},
}

// seedStats installs plannerStats in a database that has never been
// analysed.
func (s *Store) seedStats(ctx context.Context) error {
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
	}
	if n == 0 {
		// Creates sqlite_stat1 (and analyses whatever data there is).
		if _, err := s.w.ExecContext(ctx, `ANALYZE`); err != nil {
			return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
		}
	}
	// ANALYZE of an empty table writes rows of zeros: not statistics.
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'current' AND stat NOT LIKE '0 %'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
	}
	if n > 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `DELETE FROM sqlite_stat1 WHERE tbl IN ('current', 'tokens', 'history')`); err != nil {
		return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
	}
	for _, st := range plannerStats {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES (?, ?, ?)`, st[0], st[1], st[2]); err != nil {
			return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
	}
	// Make this connection reread them; the readers open after this.
	if _, err := s.w.ExecContext(ctx, `ANALYZE sqlite_schema`); err != nil {
		return fmt.Errorf("sqlite: planner statistics: %v: %w", err, store.ErrUnavailable)
	}
	return nil
}
