package mongo

import (
	"cmp"
	"context"
	"slices"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// writeInTransaction writes several resources in one server transaction
// (replica set or sharded cluster): plan and apply run inside it, and the
// driver retries the whole callback on TransientTransactionError (write
// conflicts, elections) and the commit on UnknownTransactionCommitResult.
// Stamps are bumped after the commit, outside the transaction: inside it,
// every write of a type would conflict on the same counter document.
func (s *Store) writeInTransaction(ctx context.Context, changes []store.Change, trustCreates bool) ([]store.Result, error) {
	sess, err := s.client.StartSession()
	if err != nil {
		return nil, unavailable("write "+describe(changes)+": session", err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	journal := true
	txOpts := options.Transaction().
		SetReadConcern(readconcern.Snapshot()).
		SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: &journal})
	var p *plan
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		var err error
		if p, err = s.plan(ctx, changes, trustCreates); err != nil {
			return nil, transient(err)
		}
		if err := s.insertHistory(ctx, p.writes, "", newID()); err != nil {
			return nil, transient(err)
		}
		return nil, transient(s.swapAll(ctx, applyOrder(p.writes), "", false, nil))
	}, txOpts)
	if err != nil {
		if isDriverError(err) {
			return nil, mapErr("write "+describe(changes)+": transaction", err)
		}
		return nil, err
	}
	_ = s.bumpStamps(context.WithoutCancel(ctx), p.types)
	return p.results, nil
}

// applyOrder puts the writes that take a report key last, so that a key one
// resource frees and another takes in the same Write is free when taken:
// unique indexes are checked statement by statement, even in a transaction.
func applyOrder(ws []*write) []*write {
	out := slices.Clone(ws)
	slices.SortStableFunc(out, func(a, b *write) int {
		return cmp.Compare(boolInt(a.acquires() != ""), boolInt(b.acquires() != ""))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OneCommit reports whether a Write of several resources is one server
// transaction; without transactions it is the txn-record protocol, many
// round trips (protocol.go).
func (s *Store) OneCommit() bool { return s.caps.Transactions }
