// Package sqlite is the embedded store engine: one SQLite database file in
// the data directory, through the pure-Go modernc.org/sqlite driver. It is
// the default when no MongoDB URI is configured.
//
// Layout: `history` keeps every version with its body (a rowid table: bodies
// of 10+ KB do not belong in a WITHOUT ROWID b-tree, and the rowid is the
// global write order a system history feed can page on); `current` is a
// narrow row per (type, id) with the current version and the extracted
// index columns, so lookups touch small rows and one body read. Writes go
// through a single connection in BEGIN IMMEDIATE transactions (SQLite has
// one writer anyway; this turns lock contention into a Go-side queue) and
// commit with synchronous=FULL in WAL mode, so an acknowledged write
// survives a crash or power loss. Reads use a pool of read connections that
// WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madx-project/madx/store"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the database file's name inside the data directory.
const FileName = "madx.db"

// schemaVersion is stored in PRAGMA user_version; Open refuses a database
// written by a newer madx. Version 2 added the search columns and indexes
// (date_start, date_end; see migrations). Version 3 stores bodies packed
// (store.Template; plain bodies of older versions still read, but an older
// madx cannot read packed ones), keeps a resource's search tokens on its
// current row instead of an index of tokens by owner, and orders the date
// and status indexes by updated within equal values.
const schemaVersion = 3

// Options configure Open.
type Options struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// Now is the clock for lastUpdated; time.Now when nil.
	Now func() time.Time
	// ReadConns caps the read connection pool; 2×GOMAXPROCS when zero.
	ReadConns int
}

// Store is the SQLite engine. It is safe for concurrent use.
type Store struct {
	w     *sql.DB // exactly one connection: the single writer
	r     *sql.DB // readers
	now   func() time.Time
	path  string
	stmts writeStmts

	queue      chan *writeReq // to the writer goroutine (group.go)
	quit       chan struct{}
	writerDone chan struct{}
	ckpt       *sql.DB // the checkpointer's own connection
	ckptDone   chan struct{}
	// walRestart asks the writer to start the WAL over (checkpoint.go).
	walRestart atomic.Bool
	closeOnce  sync.Once
	closeErr   error

	// Prepared reader statements of the per-request queries (readstmt.go).
	rmu    sync.Mutex
	rstmts map[string]*sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in opts.Dir and migrates its
// schema. Errors wrap store.ErrUnavailable.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("sqlite: open: no data directory: %w", store.ErrUnavailable)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open: %v: %w", err, store.ErrUnavailable)
	}
	path := filepath.Join(opts.Dir, FileName)
	s := &Store{now: opts.Now, path: path}
	if s.now == nil {
		s.now = time.Now
	}
	q := url.Values{}
	// Page size stays SQLite's 4 KiB. 16 KiB pages hold a report in one
	// page, but every commit rewrites one leaf page per touched index, and
	// at 16 KiB that made a single PUT cost 2.3 ms of CPU instead of 1.7 ms
	// (BenchmarkPutReport in server; Bundles were equal).
	// No automatic checkpoint: SQLite runs it inside the committing
	// connection, i.e. the single writer, and every queued write waited for
	// it to copy the WAL into the database file (the p99 of concurrent PUTs).
	// checkpointer (checkpoint.go) does it beside the writer instead.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// Group commit puts each request in a SAVEPOINT, whose statement
	// journal would otherwise be a temp file written page by page.
	q.Add("_pragma", "temp_store(MEMORY)")
	// The writer's page cache holds the index pages every report touches;
	// SQLite's default 2 MiB is filled by one Bundle's bodies, after which
	// each index insert re-reads its pages (a pread each): 64 MiB cut the
	// CPU of a 100-report write by a fifth (BenchmarkWrite). Readers keep
	// the default: there are many of them.
	q.Add("_pragma", "cache_size(-65536)")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	var err error
	if s.w, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode()); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %v: %w", path, err, store.ErrUnavailable)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	if err := s.stmts.prepare(ctx, s.w); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: prepare statements: %v: %w", err, store.ErrUnavailable)
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("_query_only", "1")
	if s.r, err = sql.Open("sqlite", "file:"+path+"?"+rq.Encode()); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %v: %w", path, err, store.ErrUnavailable)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	s.queue, s.quit, s.writerDone = make(chan *writeReq, 256), make(chan struct{}), make(chan struct{})
	go s.writer()
	if err := s.startCheckpointer(path); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// measureURL is the expression of the generated column measure_url.
const measureURL = `CASE WHEN instr(measure, '|') > 0 THEN substr(measure, 1, instr(measure, '|') - 1) ELSE measure END`

const schema = `
CREATE TABLE IF NOT EXISTS history (
	type    TEXT    NOT NULL,
	id      TEXT    NOT NULL,
	version INTEGER NOT NULL,
	updated INTEGER NOT NULL, -- unix microseconds
	deleted INTEGER NOT NULL,
	body    BLOB,
	idx     BLOB    NOT NULL  -- the Index as JSON, so old versions read back whole
);
CREATE UNIQUE INDEX IF NOT EXISTS history_version ON history(type, id, version);
CREATE INDEX IF NOT EXISTS history_feed ON history(updated, type, id, version);
CREATE INDEX IF NOT EXISTS history_type_feed ON history(type, updated, id, version);
CREATE TABLE IF NOT EXISTS current (
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	url          TEXT,
	ver          TEXT,
	status       TEXT,
	measure      TEXT,
	subject      TEXT,
	period_start INTEGER,
	period_end   INTEGER,
	date_start   INTEGER,
	date_end     INTEGER,
	report_key   TEXT,
	hash         TEXT,
	tokens       TEXT, -- the rows of tokens this resource holds, as a JSON array (NULL: none)
	-- The canonical url of measure, without |version (search by url).
	measure_url  TEXT GENERATED ALWAYS AS (` + measureURL + `) VIRTUAL,
	PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS current_report_key ON current(report_key) WHERE report_key IS NOT NULL AND deleted = 0;
CREATE INDEX IF NOT EXISTS current_canonical ON current(type, url, ver) WHERE url IS NOT NULL;
-- current_report (measure, period_start), from schema 1, served no query once
-- current_measure_url existed and cost every report write an index update.
DROP INDEX IF EXISTS current_report;
CREATE INDEX IF NOT EXISTS current_subject ON current(subject, period_start) WHERE subject IS NOT NULL;
-- Search (issue #6): every parameter has an index whose leading columns are
-- the type and the tested field; _lastUpdated also orders pages.
CREATE INDEX IF NOT EXISTS current_measure_url ON current(measure_url, period_start, period_end) WHERE measure_url IS NOT NULL;
CREATE INDEX IF NOT EXISTS current_updated ON current(type, updated, id);
CREATE INDEX IF NOT EXISTS current_period ON current(type, period_start, period_end) WHERE period_start IS NOT NULL;
CREATE INDEX IF NOT EXISTS current_period_end ON current(type, period_end) WHERE period_end IS NOT NULL;
-- updated last: resources with equal values (every report is "complete")
-- then go in at the end of their run, not at random places by id, so a
-- commit rewrites one page of these indexes instead of one per report.
CREATE INDEX IF NOT EXISTS current_date ON current(type, date_start, date_end, updated) WHERE date_start IS NOT NULL;
CREATE INDEX IF NOT EXISTS current_status ON current(type, status, updated) WHERE status IS NOT NULL;
CREATE INDEX IF NOT EXISTS current_version ON current(type, ver) WHERE ver IS NOT NULL;
CREATE TABLE IF NOT EXISTS tokens (
	type  TEXT NOT NULL,
	token TEXT NOT NULL,
	id    TEXT NOT NULL,
	PRIMARY KEY (type, token, id)
) WITHOUT ROWID;
-- No index by owner: current.tokens says which rows a resource holds.
CREATE TABLE IF NOT EXISTS stamps (
	type TEXT PRIMARY KEY,
	n    INTEGER NOT NULL
) WITHOUT ROWID;
`

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: open %s: %v: %w", s.path, err, store.ErrUnavailable)
	}
	if v > schemaVersion {
		return fmt.Errorf("sqlite: open %s: schema version %d is newer than this madx (%d): %w", s.path, v, schemaVersion, store.ErrUnavailable)
	}
	if v >= 1 && v < schemaVersion {
		if err := s.upgrade(ctx, v); err != nil {
			return err
		}
	}
	if _, err := s.w.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sqlite: create schema in %s: %v: %w", s.path, err, store.ErrUnavailable)
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("sqlite: set schema version: %v: %w", err, store.ErrUnavailable)
	}
	return s.seedStats(ctx)
}

// Ping checks both connection pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %v: %w", err, store.ErrUnavailable)
	}
	return nil
}

// Close stops the writer after the group it is committing, answers writes
// still queued with ErrUnavailable, and closes the database. It is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.quit != nil {
			close(s.quit)
			<-s.writerDone
			if s.ckptDone != nil {
				<-s.ckptDone
			}
		}
		var errs []error
		s.closeReadStmts()
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		s.stmts.close()
		if s.ckpt != nil {
			errs = append(errs, s.ckpt.Close())
		}
		if s.w != nil {
			// Fold the WAL back into the main file so the data directory is
			// one self-contained file after a clean stop.
			_, _ = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			errs = append(errs, s.w.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// translate maps driver errors to store sentinels; err is never nil.
func translate(op string, err error) error {
	var se *sqlite.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	case errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrDuplicateKey)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sqlite: %s: %w", op, err)
	case errors.As(err, &se):
		if reason := tooMuch(se); reason != "" {
			return &store.QueryError{Op: "sqlite: " + op, Reason: reason, Cause: err}
		}
	}
	return fmt.Errorf("sqlite: %s: %v: %w", op, err, store.ErrUnavailable)
}

// limits are SQLite's refusals of a statement that exceeds one of its
// limits (sqlite.org/limits.html), with what a client is told about them.
// The query text is ours; the size is the client's: a search of a few
// thousand prefixes or AND-ed parameters deepens the expression tree past
// 1,000, and one with many contains values binds more than 32,766
// variables. Each is the request's fault, and a retry fails the same way.
var limits = []struct{ message, reason string }{
	{"Expression tree is too large", "the search combines more conditions than the database evaluates in one query (SQLite's expression depth limit of 1,000)"},
	{"too many SQL variables", "the search has more values than the database takes in one query (SQLite's limit of 32,766 bound values)"},
	{"parser stack overflow", "the search nests more conditions than the database parses in one query"},
	{"LIKE or GLOB pattern too complex", "a search value is more complex than the database matches"},
}

// tooMuch is the public reason when se is SQLite refusing a statement over
// one of its limits, else "".
func tooMuch(se *sqlite.Error) string {
	if se.Code()&0xff == sqlite3.SQLITE_TOOBIG {
		return "a search value is larger than the database takes"
	}
	if se.Code()&0xff != sqlite3.SQLITE_ERROR {
		return ""
	}
	for _, l := range limits {
		if strings.Contains(se.Error(), l.message) {
			return l.reason
		}
	}
	return ""
}
