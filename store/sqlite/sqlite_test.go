package sqlite_test

import (
	"context"
	"testing"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
	"github.com/madx-project/madx/store/storetest"
)

func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) store.Store {
		tb.Helper()
		s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: tb.TempDir()})
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		return s
	})
}
