package server_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
)

var mongoDBCounter atomic.Int64

// mongoEngines runs the HTTP tests over the MongoDB engine: against an
// embedded FerretDB (the real wire protocol, a test-only server), and
// against a real MongoDB when MADX_TEST_MONGODB_URI is set.
func mongoEngines() []engine {
	open := func(uri func(testing.TB) string) func(testing.TB) store.Store {
		return func(tb testing.TB) store.Store {
			tb.Helper()
			db := fmt.Sprintf("madx_server_test_%d_%d", os.Getpid(), mongoDBCounter.Add(1))
			s, err := mongo.Open(context.Background(), mongo.Options{URI: uri(tb), Database: db})
			if err != nil {
				tb.Fatalf("open mongo: %v", err)
			}
			return s
		}
	}
	out := []engine{{"mongo-ferretdb", open(mongotest.Start)}}
	if uri := os.Getenv("MADX_TEST_MONGODB_URI"); uri != "" {
		out = append(out, engine{"mongo-real", open(func(testing.TB) string { return uri })})
	}
	return out
}
