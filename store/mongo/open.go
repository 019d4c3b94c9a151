// Package mongo is the MongoDB engine of the store contract, over the
// official driver (v2). It runs on a replica set or sharded cluster (where
// multi-change writes use server transactions), and degrades to a
// documented protocol of its own on deployments without transactions (a
// standalone mongod, FerretDB): see docs/storage.md.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Options configure Open.
type Options struct {
	// URI is the MongoDB connection string (mongodb:// or mongodb+srv://).
	URI string
	// Database is the database name; "madx" when empty.
	Database string
	// Now is the clock for lastUpdated and for the age of pending writes;
	// time.Now when nil.
	Now func() time.Time
	// ConnectTimeout bounds server selection in Open and in every operation;
	// 10 seconds when zero.
	ConnectTimeout time.Duration
	// StaleAfter is the age after which a multi-change write without server
	// transactions that has not committed is presumed dead and rolled back
	// by recovery; 1 minute when zero. A live writer gives up on its own
	// write after half of it, so keep it well above the slowest write.
	StaleAfter time.Duration
	// RecoverEvery is the period of the background recovery of such writes;
	// 1 minute when zero, never when negative (recovery still runs in Open).
	RecoverEvery time.Duration
	// NoTransactions forces the no-transaction protocol even on a
	// deployment that has server transactions (tests, or to compare).
	NoTransactions bool
	// Monitor, when set, sees every command the driver sends: the tests
	// count round trips with it (roundtrips_test.go).
	Monitor *event.CommandMonitor
}

// Capabilities is what Open detected of the deployment.
type Capabilities struct {
	// Transactions: multi-document transactions are used for multi-change
	// writes (a replica set or mongos, not FerretDB, not NoTransactions).
	Transactions bool
	// MajorityReads: reads use read concern "majority".
	MajorityReads bool
	// FerretDB: the server is FerretDB (buildInfo has ferretdbVersion).
	FerretDB bool
	// PartialIndexes: the unique report-key index is a partial index;
	// otherwise a sparse one (FerretDB rejects partialFilterExpression).
	PartialIndexes bool
}

// Store is the MongoDB engine; it implements store.Store. It is safe for
// concurrent use. Close it to stop background recovery and disconnect.
type Store struct {
	client     *mongo.Client
	db         *mongo.Database
	resources  *mongo.Collection
	history    *mongo.Collection
	stamps     *mongo.Collection
	txns       *mongo.Collection
	claims     *mongo.Collection
	caps       Capabilities
	now        func() time.Time
	staleAfter time.Duration

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// hook, when set by tests, is called at each step of the no-transaction
	// protocol; an error it returns abandons the write where it stands, as
	// a crash would (no rollback).
	hook func(step string) error
}

var _ store.Store = (*Store)(nil)

// Open connects to the deployment, pings it, detects its capabilities,
// creates the collections' indexes and recovers interrupted writes. Every
// error wraps store.ErrUnavailable.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Database == "" {
		opts.Database = "madx"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.StaleAfter == 0 {
		opts.StaleAfter = time.Minute
	}
	if opts.RecoverEvery == 0 {
		opts.RecoverEvery = time.Minute
	}
	client, err := mongo.Connect(options.Client().ApplyURI(opts.URI).
		SetServerSelectionTimeout(opts.ConnectTimeout).
		SetConnectTimeout(opts.ConnectTimeout).
		SetMonitor(opts.Monitor))
	if err != nil {
		return nil, unavailable("open", err)
	}
	s := &Store{client: client, now: opts.Now, staleAfter: opts.StaleAfter}
	if err := s.open(ctx, opts); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan struct{})
	go s.recoverLoop(bg, opts.RecoverEvery)
	return s, nil
}

func (s *Store) open(ctx context.Context, opts Options) error {
	admin := s.client.Database(opts.Database)
	if err := admin.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return unavailable("open: ping", err)
	}
	caps, err := detect(ctx, s.client, admin)
	if err != nil {
		return err
	}
	if opts.NoTransactions {
		caps.Transactions = false
	}
	// Majority + journal: a write Write acknowledged survives the loss of a
	// minority of the replica set and a crash of the primary.
	journal := true
	dbOpts := options.Database().SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: &journal})
	if caps.MajorityReads {
		dbOpts.SetReadConcern(readconcern.Majority())
	}
	s.caps = caps
	s.db = s.client.Database(opts.Database, dbOpts)
	s.resources = s.db.Collection("resources")
	s.history = s.db.Collection("history")
	s.stamps = s.db.Collection("stamps")
	s.txns = s.db.Collection("txns")
	s.claims = s.db.Collection("claims")
	if err := s.createIndexes(ctx); err != nil {
		return err
	}
	if err := s.Recover(ctx); err != nil {
		return err
	}
	return nil
}

// detect asks the deployment what it supports. FerretDB answers hello like a
// standalone but accepts some transaction fields without making anything
// atomic, so it is recognised by buildInfo and never trusted with them.
func detect(ctx context.Context, client *mongo.Client, db *mongo.Database) (Capabilities, error) {
	var caps Capabilities
	var hello, info bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return caps, unavailable("open: hello", err)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return caps, unavailable("open: buildInfo", err)
	}
	for k := range info {
		if strings.HasPrefix(k, "ferretdb") {
			caps.FerretDB = true
		}
	}
	caps.PartialIndexes = !caps.FerretDB
	_, replSet := hello["setName"]
	_, sessions := hello["logicalSessionTimeoutMinutes"]
	mongos := hello["msg"] == "isdbgrid"
	if !caps.FerretDB && sessions && (replSet || mongos) {
		caps.Transactions = trialTransaction(ctx, client, db)
	}
	// Read concern majority: FerretDB ignores it (accepting it would
	// promise nothing), a standalone mongod may refuse it; try it.
	if !caps.FerretDB {
		err := db.Collection("stamps", options.Collection().SetReadConcern(readconcern.Majority())).
			FindOne(ctx, bson.D{{Key: "_id", Value: "~probe"}}).Err()
		caps.MajorityReads = err == nil || notFound(err)
	}
	return caps, nil
}

// trialTransaction runs an empty-handed transaction: the hello answer says
// transactions should work, this says they do (a replica set of old
// servers, or an arbiter-heavy one, may still refuse).
func trialTransaction(ctx context.Context, client *mongo.Client, db *mongo.Database) bool {
	sess, err := client.StartSession()
	if err != nil {
		return false
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	coll := db.Collection("txns")
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "~trial"}, {Key: "state", Value: "trial"}}); err != nil {
			return nil, err
		}
		_, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "~trial"}})
		return nil, err
	})
	return err == nil
}

func (s *Store) createIndexes(ctx context.Context) error {
	unique := options.Index().SetUnique(true).SetName("reportKey_live")
	if s.caps.PartialIndexes {
		unique.SetPartialFilterExpression(bson.D{
			{Key: "reportKey", Value: bson.D{{Key: "$exists", Value: true}}},
			{Key: "deleted", Value: false},
		})
	} else {
		// The field is present only on live versions, so a sparse index is
		// the same constraint (and FerretDB's SQLite index ignores NULLs).
		unique.SetSparse(true)
	}
	specs := []struct {
		coll   *mongo.Collection
		models []mongo.IndexModel
	}{
		{s.resources, []mongo.IndexModel{
			{Keys: bson.D{{Key: "reportKey", Value: 1}}, Options: unique},
			{Keys: bson.D{{Key: "type", Value: 1}, {Key: "url", Value: 1}, {Key: "version", Value: 1}}, Options: options.Index().SetName("canonical")},
			{Keys: bson.D{{Key: "type", Value: 1}, {Key: "id", Value: 1}}, Options: options.Index().SetName("type_id")},
			// Readers look up the pre-write state of resources a pending
			// no-transaction write holds.
			{Keys: bson.D{{Key: "prev.reportKey", Value: 1}}, Options: options.Index().SetName("prev_reportKey").SetSparse(true)},
			{Keys: bson.D{{Key: "prev.url", Value: 1}}, Options: options.Index().SetName("prev_url").SetSparse(true)},
		}},
		{s.resources, searchIndexes(s.caps.FerretDB)},
		{s.history, []mongo.IndexModel{
			{Keys: bson.D{{Key: "type", Value: 1}, {Key: "id", Value: 1}, {Key: "versionId", Value: -1}}, Options: options.Index().SetName("type_id_version")},
			// The _history feeds, newest first (search.go).
			{Keys: bson.D{{Key: "lastUpdated", Value: -1}, {Key: "type", Value: -1}, {Key: "id", Value: -1}, {Key: "versionId", Value: -1}}, Options: options.Index().SetName("feed")},
			{Keys: bson.D{{Key: "type", Value: 1}, {Key: "lastUpdated", Value: -1}, {Key: "id", Value: -1}, {Key: "versionId", Value: -1}}, Options: options.Index().SetName("type_feed")},
		}},
		{s.txns, []mongo.IndexModel{
			{Keys: bson.D{{Key: "state", Value: 1}, {Key: "created", Value: 1}}, Options: options.Index().SetName("state_created")},
		}},
	}
	for _, sp := range specs {
		if len(sp.models) == 0 {
			continue
		}
		if _, err := sp.coll.Indexes().CreateMany(ctx, sp.models); err != nil {
			return unavailable("open: create indexes on "+sp.coll.Name(), err)
		}
	}
	return nil
}

// Capabilities returns what Open detected of the deployment.
func (s *Store) Capabilities() Capabilities { return s.caps }

// Ping checks that the deployment answers; its error wraps
// store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close stops background recovery and disconnects. It is idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if derr := s.client.Disconnect(ctx); derr != nil && !errors.Is(derr, mongo.ErrClientDisconnected) {
			err = unavailable("close", derr)
		}
	})
	return err
}

// recoverLoop runs Recover periodically until ctx ends, so that a write
// whose process died is rolled back (or finished) even if no reader or
// writer meets it.
func (s *Store) recoverLoop(ctx context.Context, every time.Duration) {
	defer close(s.done)
	if every < 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// An error here is retried on the next tick; there is no
			// logger in the store by design and readers are unaffected.
			_ = s.Recover(ctx)
		}
	}
}

// nowMs is the engine's clock in UTC, at the millisecond BSON dates keep.
func (s *Store) nowMs() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Store) step(name string) error {
	if s.hook == nil {
		return nil
	}
	if err := s.hook(name); err != nil {
		return fmt.Errorf("mongo: test hook at %s: %w: %w", name, errHook, err)
	}
	return nil
}
