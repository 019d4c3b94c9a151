package mongo

import (
	"context"
	"errors"
	"fmt"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Report-key claims, used only without server transactions.
//
// The unique index on resources.reportKey is what guarantees that two live
// resources never hold one key. It is not enough for the no-transaction
// protocol: a pending write that moves a report from key k1 to k3 (or
// deletes it) frees k1 in the resources document at step 4, and if another
// writer took k1 then, the rollback could not give it back. So every writer
// that makes a resource take a key first claims it in the claims collection
// (_id: the key), and a pending write marks the claims of the keys it takes
// and frees: a claim marked by a pending write cannot be taken. A claim
// whose owner does not hold the key (its writer failed, or released it) is
// taken over; if two writers still race to the same key, the unique index
// decides.

// lockKey claims report key k for the resource owner ("<type>/<id>"),
// marked with txn when txn is not empty. It returns store.ErrDuplicateKey
// when another live resource holds k, and a lost race when a pending write
// has it or the claim moved under us.
func (s *Store) lockKey(ctx context.Context, k, owner, txn string) error {
	// Most keys are new (a facility's first report for a period): take
	// the key outright, one command; only a key claimed before is read.
	_, err := s.claims.InsertOne(ctx, claim{Key: k, Owner: owner, Txn: txn, At: s.now().UTC()})
	if err == nil || !isDup(err) {
		return mapErr(fmt.Sprintf("write %s: report key %q", owner, k), err)
	}
	return s.lockClaimed(ctx, k, owner, txn)
}

// lockKeys takes the claims of a multi-change write in their order: the
// new keys first in one command (a Bundle of 100 new reports used to cost
// 100), then each key claimed before (one freed and taken in the same
// write among them) the long way, releases before acquires.
func (s *Store) lockKeys(ctx context.Context, claims []txnClaim, txn string) error {
	var fresh []any
	var idx []int
	for i, c := range claims {
		if c.Acquire {
			fresh = append(fresh, claim{Key: c.Key, Owner: c.Owner, Txn: txn, At: s.now().UTC()})
			idx = append(idx, i)
		}
	}
	taken := make([]bool, len(claims))
	if len(fresh) > 0 {
		_, err := s.claims.InsertMany(ctx, fresh, options.InsertMany().SetOrdered(false))
		for _, i := range idx {
			taken[i] = true
		}
		var bwe mongo.BulkWriteException
		switch {
		case err == nil:
		case errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0:
			for _, we := range bwe.WriteErrors {
				if !isDupWrite(we.WriteError) {
					return unavailable("write: report key claims", err)
				}
				if we.Index >= 0 && we.Index < len(idx) {
					taken[idx[we.Index]] = false
				}
			}
		default:
			return unavailable("write: report key claims", err)
		}
	}
	for i, c := range claims {
		if taken[i] {
			continue
		}
		if err := s.lockClaimed(ctx, c.Key, c.Owner, txn); err != nil {
			return err
		}
	}
	return nil
}

// lockClaimed is lockKey for a key that has a claim (or had one a moment
// ago).
func (s *Store) lockClaimed(ctx context.Context, k, owner, txn string) error {
	op := fmt.Sprintf("write %s: report key %q", owner, k)
	for range 3 {
		var c claim
		err := s.claims.FindOne(ctx, bson.D{{Key: "_id", Value: k}}).Decode(&c)
		if notFound(err) {
			_, err := s.claims.InsertOne(ctx, claim{Key: k, Owner: owner, Txn: txn, At: s.now().UTC()})
			if isDup(err) {
				continue
			}
			return mapErr(op, err)
		}
		if err != nil {
			return unavailable(op, err)
		}
		if c.Txn != "" && c.Txn != txn {
			return errLostRace{txn: c.Txn}
		}
		if c.Owner == owner && c.Txn == txn {
			return nil
		}
		// A claim of our own txn under another owner is a key this very
		// write frees from one resource and gives to another.
		if c.Owner != owner && c.Txn == "" {
			holder, err := s.readCurrent(ctx, c.Owner)
			if err != nil {
				return err
			}
			if holder.live() && holder.ReportKey == k {
				return fmt.Errorf("mongo: %s: held by %s: %w", op, c.Owner, store.ErrDuplicateKey)
			}
		}
		filter := bson.D{{Key: "_id", Value: k}, {Key: "owner", Value: c.Owner}}
		if c.Txn == "" {
			filter = append(filter, bson.E{Key: "txn", Value: bson.D{{Key: "$exists", Value: false}}})
		} else {
			filter = append(filter, bson.E{Key: "txn", Value: c.Txn})
		}
		set := bson.D{{Key: "owner", Value: owner}, {Key: "at", Value: s.now().UTC()}}
		update := bson.D{{Key: "$set", Value: append(set, bson.E{Key: "txn", Value: txn})}}
		if txn == "" {
			update = bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "txn", Value: ""}}}}
		}
		res, err := s.claims.UpdateOne(ctx, filter, update)
		if err != nil {
			return unavailable(op, err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return lostRace
}
