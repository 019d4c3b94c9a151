package sqlite

import (
	"context"
	"database/sql"
)

// maxReadStmts bounds the prepared reader statements kept: the queries
// every request makes (the stamp, the report keys of one report) are few.
const maxReadStmts = 32

// readStmt returns query prepared on the readers, preparing it once. A
// PUT asks for the stamp and for its report key's holder: preparing them
// each time was most of their cost in the PUT profile (issue 13). Beyond
// maxReadStmts distinct queries, it prepares nothing and returns nil: the
// caller queries unprepared.
func (s *Store) readStmt(ctx context.Context, query string) *sql.Stmt {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if st, ok := s.rstmts[query]; ok {
		return st
	}
	if len(s.rstmts) >= maxReadStmts {
		return nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil // the caller's own query reports the error
	}
	if s.rstmts == nil {
		s.rstmts = map[string]*sql.Stmt{}
	}
	s.rstmts[query] = st
	return st
}

// queryRow runs query, prepared when it can be.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.readStmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, query, args...)
}

// query runs query, prepared when it can be.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.readStmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, query, args...)
}

func (s *Store) closeReadStmts() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for _, st := range s.rstmts {
		st.Close()
	}
	s.rstmts = nil
}
