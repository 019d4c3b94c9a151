package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/madx-project/madx/store"
)

type currentRow struct {
	exists  bool
	version int64
	deleted bool
	hash    string
	tokens  []string // the rows of tokens it holds
}

func (s *Store) apply(ctx context.Context, t *txn, c store.Change, prior []store.Result, now time.Time) (store.Result, error) {
	op := "write " + c.Type + "/" + c.ID
	var cur currentRow
	var hash sql.NullString
	var tokens []byte
	var deleted int
	err := t.st.current.QueryRowContext(ctx, c.Type, c.ID).Scan(&cur.version, &deleted, &hash, &tokens)
	switch {
	case err == nil:
		cur.exists, cur.deleted, cur.hash = true, deleted != 0, hash.String
		if tokens != nil {
			if err := json.Unmarshal(tokens, &cur.tokens); err != nil {
				return store.Result{}, fmt.Errorf("sqlite: %s: decode stored tokens: %w", op, err)
			}
		}
	case errors.Is(err, sql.ErrNoRows):
	default:
		return store.Result{}, translate(op, err)
	}
	live := cur.exists && !cur.deleted

	if c.IfMatch != 0 && (!cur.exists || cur.version != c.IfMatch) {
		return store.Result{}, fmt.Errorf("sqlite: %s: If-Match version %d, current %d: %w", op, c.IfMatch, cur.version, store.ErrVersionConflict)
	}
	if c.CreateOnly && live {
		return store.Result{}, fmt.Errorf("sqlite: %s: exists: %w", op, store.ErrDuplicateKey)
	}
	if c.Delete {
		if !cur.exists {
			return store.Result{}, fmt.Errorf("sqlite: delete %s/%s: %w", c.Type, c.ID, store.ErrNotFound)
		}
		if cur.deleted {
			r, err := s.versionIn(ctx, t.tx, c.Type, c.ID, cur.version)
			return store.Result{Resource: r, Unchanged: true}, err
		}
	}
	if c.SkipUnchanged && live && c.Index.ContentHash != "" && cur.hash == c.Index.ContentHash {
		r, err := s.versionIn(ctx, t.tx, c.Type, c.ID, cur.version)
		return store.Result{Resource: r, Unchanged: true}, err
	}

	r := store.Resource{Type: c.Type, ID: c.ID, VersionID: cur.version + 1, LastUpdated: now, Deleted: c.Delete, Index: c.Index}
	if c.Delete {
		// A deletion keeps the last live index (so history reads whole) but
		// no longer holds the business key: see current.deleted below.
		prev, err := s.versionIn(ctx, t.tx, c.Type, c.ID, cur.version)
		if err != nil {
			return store.Result{}, err
		}
		r.Index = prev.Index
	} else {
		if !c.HasRender() {
			return store.Result{}, fmt.Errorf("sqlite: %s: change has no Render", op)
		}
		if r.Body, err = c.RenderBody(prior, r.VersionID, now); err != nil {
			return store.Result{}, fmt.Errorf("sqlite: %s: render body: %w", op, err)
		}
	}
	idx, err := json.Marshal(r.Index)
	if err != nil {
		return store.Result{}, fmt.Errorf("sqlite: %s: encode index: %w", op, err)
	}
	if _, err := t.st.history.ExecContext(ctx,
		r.Type, r.ID, r.VersionID, now.UnixMicro(), boolInt(r.Deleted), r.Body, idx); err != nil {
		return store.Result{}, translate(op, err)
	}
	x := r.Index
	var held []string // the token rows r holds
	if !r.Deleted {
		held = x.Tokens
	}
	var heldJSON any
	if len(held) > 0 {
		b, err := json.Marshal(held)
		if err != nil {
			return store.Result{}, fmt.Errorf("sqlite: %s: encode tokens: %w", op, err)
		}
		heldJSON = string(b)
	}
	if _, err := t.st.upsert.ExecContext(ctx,
		r.Type, r.ID, r.VersionID, now.UnixMicro(), boolInt(r.Deleted),
		null(x.URL), null(x.Version), null(x.Status), null(x.Measure), null(x.Subject),
		nullTime(x.PeriodStart), nullTime(x.PeriodEnd), nullTime(x.DateStart), nullTime(x.DateEnd), null(x.ReportKey), null(x.ContentHash),
		heldJSON); err != nil {
		return store.Result{}, translate(op, err)
	}
	// Only the difference: a resubmitted report usually keeps its tokens.
	for _, tok := range cur.tokens {
		if !slices.Contains(held, tok) {
			if _, err := t.st.dropToken.ExecContext(ctx, r.Type, tok, r.ID); err != nil {
				return store.Result{}, translate(op, err)
			}
		}
	}
	for _, tok := range held {
		if !slices.Contains(cur.tokens, tok) {
			if _, err := t.st.addToken.ExecContext(ctx, r.Type, tok, r.ID); err != nil {
				return store.Result{}, translate(op, err)
			}
		}
	}
	return store.Result{Resource: r, Created: !live}, nil
}

// versionIn reads one version inside the write transaction, its body as
// stored: the single writer does not unpack what it may not need.
func (s *Store) versionIn(ctx context.Context, tx *sql.Tx, typ, id string, vid int64) (store.Resource, error) {
	r, err := scanStored(tx.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM history h WHERE h.type = ? AND h.id = ? AND h.version = ?`, typ, id, vid))
	if err != nil {
		return store.Resource{}, translate(fmt.Sprintf("read %s/%s/_history/%d", typ, id, vid), err)
	}
	return r, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// writeStmts are the write path's statements, prepared once on the writer
// connection: parsing them anew for every change cost about a third of a
// write's CPU.
type writeStmts struct {
	current, history, upsert, dropToken, addToken, stamp *sql.Stmt
}

func (w *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.current, `SELECT version, deleted, hash, tokens FROM current WHERE type = ? AND id = ?`},
		{&w.history, `INSERT INTO history(type, id, version, updated, deleted, body, idx) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&w.upsert, `INSERT INTO current(type, id, version, updated, deleted, url, ver, status, measure, subject, period_start, period_end, date_start, date_end, report_key, hash, tokens)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(type, id) DO UPDATE SET version = excluded.version, updated = excluded.updated, deleted = excluded.deleted,
			url = excluded.url, ver = excluded.ver, status = excluded.status, measure = excluded.measure, subject = excluded.subject,
			period_start = excluded.period_start, period_end = excluded.period_end,
			date_start = excluded.date_start, date_end = excluded.date_end, report_key = excluded.report_key, hash = excluded.hash,
			tokens = excluded.tokens`},
		{&w.dropToken, `DELETE FROM tokens WHERE type = ? AND token = ? AND id = ?`},
		{&w.addToken, `INSERT OR IGNORE INTO tokens(type, token, id) VALUES (?, ?, ?)`},
		{&w.stamp, `INSERT INTO stamps(type, n) VALUES (?, 1) ON CONFLICT(type) DO UPDATE SET n = n + 1`},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	return nil
}

// txn is the write transaction with the write statements bound to it
// once, not once per change.
type txn struct {
	tx *sql.Tx
	st writeStmts
}

func (w *writeStmts) in(ctx context.Context, tx *sql.Tx) *txn {
	t := &txn{tx: tx}
	for dst, src := range map[**sql.Stmt]*sql.Stmt{&t.st.current: w.current, &t.st.history: w.history, &t.st.upsert: w.upsert,
		&t.st.dropToken: w.dropToken, &t.st.addToken: w.addToken, &t.st.stamp: w.stamp} {
		*dst = tx.StmtContext(ctx, src)
	}
	return t
}

func (w *writeStmts) close() {
	for _, st := range []*sql.Stmt{w.current, w.history, w.upsert, w.dropToken, w.addToken, w.stamp} {
		if st != nil {
			st.Close()
		}
	}
}

// Forget implements store.Store, on the writer like every change: the
// history rows below the version, or the resource whole (its current row,
// the token rows it lists, every history row).
func (s *Store) Forget(ctx context.Context, typ, id string, below int64) error {
	op := "forget " + typ + "/" + id
	run := func(ctx context.Context, t *txn) (string, error) {
		if below > 0 {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM history WHERE type = ? AND id = ? AND version < ?`, typ, id, below); err != nil {
				return "", translate(op, err)
			}
			return typ, nil
		}
		var tokens []byte
		err := t.tx.QueryRowContext(ctx, `SELECT tokens FROM current WHERE type = ? AND id = ?`, typ, id).Scan(&tokens)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", translate(op, err)
		}
		var rows []string
		if tokens != nil {
			if err := json.Unmarshal(tokens, &rows); err != nil {
				return "", fmt.Errorf("sqlite: %s: decode stored tokens: %w", op, err)
			}
		}
		for _, tok := range rows {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM tokens WHERE type = ? AND token = ? AND id = ?`, typ, tok, id); err != nil {
				return "", translate(op, err)
			}
		}
		for _, q := range []string{`DELETE FROM current WHERE type = ? AND id = ?`, `DELETE FROM history WHERE type = ? AND id = ?`} {
			if _, err := t.tx.ExecContext(ctx, q, typ, id); err != nil {
				return "", translate(op, err)
			}
		}
		return typ, nil
	}
	_, err := s.send(ctx, &writeReq{ctx: ctx, run: run, done: make(chan writeResp, 1)})
	return err
}
