package mongo

import (
	"context"
	"errors"
	"fmt"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// errReread: a document named a txn record that is gone, so the record was
// finished (or rolled back) between our two reads; read the document again.
var errReread = errors.New("txn record gone: read again")

// txnStates caches the state of the txn records one read call meets.
type txnStates map[string]string

// effective is the state readers see for a resources document: the document
// itself, unless a multi-change write that has not committed holds it, in
// which case the state before that write (nil: it did not exist).
func (s *Store) effective(ctx context.Context, doc *current, cache txnStates) (*state, error) {
	if doc.Txn == "" {
		return &doc.S, nil
	}
	st, ok := cache[doc.Txn]
	if !ok {
		rec, err := s.loadTxn(ctx, doc.Txn)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, errReread
		}
		st = rec.State
		if cache != nil {
			cache[doc.Txn] = st
		}
	}
	if st == txnCommitted {
		return &doc.S, nil
	}
	return doc.Prev, nil
}

func (s *Store) loadTxn(ctx context.Context, id string) (*txnRecord, error) {
	var rec txnRecord
	err := s.txns.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&rec)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("read txn "+id, err)
	}
	return &rec, nil
}

// readCurrent returns the effective current state of one resource, nil when
// it does not exist.
func (s *Store) readCurrent(ctx context.Context, key string) (*state, error) {
	for range 3 {
		var doc current
		err := s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&doc)
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, unavailable("read "+key, err)
		}
		st, err := s.effective(ctx, &doc, nil)
		if errors.Is(err, errReread) {
			continue
		}
		return st, err
	}
	return nil, fmt.Errorf("mongo: read %s: %w: txn marker without record", key, store.ErrUnavailable)
}

// Read returns the current version of a resource; a deletion comes back
// with store.ErrDeleted, an unknown resource is store.ErrNotFound.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	return store.Plain(s.read(ctx, typ, id))
}

func (s *Store) read(ctx context.Context, typ, id string) (store.Resource, error) {
	key := docKey(typ, id)
	st, err := s.readCurrent(ctx, key)
	if err != nil {
		return store.Resource{}, err
	}
	if st == nil {
		return store.Resource{}, fmt.Errorf("mongo: read %s: %w", key, store.ErrNotFound)
	}
	if st.Deleted {
		return st.resource(), fmt.Errorf("mongo: read %s: %w", key, store.ErrDeleted)
	}
	return st.resource(), nil
}

// ReadVersion returns one version of a resource (a deletion with
// store.ErrDeleted), or store.ErrNotFound. History documents newer than the
// effective current version belong to writes that have not happened (yet,
// or ever) and are not found.
func (s *Store) ReadVersion(ctx context.Context, typ, id string, versionID int64) (store.Resource, error) {
	return store.Plain(s.readVersion(ctx, typ, id, versionID))
}

func (s *Store) readVersion(ctx context.Context, typ, id string, versionID int64) (store.Resource, error) {
	key := docKey(typ, id)
	cur, err := s.readCurrent(ctx, key)
	if err != nil {
		return store.Resource{}, err
	}
	if cur == nil || versionID < 1 || versionID > cur.VersionID {
		return store.Resource{}, fmt.Errorf("mongo: read %s/_history/%d: %w", key, versionID, store.ErrNotFound)
	}
	st := cur
	if versionID < cur.VersionID {
		var v version
		err := s.history.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s/%d", key, versionID)}}).Decode(&v)
		if notFound(err) {
			return store.Resource{}, fmt.Errorf("mongo: read %s/_history/%d: %w", key, versionID, store.ErrNotFound)
		}
		if err != nil {
			return store.Resource{}, unavailable(fmt.Sprintf("read %s/_history/%d", key, versionID), err)
		}
		st = &v.S
	}
	if st.Deleted {
		return st.resource(), fmt.Errorf("mongo: read %s/_history/%d: %w", key, versionID, store.ErrDeleted)
	}
	return st.resource(), nil
}

// History returns every version of a resource, newest first, or
// store.ErrNotFound. The current version comes from the resources document
// (the history copy of it may still be on its way).
func (s *Store) History(ctx context.Context, typ, id string) ([]store.Resource, error) {
	return store.PlainAll(s.versions(ctx, typ, id))
}

func (s *Store) versions(ctx context.Context, typ, id string) ([]store.Resource, error) {
	key := docKey(typ, id)
	cur, err := s.readCurrent(ctx, key)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, fmt.Errorf("mongo: history %s: %w", key, store.ErrNotFound)
	}
	out := []store.Resource{cur.resource()}
	cursor, err := s.history.Find(ctx,
		bson.D{{Key: "type", Value: typ}, {Key: "id", Value: id}, {Key: "versionId", Value: bson.D{{Key: "$lt", Value: cur.VersionID}}}},
		options.Find().SetSort(bson.D{{Key: "versionId", Value: -1}}))
	if err != nil {
		return nil, unavailable("history "+key, err)
	}
	defer cursor.Close(ctx)
	for cursor.Next(ctx) {
		var v version
		if err := cursor.Decode(&v); err != nil {
			return nil, unavailable("history "+key, err)
		}
		out = append(out, v.S.resource())
	}
	if err := cursor.Err(); err != nil {
		return nil, unavailable("history "+key, err)
	}
	return out, nil
}

// scan runs a query on resources and calls fn with the effective state of
// each document found, skipping those that do not exist for readers.
func (s *Store) scan(ctx context.Context, op string, filter bson.D, opts *options.FindOptionsBuilder, fn func(*state) error) error {
	cursor, err := s.resources.Find(ctx, filter, opts)
	if err != nil {
		return unavailable(op, err)
	}
	defer cursor.Close(ctx)
	cache := txnStates{}
	for cursor.Next(ctx) {
		var doc current
		if err := cursor.Decode(&doc); err != nil {
			return unavailable(op, err)
		}
		st, err := s.effective(ctx, &doc, cache)
		if errors.Is(err, errReread) {
			st, err = s.readCurrent(ctx, doc.Key)
		}
		if err != nil {
			return err
		}
		if st == nil {
			continue
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	if err := cursor.Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// FindCanonical returns the live resources of a type whose URL (and
// version, when not empty) match, in no particular order.
func (s *Store) FindCanonical(ctx context.Context, typ, url, ver string) ([]store.Resource, error) {
	return store.PlainAll(s.findCanonical(ctx, typ, url, ver))
}

func (s *Store) findCanonical(ctx context.Context, typ, url, ver string) ([]store.Resource, error) {
	now := bson.D{{Key: "type", Value: typ}, {Key: "url", Value: url}}
	before := bson.D{{Key: "type", Value: typ}, {Key: "prev.url", Value: url}}
	if ver != "" {
		now = append(now, bson.E{Key: "version", Value: ver})
		before = append(before, bson.E{Key: "prev.version", Value: ver})
	}
	filter := bson.D{{Key: "$or", Value: bson.A{now, before}}}
	var out []store.Resource
	err := s.scan(ctx, "find "+typ+"?url="+url, filter, options.Find(), func(st *state) error {
		if st.live() && st.URL == url && (ver == "" || st.Version == ver) {
			out = append(out, st.resource())
		}
		return nil
	})
	return out, err
}

// ReportKeyHolders returns, for each key a live resource holds, that
// resource's id. A pending write's previous state counts (prev.reportKey)
// until its transaction record settles it.
func (s *Store) ReportKeyHolders(ctx context.Context, keys []string) (map[string]string, error) {
	holders := map[string]string{}
	if len(keys) == 0 {
		return holders, nil
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "reportKey", Value: bson.D{{Key: "$in", Value: keys}}}, {Key: "deleted", Value: false}},
		bson.D{{Key: "prev.reportKey", Value: bson.D{{Key: "$in", Value: keys}}}},
	}}}
	if s.caps.FerretDB && len(keys) == 1 {
		// FerretDB runs an $or (and an $in) as a scan of the whole
		// collection, decoding every body: the one query of a single PUT
		// that grew with the data (issue 13: 28 PUTs/s on PostgreSQL). A
		// plain equality is a query on its index. It misses only a
		// resource a pending no-transaction write is moving off the key
		// (prev.reportKey): the lookup is then advice the write corrects,
		// since the write claims the key, meets the pending write's mark
		// and settles it (a create is planned again, an update refused as
		// a duplicate key if the key stays held).
		filter = bson.D{{Key: "reportKey", Value: keys[0]}}
	}
	err := s.scan(ctx, "find report keys", filter, options.Find(), func(st *state) error {
		if st.live() && want[st.ReportKey] {
			holders[st.ReportKey] = st.RID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return holders, nil
}

// List calls fn for every live resource of a type in id order, until fn
// returns an error, which List returns as is.
func (s *Store) List(ctx context.Context, typ string, fn func(store.Resource) error) error {
	// Deleted documents a pending write holds may be live for readers.
	filter := bson.D{{Key: "type", Value: typ}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "deleted", Value: false}},
		bson.D{{Key: "txn", Value: bson.D{{Key: "$exists", Value: true}}}},
	}}}
	return s.scan(ctx, "list "+typ, filter, options.Find().SetSort(bson.D{{Key: "id", Value: 1}}), func(st *state) error {
		if !st.live() {
			return nil
		}
		r, err := store.Plain(st.resource(), nil)
		if err != nil {
			return err
		}
		return fn(r)
	})
}

// Stamp returns the sum of the write counters of the given types: it
// changes whenever one of them is written, by any process.
func (s *Store) Stamp(ctx context.Context, types ...string) (int64, error) {
	if err := store.CheckStamped(types); err != nil {
		return 0, err
	}
	cursor, err := s.stamps.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: types}}}})
	if err != nil {
		return 0, unavailable("stamp", err)
	}
	defer cursor.Close(ctx)
	var sum int64
	for cursor.Next(ctx) {
		var c struct {
			N int64 `bson:"n"`
		}
		if err := cursor.Decode(&c); err != nil {
			return 0, unavailable("stamp", err)
		}
		sum += c.N
	}
	if err := cursor.Err(); err != nil {
		return 0, unavailable("stamp", err)
	}
	return sum, nil
}

// bumpStamps increments the counters of the types written. It runs after
// the write is visible, so that a cache filled under the new stamp never
// holds the old data.
func (s *Store) bumpStamps(ctx context.Context, types []string) error {
	for _, t := range types {
		if store.Unstamped(t) {
			continue
		}
		_, err := s.stamps.UpdateOne(ctx, bson.D{{Key: "_id", Value: t}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return unavailable("stamp "+t, err)
		}
	}
	return nil
}
