package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/madx-project/madx/store"
)

const versionColumns = `h.type, h.id, h.version, h.updated, h.deleted, h.body, h.idx`

// scanVersion reads one row of versionColumns, its body unpacked.
func scanVersion(row interface{ Scan(...any) error }) (store.Resource, error) {
	return store.Plain(scanStored(row))
}

// scanStored reads one row of versionColumns with the body as stored: the
// writer's reads, whose results give bodies as Render made them.
func scanStored(row interface{ Scan(...any) error }) (store.Resource, error) {
	var (
		r       store.Resource
		updated int64
		deleted int
		idx     []byte
	)
	if err := row.Scan(&r.Type, &r.ID, &r.VersionID, &updated, &deleted, &r.Body, &idx); err != nil {
		return store.Resource{}, err
	}
	r.LastUpdated = time.UnixMicro(updated).UTC()
	r.Deleted = deleted != 0
	if r.Deleted {
		r.Body = nil
	}
	if err := json.Unmarshal(idx, &r.Index); err != nil {
		return store.Resource{}, fmt.Errorf("decode index of %s/%s/_history/%d: %w", r.Type, r.ID, r.VersionID, err)
	}
	return r, nil
}

// deletedErr turns a deletion version into ErrDeleted, as the contract says.
func deletedErr(op string, r store.Resource) error {
	if r.Deleted {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrDeleted)
	}
	return nil
}

// Read implements store.Store.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	op := "read " + typ + "/" + id
	r, err := scanVersion(s.r.QueryRowContext(ctx, `SELECT `+versionColumns+`
		FROM current c JOIN history h ON h.type = c.type AND h.id = c.id AND h.version = c.version
		WHERE c.type = ? AND c.id = ?`, typ, id))
	if err != nil {
		return store.Resource{}, translate(op, err)
	}
	return r, deletedErr(op, r)
}

// ReadVersion implements store.Store.
func (s *Store) ReadVersion(ctx context.Context, typ, id string, versionID int64) (store.Resource, error) {
	op := fmt.Sprintf("read %s/%s/_history/%d", typ, id, versionID)
	r, err := scanVersion(s.r.QueryRowContext(ctx, `SELECT `+versionColumns+`
		FROM history h WHERE h.type = ? AND h.id = ? AND h.version = ?`, typ, id, versionID))
	if err != nil {
		return store.Resource{}, translate(op, err)
	}
	return r, deletedErr(op, r)
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, typ, id string) ([]store.Resource, error) {
	op := "history " + typ + "/" + id
	rows, err := s.r.QueryContext(ctx, `SELECT `+versionColumns+`
		FROM history h WHERE h.type = ? AND h.id = ? ORDER BY h.version DESC`, typ, id)
	if err != nil {
		return nil, translate(op, err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, translate(op, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return out, nil
}

func collect(rows *sql.Rows) ([]store.Resource, error) {
	defer rows.Close()
	var out []store.Resource
	for rows.Next() {
		r, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const liveJoin = `FROM current c JOIN history h ON h.type = c.type AND h.id = c.id AND h.version = c.version`

// FindCanonical implements store.Store.
func (s *Store) FindCanonical(ctx context.Context, typ, url, version string) ([]store.Resource, error) {
	op := "find " + typ + " " + url
	q := `SELECT ` + versionColumns + ` ` + liveJoin + ` WHERE c.type = ? AND c.url = ? AND c.deleted = 0`
	args := []any{typ, url}
	if version != "" {
		q += ` AND c.ver = ?`
		args = append(args, version)
		op += "|" + version
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, translate(op, err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, translate(op, err)
	}
	return out, nil
}

// reportKeysSQL finds the live holders of n report keys.
func reportKeysSQL(n int) string {
	return `SELECT report_key, id FROM current WHERE report_key IN (?` + strings.Repeat(`, ?`, n-1) + `) AND deleted = 0`
}

// ReportKeyHolders implements store.Store: one query per 500 keys on the
// unique index current_report_key.
func (s *Store) ReportKeyHolders(ctx context.Context, keys []string) (map[string]string, error) {
	const chunk = 500
	holders := map[string]string{}
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		args := make([]any, n)
		for i, k := range keys[:n] {
			args[i] = k
		}
		q := s.r.QueryContext
		if n <= 4 {
			q = s.query // the few sizes single writes and small Bundles use
		}
		rows, err := q(ctx, reportKeysSQL(n), args...)
		if err != nil {
			return nil, translate("find report keys", err)
		}
		for rows.Next() {
			var key, id string
			if err := rows.Scan(&key, &id); err != nil {
				rows.Close()
				return nil, translate("find report keys", err)
			}
			holders[key] = id
		}
		if err := rows.Close(); err != nil {
			return nil, translate("find report keys", err)
		}
		if err := rows.Err(); err != nil {
			return nil, translate("find report keys", err)
		}
		keys = keys[n:]
	}
	return holders, nil
}

// List implements store.Store. It pages through the type in id order so a
// long walk does not hold one read transaction open.
func (s *Store) List(ctx context.Context, typ string, fn func(store.Resource) error) error {
	const page = 500
	after := ""
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT `+versionColumns+` `+liveJoin+`
			WHERE c.type = ? AND c.id > ? AND c.deleted = 0 ORDER BY c.id LIMIT ?`, typ, after, page)
		if err != nil {
			return translate("list "+typ, err)
		}
		batch, err := collect(rows)
		if err != nil {
			return translate("list "+typ, err)
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// Stamp implements store.Store: the sum of the per-type write counters,
// which only grow, so any write of one of the types changes it.
func (s *Store) Stamp(ctx context.Context, types ...string) (int64, error) {
	if len(types) == 0 {
		return 0, nil
	}
	if err := store.CheckStamped(types); err != nil {
		return 0, err
	}
	args := make([]any, len(types))
	for i, t := range types {
		args[i] = t
	}
	var n sql.NullInt64
	err := s.queryRow(ctx, `SELECT SUM(n) FROM stamps WHERE type IN (?`+strings.Repeat(",?", len(types)-1)+`)`, args...).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, translate("stamp", err)
	}
	return n.Int64, nil
}
