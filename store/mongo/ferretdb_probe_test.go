package mongo_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/madx-project/madx/store/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	drv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestFerretDBLosesConditionalUpdates records why the concurrent-atomicity
// test of the no-transaction protocol runs on MongoDB only: on FerretDB
// 1.24 (SQLite backend) an updateOne whose filter names the current value
// is not a compare-and-swap. 8 writers each read a counter and update it
// with {_id, v: read} -> v+1; MongoDB guarantees the final value equals the
// number of updates that reported a modification. FerretDB reported ~460
// and ended at 40-64 (measured on 2026-11-21). Opt-in
// (MADX_PROBE_FERRETDB=1): it documents a property of the test server, and
// passes the day FerretDB's updates become atomic.
func TestFerretDBLosesConditionalUpdates(t *testing.T) {
	if os.Getenv("MADX_PROBE_FERRETDB") == "" {
		t.Skip("opt-in probe of the test server: MADX_PROBE_FERRETDB=1")
	}
	c, err := drv.Connect(options.Client().ApplyURI(mongotest.Start(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	coll := c.Database("probe").Collection("counter")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 {
				var doc struct{ V int64 }
				if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "x"}}).Decode(&doc); err != nil {
					t.Error(err)
					return
				}
				res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: doc.V}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: doc.V + 1}}}})
				if err != nil {
					t.Error(err)
					return
				}
				wins.Add(res.ModifiedCount)
			}
		}()
	}
	wg.Wait()
	var doc struct{ V int64 }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "x"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.V != wins.Load() {
		t.Errorf("lost updates: %d compare-and-swaps reported success, the counter is %d", wins.Load(), doc.V)
	}
}
