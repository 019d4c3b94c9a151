package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/madx-project/madx/store"
)

// Group commit. SQLite has one writer and every commit waits for fsync
// (synchronous=FULL), so concurrent single-report writes would each pay a
// whole fsync in turn. Instead one goroutine owns the writer connection:
// every Write that arrives while a commit is in flight joins the next
// transaction, each inside its own SAVEPOINT so that one request's failure
// (a version conflict, a duplicate key) rolls back that request only. The
// group commits once; every member returns only after that commit is
// durable, so an acknowledged write is never lost.

// maxGroup bounds how many requests share one transaction, so one commit
// does not hold many large Bundles at once.
const maxGroup = 64

type writeReq struct {
	ctx     context.Context
	changes []store.Change
	// run, when set, is done in the request's savepoint instead of the
	// changes (Forget); it returns the type whose stamp it changed.
	run  func(ctx context.Context, t *txn) (string, error)
	done chan writeResp
}

type writeResp struct {
	results []store.Result
	err     error
}

// Write implements store.Store. It returns once the transaction holding the
// changes is committed with synchronous=FULL.
func (s *Store) Write(ctx context.Context, changes []store.Change) ([]store.Result, error) {
	return s.send(ctx, &writeReq{ctx: ctx, changes: changes, done: make(chan writeResp, 1)})
}

// send hands a request to the writer and waits for its verdict.
func (s *Store) send(ctx context.Context, req *writeReq) ([]store.Result, error) {
	closed := fmt.Errorf("sqlite: write: store closed: %w", store.ErrUnavailable)
	select {
	case <-s.quit:
		return nil, closed
	default:
	}
	select {
	case s.queue <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlite: write: %w", ctx.Err())
	case <-s.quit:
		return nil, closed
	}
	// Once queued, wait for the verdict even if ctx ends: returning early
	// could report a failure for a write that then commits. The queue is
	// buffered, so a Write racing Close can land in it after the writer's
	// last drain: the writer answers everything it took before it stops, so
	// no answer once it has stopped means the write never ran (without
	// this, such a Write waited forever).
	select {
	case r := <-req.done:
		return r.results, r.err
	case <-s.writerDone:
		select {
		case r := <-req.done:
			return r.results, r.err
		default:
			return nil, closed
		}
	}
}

// writer is the goroutine that owns the writer connection.
func (s *Store) writer() {
	defer close(s.writerDone)
	for {
		var first *writeReq
		select {
		case first = <-s.queue:
		case <-s.quit:
			// Answer whatever is still queued, then stop.
			for {
				select {
				case r := <-s.queue:
					r.done <- writeResp{err: fmt.Errorf("sqlite: write: store closed: %w", store.ErrUnavailable)}
				default:
					return
				}
			}
		}
		s.restartWAL()
		group := []*writeReq{first}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.queue:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup applies each request in its own savepoint and commits once.
func (s *Store) commitGroup(group []*writeReq) {
	fail := func(err error) {
		for _, r := range group {
			if r != nil {
				r.done <- writeResp{err: err}
			}
		}
	}
	// The transaction must not die with one member's context: members are
	// checked before they start, statements run on the background context.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(translate("begin write", err))
		return
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	t := s.stmts.in(ctx, tx)
	// One timestamp for the whole transaction: it happens at one instant.
	now := s.now().UTC().Truncate(time.Microsecond)
	results := make([][]store.Result, len(group))
	touched := map[string]bool{}
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- writeResp{err: fmt.Errorf("sqlite: write: %w", err)}
			group[i] = nil
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT request"); err != nil {
			fail(translate("savepoint", err))
			return
		}
		var res []store.Result
		var types map[string]bool
		if r.run != nil {
			var typ string
			typ, err = r.run(ctx, t)
			types = map[string]bool{typ: true}
		} else {
			res, types, err = s.applyAll(ctx, t, r.changes, now)
		}
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO request; RELEASE request"); rerr != nil {
				r.done <- writeResp{err: err}
				group[i] = nil
				fail(translate("roll back to savepoint", rerr))
				return
			}
			r.done <- writeResp{err: err}
			group[i] = nil
			continue
		}
		if _, err := tx.ExecContext(ctx, "RELEASE request"); err != nil {
			fail(translate("release savepoint", err))
			return
		}
		results[i] = res
		for t := range types {
			touched[t] = true
		}
	}
	for typ := range touched {
		if store.Unstamped(typ) {
			continue
		}
		if _, err := t.st.stamp.ExecContext(ctx, typ); err != nil {
			fail(translate("bump stamp "+typ, err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(translate("commit", err))
		return
	}
	for i, r := range group {
		if r != nil {
			r.done <- writeResp{results: results[i]}
		}
	}
}

// applyAll applies one request's changes in order and returns the types it
// changed (for the stamps).
func (s *Store) applyAll(ctx context.Context, t *txn, changes []store.Change, now time.Time) ([]store.Result, map[string]bool, error) {
	results := make([]store.Result, len(changes))
	touched := map[string]bool{}
	for i, c := range changes {
		var err error
		if results[i], err = s.apply(ctx, t, c, results[:i], now); err != nil {
			return nil, nil, err
		}
		if !results[i].Unchanged {
			touched[c.Type] = true
		}
	}
	return results, touched, nil
}

// OneCommit reports that a Write of several resources is one transaction,
// one fsync: an audit record can share its write's commit for free.
func (s *Store) OneCommit() bool { return true }
