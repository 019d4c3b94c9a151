package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/madx-project/madx/store"
)

// testConcurrentFailuresStayTheirOwn sends a burst of writes at once, every
// other one doomed (If-Match on a version that does not exist). An engine
// may commit concurrent writes together (SQLite's group commit does): a
// failure must still fail only its own write and leave no trace.
func testConcurrentFailuresStayTheirOwn(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := put("Location", fmt.Sprintf("ok-%d", i), `1`)
			b := put("Location", fmt.Sprintf("pair-%d", i), `1`)
			if i%2 == 1 {
				b.IfMatch = 9 // doomed: pair-i does not exist
			}
			_, errs[i] = s.Write(ctx, []store.Change{a, b})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		_, readErr := s.Read(ctx, "Location", fmt.Sprintf("ok-%d", i))
		if i%2 == 0 {
			if err != nil || readErr != nil {
				t.Errorf("write %d: err=%v, read=%v; want it stored", i, err, readErr)
			}
			continue
		}
		if !errors.Is(err, store.ErrVersionConflict) {
			t.Errorf("doomed write %d: err=%v, want ErrVersionConflict", i, err)
		}
		if !errors.Is(readErr, store.ErrNotFound) {
			t.Errorf("doomed write %d left its first change visible: %v", i, readErr)
		}
	}
}
