package mongo

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// retryBudget bounds how long a write that keeps losing races retries. It
// is a time, not a count of attempts: under load every round trip is
// slower and a fixed count ran out while writers were still making
// progress (seen on a loaded 2-core CI machine with 16 writers on two
// resources); a stuck resource still fails in seconds, not minutes.
const retryBudget = 30 * time.Second

// write is what one Write does to one resources document (several changes
// to the same resource in one Write fold into one write).
type write struct {
	key    string
	orig   *current // the document as read, nil when absent; never marked
	after  state    // the state it will hold
	hist   []state  // the new versions, oldest first
	change int      // index of the first change, for error messages
}

// before is the state the write replaces, nil when the resource is new.
func (w *write) before() *state {
	if w.orig == nil {
		return nil
	}
	return &w.orig.S
}

// acquires is the report key this write makes the resource hold that it
// did not hold before; releases the one it stops holding.
func (w *write) acquires() string {
	if b := w.before(); w.after.ReportKey != "" && (b == nil || b.ReportKey != w.after.ReportKey) {
		return w.after.ReportKey
	}
	return ""
}

func (w *write) releases() string {
	if b := w.before(); b != nil && b.ReportKey != "" && b.ReportKey != w.after.ReportKey {
		return b.ReportKey
	}
	return ""
}

type plan struct {
	writes  []*write
	results []store.Result
	types   []string
}

// Write applies the changes atomically (see store.Store). A single resource
// is written with one compare-and-swap on its version; several, in a
// server transaction where the deployment has them, otherwise with the
// txn-record protocol of protocol.go. A lost race is retried with backoff,
// except when a change carries IfMatch: the caller asked for that version,
// and it is gone, so ErrVersionConflict.
func (s *Store) Write(ctx context.Context, changes []store.Change) ([]store.Result, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	for _, c := range changes {
		if c.Type == "" || c.ID == "" || (!c.Delete && !c.HasRender()) {
			return nil, fmt.Errorf("mongo: write %s: change without type, id or Render", docKey(c.Type, c.ID))
		}
	}
	ifMatch := slices.ContainsFunc(changes, func(c store.Change) bool { return c.IfMatch != 0 })
	start := time.Now()
	for attempt := 1; ; attempt++ {
		res, err := s.writeOnce(ctx, changes, attempt == 1)
		var lost errLostRace
		if !errors.As(err, &lost) {
			return res, err
		}
		if err := s.untangle(ctx, lost); err != nil {
			return nil, err
		}
		if ifMatch || time.Since(start) > retryBudget {
			return nil, fmt.Errorf("mongo: write %s: %w", describe(changes), store.ErrVersionConflict)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, unavailable("write "+describe(changes), err)
		}
	}
}

func describe(changes []store.Change) string {
	d := docKey(changes[0].Type, changes[0].ID)
	if len(changes) > 1 {
		d += fmt.Sprintf(" and %d more", len(changes)-1)
	}
	return d
}

// backoff sleeps a jittered, growing delay, so that racing writers spread
// out instead of colliding again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	ceiling := time.Duration(min(1<<min(attempt, 7), 100)) * time.Millisecond
	t := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// writeOnce makes one attempt. On the first, creates are trusted (see
// plan); a retry reads everything.
func (s *Store) writeOnce(ctx context.Context, changes []store.Change, trustCreates bool) ([]store.Result, error) {
	if s.caps.Transactions && distinctKeys(changes) > 1 {
		return s.writeInTransaction(ctx, changes, trustCreates)
	}
	p, err := s.plan(ctx, changes, trustCreates)
	if err != nil {
		return nil, err
	}
	switch len(p.writes) {
	case 0:
		return p.results, nil
	case 1:
		return p.results, s.writeSingle(ctx, p)
	default:
		return p.results, s.writeProtocol(ctx, p)
	}
}

func distinctKeys(changes []store.Change) int {
	seen := map[string]bool{}
	for _, c := range changes {
		seen[docKey(c.Type, c.ID)] = true
	}
	return len(seen)
}

// plan reads the current state of every resource the changes touch,
// checks their preconditions and renders the new versions. Nothing is
// written, so it can run inside a server transaction.
//
// With trustCreates, a create-only change (an audit record; a report the
// pipeline found absent) is planned as new without reading: if the
// resource exists after all, its version 1 in history or its _id in
// resources collides, the attempt is a lost race, and the retry reads.
// That saves one round trip of the two or three a typical PUT writes.
func (s *Store) plan(ctx context.Context, changes []store.Change, trustCreates bool) (*plan, error) {
	p := &plan{results: make([]store.Result, len(changes))}
	var need []string
	seen := make(map[string]bool, len(changes))
	known := map[string]*current{}
	// The protocol keeps the state it replaces (prev) to roll back to, so
	// it needs that state as stored, body included: only a write of one
	// resource, or one in a server transaction, plans from what the
	// caller read.
	single := s.caps.Transactions || distinctKeys(changes) == 1
	for _, c := range changes {
		key := docKey(c.Type, c.ID)
		switch {
		case seen[key]:
		case trustCreates && c.CreateOnly && c.IfMatch == 0:
		case trustCreates && single && c.Current != nil && c.IfMatch == c.Current.VersionID && !c.Current.Deleted:
			known[key] = &current{Key: key, S: stateOf(*c.Current)}
		default:
			need = append(need, key)
		}
		seen[key] = true
	}
	loaded, err := s.loadForWrite(ctx, need)
	if err != nil {
		return nil, err
	}
	if loaded == nil {
		loaded = known
	}
	for k, doc := range known {
		loaded[k] = doc
	}
	byKey := map[string]*write{}
	at := s.nowMs()
	for i, c := range changes {
		key := docKey(c.Type, c.ID)
		w := byKey[key]
		var cur *state
		if w != nil {
			cur = &w.after
		} else {
			doc := loaded[key]
			if doc != nil {
				cur = &doc.S
			}
			w = &write{key: key, orig: doc, change: i}
		}
		switch {
		case c.IfMatch != 0 && (cur == nil || cur.VersionID != c.IfMatch):
			return nil, fmt.Errorf("mongo: write %s: If-Match %d: %w", key, c.IfMatch, store.ErrVersionConflict)
		case c.CreateOnly && cur.live():
			return nil, fmt.Errorf("mongo: create %s: %w", key, store.ErrDuplicateKey)
		case c.Delete && cur == nil:
			return nil, fmt.Errorf("mongo: delete %s: %w", key, store.ErrNotFound)
		case c.Delete && cur.Deleted,
			c.SkipUnchanged && cur.live() && c.Index.ContentHash != "" && cur.ContentHash == c.Index.ContentHash:
			p.results[i] = store.Result{Resource: cur.resource(), Unchanged: true}
			continue
		}
		vid, stamp := int64(1), at
		if cur != nil {
			vid = cur.VersionID + 1
			// lastUpdated never goes back, even if this process's clock
			// is behind the one that wrote the current version.
			if cur.LastUpdated.After(stamp) {
				stamp = cur.LastUpdated.UTC()
			}
		}
		var body []byte
		if !c.Delete {
			b, err := c.RenderBody(p.results[:i], vid, stamp)
			if err != nil {
				return nil, fmt.Errorf("mongo: write %s: render: %w", key, err)
			}
			body = b
		}
		if c.Delete {
			w.after = deletionOf(cur, vid, stamp)
		} else {
			w.after = newState(c, vid, stamp, body)
		}
		w.hist = append(w.hist, w.after)
		if byKey[key] == nil {
			byKey[key] = w
			p.writes = append(p.writes, w)
		}
		p.results[i] = store.Result{Resource: w.after.resource(), Created: !cur.live()}
		if !slices.Contains(p.types, c.Type) {
			p.types = append(p.types, c.Type)
		}
	}
	return p, nil
}

// loadForWrite reads the resources documents of keys for a writer, in one
// command however many there are (a Bundle of 100 used to cost 100), and
// returns those that exist. One that a pending no-transaction write holds
// is a lost race: Write settles that write (outside any server
// transaction) and retries.
func (s *Store) loadForWrite(ctx context.Context, keys []string) (map[string]*current, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	op := "write " + keys[0]
	if len(keys) > 1 {
		op += fmt.Sprintf(" and %d more", len(keys)-1)
	}
	filter := bson.D{{Key: "_id", Value: keys[0]}}
	if len(keys) > 1 {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}}
	}
	cursor, err := s.resources.Find(ctx, filter)
	if err != nil {
		return nil, unavailable(op, err)
	}
	defer cursor.Close(ctx)
	docs := make(map[string]*current, len(keys))
	for cursor.Next(ctx) {
		var doc current
		if err := cursor.Decode(&doc); err != nil {
			return nil, unavailable(op, err)
		}
		if doc.Txn != "" {
			return nil, errLostRace{txn: doc.Txn}
		}
		docs[doc.Key] = &doc
	}
	if err := cursor.Err(); err != nil {
		return nil, unavailable(op, err)
	}
	return docs, nil
}

// untangle clears what made a write lose a race, when it is not another
// live writer: a pending write to settle, a dead writer's history version.
func (s *Store) untangle(ctx context.Context, lost errLostRace) error {
	if lost.txn != "" {
		if err := s.settle(ctx, lost.txn); err != nil {
			return err
		}
	}
	if lost.orphan != "" {
		return s.clearOrphan(ctx, lost.orphan)
	}
	return nil
}

// writeSingle writes one resource: its new versions into history, then one
// compare-and-swap of the resources document on the version read. Without
// server transactions, a report key it takes is claimed first (claims.go).
func (s *Store) writeSingle(ctx context.Context, p *plan) error {
	w := p.writes[0]
	if !s.caps.Transactions {
		if k := w.acquires(); k != "" {
			if err := s.lockKey(ctx, k, w.key, ""); err != nil {
				return err
			}
		}
	}
	nonce := newID()
	started := s.now()
	if err := s.insertHistory(ctx, p.writes, "", nonce); err != nil {
		return err
	}
	// A writer that stalled this long may have been taken for dead and had
	// its history versions removed: it must not make them current.
	if s.now().Sub(started) > s.staleAfter/2 {
		s.dropHistory(ctx, p.writes, nonce)
		return fmt.Errorf("mongo: write %s: %w: stalled between history and current", w.key, store.ErrUnavailable)
	}
	if err := s.swap(ctx, w, "", true); err != nil {
		s.dropHistory(ctx, p.writes, nonce)
		return err
	}
	if !s.caps.Transactions {
		if k := w.releases(); k != "" {
			// Best effort: a claim whose owner no longer holds the key is
			// taken over by the next writer that wants it.
			_, _ = s.claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: k}, {Key: "owner", Value: w.key}, {Key: "txn", Value: bson.D{{Key: "$exists", Value: false}}}})
		}
	}
	// The write is durable and visible: a failed stamp bump only delays
	// cache invalidation to the next write of the type, so it is not an
	// error of this write.
	_ = s.bumpStamps(context.WithoutCancel(ctx), p.types)
	return nil
}

// insertHistory inserts the new versions of the writes, in one command
// however many writes there are. A version that already exists was
// inserted by a concurrent writer or left by a dead one: a lost race
// either way (Write clears a dead one before retrying).
func (s *Store) insertHistory(ctx context.Context, ws []*write, txn, nonce string) error {
	ids := historyIDs(ws)
	docs := make([]any, 0, len(ids))
	at := s.now().UTC()
	for _, w := range ws {
		for _, h := range w.hist {
			docs = append(docs, version{Key: ids[len(docs)], S: h, Txn: txn, Nonce: nonce, At: at})
		}
	}
	_, err := s.history.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	if err == nil {
		return nil
	}
	s.dropHistory(ctx, ws, nonce)
	if isDup(err) {
		return errLostRace{orphan: firstDup(err, ids)}
	}
	return unavailable("write "+ws[0].key+": history", err)
}

// historyIDs are the _ids of the writes' new versions, in insert order.
func historyIDs(ws []*write) []string {
	var ids []string
	for _, w := range ws {
		for _, h := range w.hist {
			ids = append(ids, fmt.Sprintf("%s/%d", w.key, h.VersionID))
		}
	}
	return ids
}

// firstDup names the history version an InsertMany of ids collided with.
func firstDup(err error, ids []string) string {
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
		if i := bwe.WriteErrors[0].Index; i >= 0 && i < len(ids) {
			return ids[i]
		}
	}
	return ids[0]
}

func (s *Store) dropHistory(ctx context.Context, ws []*write, nonce string) {
	// Best effort, on a context that outlives a cancelled request: what is
	// left is an orphan newer than the current version, which readers
	// ignore and the next writer of that version clears.
	_, _ = s.history.DeleteMany(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: historyIDs(ws)}}}, {Key: "nonce", Value: nonce}})
}

// swap is the compare-and-swap of one resources document: replace it if it
// still holds the version read and no pending write holds it, or insert it
// if it did not exist. With txn set, the new document is marked with the
// txn and keeps the state it replaces in prev.
func (s *Store) swap(ctx context.Context, w *write, txn string, canCheck bool) error {
	doc := current{Key: w.key, S: w.after, Txn: txn}
	if txn != "" {
		doc.Prev = w.before()
	}
	if w.orig == nil {
		_, err := s.resources.InsertOne(ctx, doc)
		if err == nil {
			return nil
		}
		if !isDup(err) {
			return unavailable("write "+w.key, err)
		}
		return s.insertCollided(ctx, w, err, canCheck)
	}
	filter := bson.D{
		{Key: "_id", Value: w.key},
		{Key: "versionId", Value: w.orig.S.VersionID},
		{Key: "txn", Value: bson.D{{Key: "$exists", Value: false}}},
	}
	res, err := s.resources.ReplaceOne(ctx, filter, doc)
	if err != nil {
		if isDup(err) {
			return fmt.Errorf("mongo: write %s: report key %q: %w", w.key, w.after.ReportKey, store.ErrDuplicateKey)
		}
		return unavailable("write "+w.key, err)
	}
	if res.MatchedCount == 0 {
		return lostRace
	}
	return nil
}

// swapAll swaps the resources documents of ws in order. A run of new
// resources is one command (a Bundle of 100 new reports used to cost 100;
// a report and its audit record, 2); a replaced one is its own
// compare-and-swap. applied, when set, runs after each document with the
// count applied so far (the protocol's test hook).
func (s *Store) swapAll(ctx context.Context, ws []*write, txn string, canCheck bool, applied func(int) error) error {
	for i := 0; i < len(ws); {
		n := 1
		for n < len(ws)-i && ws[i].orig == nil && ws[i+n].orig == nil {
			n++
		}
		var err error
		if n > 1 {
			err = s.insertNew(ctx, ws[i:i+n], txn, canCheck)
		} else {
			err = s.swap(ctx, ws[i], txn, canCheck)
		}
		if err != nil {
			return err
		}
		for range n {
			i++
			if applied != nil {
				if err := applied(i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// insertNew inserts the resources documents of writes that create their
// resource, marked with txn, in one ordered command: the protocol's swap of
// each, when none existed before.
func (s *Store) insertNew(ctx context.Context, ws []*write, txn string, canCheck bool) error {
	docs := make([]any, len(ws))
	for i, w := range ws {
		docs[i] = current{Key: w.key, S: w.after, Txn: txn}
	}
	_, err := s.resources.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) != 1 || !isDupWrite(bwe.WriteErrors[0].WriteError) {
		return unavailable("write "+ws[0].key+fmt.Sprintf(" and %d more", len(ws)-1), err)
	}
	i := bwe.WriteErrors[0].Index
	if i < 0 || i >= len(ws) {
		return unavailable("write "+ws[0].key, err)
	}
	// The documents before i are in (ordered): the caller's rollback
	// removes them. Which index the one at i collided on decides.
	return s.insertCollided(ctx, ws[i], err, canCheck)
}

// insertCollided explains the duplicate-key error err of inserting w's new
// document: a lost race when another writer created the resource (its
// _id), a taken report key otherwise.
func (s *Store) insertCollided(ctx context.Context, w *write, err error, canCheck bool) error {
	onID, known := dupOnID(err)
	if !known && canCheck {
		// FerretDB does not say which index: if the document is there
		// now, a concurrent writer created it.
		n, cerr := s.resources.CountDocuments(ctx, bson.D{{Key: "_id", Value: w.key}})
		if cerr != nil {
			return unavailable("write "+w.key, cerr)
		}
		onID = n > 0
	}
	if onID {
		return lostRace
	}
	return fmt.Errorf("mongo: write %s: report key %q: %w", w.key, w.after.ReportKey, store.ErrDuplicateKey)
}

// clearOrphan removes a history version that a writer inserted and never
// made current, once it is older than StaleAfter (younger, its writer may
// still be at work). One a pending write inserted is settled with it.
func (s *Store) clearOrphan(ctx context.Context, id string) error {
	var v version
	err := s.history.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&v)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return unavailable("write: history "+id, err)
	}
	if v.Txn != "" {
		rec, err := s.loadTxn(ctx, v.Txn)
		if err != nil || rec != nil {
			if err != nil {
				return err
			}
			return s.settle(ctx, v.Txn)
		}
	}
	cur, err := s.readCurrent(ctx, docKey(v.S.Type, v.S.RID))
	if err != nil {
		return err
	}
	if (cur != nil && cur.VersionID >= v.S.VersionID) || s.now().Sub(v.At) < s.staleAfter {
		return nil
	}
	_, err = s.history.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "nonce", Value: v.Nonce}})
	if err != nil {
		return unavailable("write: clear history "+id, err)
	}
	return nil
}

// newID returns 128 random bits in hex: txn ids and writer nonces, unique
// across processes without coordination.
func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Forget implements store.Store: the history documents below the version,
// or the resource whole (its current document, then every history
// document; a crash in between leaves history that a later Forget of the
// same resource removes, and that no read shows, since reads start from
// the current document).
func (s *Store) Forget(ctx context.Context, typ, id string, below int64) error {
	key := docKey(typ, id)
	hist := bson.D{{Key: "type", Value: typ}, {Key: "id", Value: id}}
	if below > 0 {
		hist = append(hist, bson.E{Key: "versionId", Value: bson.D{{Key: "$lt", Value: below}}})
	} else if _, err := s.resources.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return unavailable("forget "+key, err)
	}
	if _, err := s.history.DeleteMany(ctx, hist); err != nil {
		return unavailable("forget "+key, err)
	}
	return s.bumpStamps(ctx, []string{typ})
}
