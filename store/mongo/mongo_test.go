package mongo_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
	"github.com/madx-project/madx/store/storetest"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// dbSeq numbers databases, so that every store a test opens is fresh.
var dbSeq atomic.Int64

// opener returns a storetest.Opener that opens a new database on the
// server at uri for each test and drops it when the test ends.
func opener(uri string, opts mongo.Options) storetest.Opener {
	return func(tb testing.TB) store.Store {
		return openStore(tb, uri, opts)
	}
}

func openStore(tb testing.TB, uri string, opts mongo.Options) *mongo.Store {
	tb.Helper()
	opts.URI = uri
	opts.Database = fmt.Sprintf("madx_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	ctx := context.Background()
	s, err := mongo.Open(ctx, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { dropDatabase(tb, uri, opts.Database) })
	// Close is idempotent; closing before the server stops saves FerretDB
	// waiting for our connections.
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func dropDatabase(tb testing.TB, uri, name string) {
	c, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		tb.Errorf("drop %s: %v", name, err)
		return
	}
	defer c.Disconnect(context.Background())
	if err := c.Database(name).Drop(context.Background()); err != nil {
		tb.Errorf("drop %s: %v", name, err)
	}
}

// realMongo returns the URI of a real MongoDB to test against, or skips.
func realMongo(t *testing.T) string {
	uri := realMongoURI()
	if uri == "" {
		t.Skip("MADX_TEST_MONGODB_URI not set: no real MongoDB to test against")
	}
	return uri
}

func TestFerretDB(t *testing.T) {
	uri := mongotest.Start(t)
	s := openStore(t, uri, mongo.Options{})
	caps := s.Capabilities()
	s.Close()
	if !caps.FerretDB || caps.Transactions || caps.PartialIndexes {
		t.Errorf("FerretDB detected as %+v, want FerretDB without transactions or partial indexes", caps)
	}
	storetest.Run(t, opener(uri, mongo.Options{}))
}

func TestMongoDB(t *testing.T) {
	uri := realMongo(t)
	storetest.Run(t, opener(uri, mongo.Options{}))
}

// TestMongoDBNoTransactions runs the suite on a real MongoDB with the
// no-transaction protocol, which FerretDB alone would test only on SQLite.
func TestMongoDBNoTransactions(t *testing.T) {
	uri := realMongo(t)
	storetest.Run(t, opener(uri, mongo.Options{NoTransactions: true}))
}

func realMongoURI() string { return os.Getenv("MADX_TEST_MONGODB_URI") }
