package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The no-transaction protocol: how several resources are written at once
// where the server has no multi-document transactions (standalone mongod,
// FerretDB), without readers ever seeing half of it. See docs/storage.md.
//
//  1. insert a txn record {state: pending, keys, hist, claims}
//  2. claim the report keys the write takes or frees (claims.go)
//  3. insert the new history versions, marked with the txn
//  4. compare-and-swap each resources document to its new state, marked
//     with the txn and keeping the state it replaces in prev; readers of a
//     document whose txn has not committed use prev
//  5. update the txn record from pending to committed: the atomic point
//  6. finish: clear the markers, release claims, bump stamps, delete the
//     record
//
// Anything failing before 5 is rolled back (prev restored, history and
// claims removed); a writer that died is rolled back by recovery once its
// record is older than StaleAfter, and one that died after 5 is finished.
// Commit and abort are both one conditional update of the record from
// pending, so exactly one of them wins.

// errHook marks an error a test hook returned: the write stops dead, as if
// the process had crashed, leaving recovery to clean up.
var errHook = errors.New("stopped by test hook")

func (s *Store) writeProtocol(ctx context.Context, p *plan) error {
	ws := applyOrder(p.writes)
	rec := &txnRecord{ID: newID(), State: txnPending, Created: s.now().UTC(), Types: p.types}
	for _, w := range ws {
		rec.Keys = append(rec.Keys, w.key)
		for _, h := range w.hist {
			rec.Hist = append(rec.Hist, fmt.Sprintf("%s/%d", w.key, h.VersionID))
		}
		if k := w.releases(); k != "" {
			rec.Claims = append(rec.Claims, txnClaim{Key: k, Owner: w.key})
		}
		if k := w.acquires(); k != "" {
			rec.Claims = append(rec.Claims, txnClaim{Key: k, Owner: w.key, Acquire: true})
		}
	}
	op := fmt.Sprintf("write %s and %d more", ws[0].key, len(ws)-1)
	if _, err := s.txns.InsertOne(ctx, rec); err != nil {
		return unavailable(op+": begin", err)
	}
	started := s.now()
	fail := func(err error) error {
		if errors.Is(err, errHook) {
			return err
		}
		if rerr := s.rollback(context.WithoutCancel(ctx), rec.ID); rerr != nil {
			// Recovery finishes the rollback; readers already ignore
			// the write, so the caller's answer does not change.
			return errors.Join(err, rerr)
		}
		return err
	}
	if err := s.step("begun"); err != nil {
		return fail(err)
	}
	if err := s.lockKeys(ctx, rec.Claims, rec.ID); err != nil {
		return fail(err)
	}
	if err := s.insertHistory(ctx, ws, rec.ID, newID()); err != nil {
		return fail(err)
	}
	err := s.swapAll(ctx, ws, rec.ID, true, func(i int) error { return s.step(fmt.Sprintf("applied %d", i)) })
	if err != nil {
		return fail(err)
	}
	// Recovery may take a writer this slow for dead and roll it back: the
	// commit below would then fail anyway, but say why.
	if s.now().Sub(started) > s.staleAfter/2 {
		return fail(fmt.Errorf("mongo: %s: %w: stalled before commit", op, store.ErrUnavailable))
	}
	res, err := s.txns.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: rec.ID}, {Key: "state", Value: txnPending}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: txnCommitted}}}})
	if err != nil {
		// The commit may or may not have happened: ask the record.
		now, lerr := s.loadTxn(context.WithoutCancel(ctx), rec.ID)
		if lerr != nil || now == nil || now.State != txnCommitted {
			return fail(unavailable(op+": commit", err))
		}
	} else if res.MatchedCount == 0 {
		return fail(fmt.Errorf("mongo: %s: %w: rolled back by recovery before commit", op, store.ErrUnavailable))
	}
	if err := s.step("committed"); err != nil {
		return err
	}
	// Committed: the write is visible to every reader from here on, and a
	// failed clean-up is recovery's business, not the caller's.
	rec.State = txnCommitted
	_ = s.finish(context.WithoutCancel(ctx), rec)
	return nil
}

// settle moves a txn record met by a reader or writer towards its end:
// finish it if committed, roll it back if aborted or stale; one still
// fresh and pending is left to its writer.
func (s *Store) settle(ctx context.Context, id string) error {
	rec, err := s.loadTxn(ctx, id)
	if err != nil || rec == nil {
		return err
	}
	switch {
	case rec.State == txnCommitted:
		return s.finish(ctx, rec)
	case rec.State == txnAborted, s.now().Sub(rec.Created) > s.staleAfter:
		return s.rollback(ctx, id)
	}
	return nil
}

// finish makes a committed write plain: markers and prev removed, freed
// claims released, taken ones kept, stamps bumped, record deleted. Every
// step is idempotent (filters on the txn id), so several finishers may race.
func (s *Store) finish(ctx context.Context, rec *txnRecord) error {
	op := "finish txn " + rec.ID
	// One command per collection and kind, however many resources the
	// write touched (a Bundle of 100 cost 200 here).
	_, err := s.resources.UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: rec.Keys}}}, {Key: "txn", Value: rec.ID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "txn", Value: ""}, {Key: "prev", Value: ""}}}})
	if err != nil {
		return unavailable(op, err)
	}
	if f := claimsOf(rec, true); f != nil {
		if _, err := s.claims.UpdateMany(ctx, f, bson.D{{Key: "$unset", Value: bson.D{{Key: "txn", Value: ""}}}}); err != nil {
			return unavailable(op, err)
		}
	}
	if f := claimsOf(rec, false); f != nil {
		if _, err := s.claims.DeleteMany(ctx, f); err != nil {
			return unavailable(op, err)
		}
	}
	if err := s.bumpStamps(ctx, rec.Types); err != nil {
		return err
	}
	if _, err := s.txns.DeleteOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// claimsOf is the filter of the record's claims that acquire (or release)
// a key, each by its owner and marked with the record, nil when there are
// none. The owner matters: a key one resource of the write frees and
// another takes is one claim document, now the taker's.
func claimsOf(rec *txnRecord, acquire bool) bson.D {
	var or bson.A
	for _, c := range rec.Claims {
		if c.Acquire == acquire {
			or = append(or, bson.D{{Key: "_id", Value: c.Key}, {Key: "owner", Value: c.Owner}})
		}
	}
	if len(or) == 0 {
		return nil
	}
	return bson.D{{Key: "txn", Value: rec.ID}, {Key: "$or", Value: or}}
}

// rollback aborts a write that has not committed and undoes it: each
// resources document it marked gets its prev back (or goes, if the write
// created it), in the reverse order of the writes, so that a report key
// taken by one write is free again before the write that freed it takes it
// back. A write that turns out committed is finished instead.
func (s *Store) rollback(ctx context.Context, id string) error {
	op := "roll back txn " + id
	_, err := s.txns.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "state", Value: txnPending}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: txnAborted}}}})
	if err != nil {
		return unavailable(op, err)
	}
	rec, err := s.loadTxn(ctx, id)
	if err != nil || rec == nil {
		return err
	}
	if rec.State == txnCommitted {
		return s.finish(ctx, rec)
	}
	for _, k := range slices.Backward(rec.Keys) {
		filter := bson.D{{Key: "_id", Value: k}, {Key: "txn", Value: id}}
		var doc current
		err := s.resources.FindOne(ctx, filter).Decode(&doc)
		switch {
		case notFound(err):
			continue
		case err != nil:
			return unavailable(op, err)
		case doc.Prev == nil:
			_, err = s.resources.DeleteOne(ctx, filter)
		default:
			_, err = s.resources.ReplaceOne(ctx, filter, current{Key: k, S: *doc.Prev})
		}
		if err != nil {
			return mapErr(op+": restore "+k, err)
		}
	}
	if _, err := s.history.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: rec.Hist}}}, {Key: "txn", Value: id}}); err != nil {
		return unavailable(op, err)
	}
	for _, c := range rec.Claims {
		filter := bson.D{{Key: "_id", Value: c.Key}, {Key: "owner", Value: c.Owner}, {Key: "txn", Value: id}}
		var err error
		if c.Acquire {
			_, err = s.claims.DeleteOne(ctx, filter)
		} else {
			_, err = s.claims.UpdateOne(ctx, filter, bson.D{{Key: "$unset", Value: bson.D{{Key: "txn", Value: ""}}}})
		}
		if err != nil {
			return unavailable(op, err)
		}
	}
	if _, err := s.txns.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// Recover settles the multi-change writes of dead writers: committed ones
// are finished, aborted ones and those pending for longer than StaleAfter
// rolled back. Open runs it, and then a background loop every RecoverEvery;
// it is exported for operators and tests. Its error wraps
// store.ErrUnavailable.
func (s *Store) Recover(ctx context.Context) error {
	cursor, err := s.txns.Find(ctx, bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: bson.A{txnPending, txnCommitted, txnAborted}}}}})
	if err != nil {
		return unavailable("recover", err)
	}
	var recs []txnRecord
	if err := cursor.All(ctx, &recs); err != nil {
		return unavailable("recover", err)
	}
	var errs []error
	for _, rec := range recs {
		if err := s.settle(ctx, rec.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
