package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
)

// clock is a settable clock for Options.Now, so that tests can age pending
// writes past StaleAfter without sleeping.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) options() mongo.Options  { return mongo.Options{Now: c.now, RecoverEvery: -1} }
func crashAt(step string) func(string) error {
	return func(s string) error { return hookIf(s == step) }
}

func hookIf(stop bool) error {
	if stop {
		return errors.New("simulated crash")
	}
	return nil
}

// protocolServers are the servers the no-transaction protocol is tested on:
// FerretDB always, a real MongoDB (forced to the protocol) when configured.
func protocolServers(t *testing.T) map[string]func(*testing.T, mongo.Options) *mongo.Store {
	servers := map[string]func(*testing.T, mongo.Options) *mongo.Store{
		"FerretDB": func(t *testing.T, o mongo.Options) *mongo.Store { return openStore(t, mongotest.Start(t), o) },
	}
	if uri := realMongoURI(); uri != "" {
		servers["MongoDB"] = func(t *testing.T, o mongo.Options) *mongo.Store {
			o.NoTransactions = true
			return openStore(t, uri, o)
		}
	}
	return servers
}

func body(typ, id, payload string) func(int64, time.Time) ([]byte, error) {
	return func(vid int64, at time.Time) ([]byte, error) {
		return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"},"payload":%s}`, typ, id, vid, payload), nil
	}
}

func report(id, key, payload string) store.Change {
	return store.Change{Type: "MeasureReport", ID: id, Index: store.Index{ReportKey: key, ContentHash: payload}, Render: body("MeasureReport", id, payload)}
}

func mustWrite(tb testing.TB, s store.Store, changes ...store.Change) []store.Result {
	tb.Helper()
	res, err := s.Write(context.Background(), changes)
	if err != nil {
		tb.Fatalf("Write: %v", err)
	}
	return res
}

// view is what a reader sees of the three resources the tests write.
type view struct {
	A, B, C     string // "v<version>", "deleted" or "absent"
	K1, K2, K3  string // id holding the key, or ""
	BHistory    int
	ListedIDs   []string
	PendingTxns int
}

func look(t *testing.T, s *mongo.Store) view {
	t.Helper()
	ctx := context.Background()
	var v view
	for id, dst := range map[string]*string{"a": &v.A, "b": &v.B, "c": &v.C} {
		r, err := s.Read(ctx, "MeasureReport", id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			*dst = "absent"
		case errors.Is(err, store.ErrDeleted):
			*dst = "deleted"
		case err != nil:
			t.Fatalf("Read %s: %v", id, err)
		default:
			*dst = fmt.Sprintf("v%d", r.VersionID)
		}
	}
	holders, err := s.ReportKeyHolders(ctx, []string{"k1", "k2", "k3"})
	if err != nil {
		t.Fatalf("ReportKeyHolders: %v", err)
	}
	v.K1, v.K2, v.K3 = holders["k1"], holders["k2"], holders["k3"]
	if h, err := s.History(ctx, "MeasureReport", "b"); err == nil {
		v.BHistory = len(h)
	}
	if err := s.List(ctx, "MeasureReport", func(r store.Resource) error {
		v.ListedIDs = append(v.ListedIDs, r.ID)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return v
}

// threeChanges seeds b (key k1) and c, then returns a Write of three
// changes: create a (key k2), move b from k1 to k3, delete c.
func threeChanges(t *testing.T, s *mongo.Store) []store.Change {
	mustWrite(t, s, report("b", "k1", `1`))
	mustWrite(t, s, report("c", "", `1`))
	return []store.Change{
		report("a", "k2", `1`),
		report("b", "k3", `2`),
		{Type: "MeasureReport", ID: "c", Delete: true},
	}
}

var before = view{A: "absent", B: "v1", C: "v1", K1: "b", BHistory: 1, ListedIDs: []string{"b", "c"}}
var after = view{A: "v1", B: "v2", C: "deleted", K2: "a", K3: "b", BHistory: 2, ListedIDs: []string{"a", "b"}}

func TestNoTransactionCrashBeforeCommit(t *testing.T) {
	for name, open := range protocolServers(t) {
		t.Run(name, func(t *testing.T) {
			var c clock
			s := open(t, c.options())
			changes := threeChanges(t, s)
			mongo.SetHook(s, crashAt("applied 2"))
			if _, err := s.Write(context.Background(), changes); err == nil {
				t.Fatal("Write stopped by the hook succeeded")
			}
			mongo.SetHook(s, nil)
			if diff := cmp.Diff(before, look(t, s)); diff != "" {
				t.Errorf("readers see part of an uncommitted write (-want +got):\n%s", diff)
			}
			// The key b frees is still reserved: another report cannot
			// take it while the write may yet roll back.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, err := s.Write(ctx, []store.Change{report("x", "k1", `1`)}); err == nil {
				t.Error("a report took key k1 that a pending write frees")
			}
			// Fresh, the write may still be alive: recovery leaves it.
			if err := s.Recover(context.Background()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if diff := cmp.Diff(before, look(t, s)); diff != "" {
				t.Errorf("after an early Recover (-want +got):\n%s", diff)
			}
			c.advance(2 * time.Minute)
			if err := s.Recover(context.Background()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if diff := cmp.Diff(before, look(t, s)); diff != "" {
				t.Errorf("after rollback (-want +got):\n%s", diff)
			}
			// Nothing is left behind: the same write now succeeds, with
			// the versions it would have had.
			res := mustWrite(t, s, changes...)
			if res[1].Resource.VersionID != 2 || !res[0].Created {
				t.Errorf("write after rollback: %+v", res)
			}
			if diff := cmp.Diff(after, look(t, s)); diff != "" {
				t.Errorf("after the write (-want +got):\n%s", diff)
			}
			mustWrite(t, s, report("x", "k1", `1`))
		})
	}
}

func TestNoTransactionCrashAfterCommit(t *testing.T) {
	for name, open := range protocolServers(t) {
		t.Run(name, func(t *testing.T) {
			var c clock
			s := open(t, c.options())
			changes := threeChanges(t, s)
			mongo.SetHook(s, crashAt("committed"))
			if _, err := s.Write(context.Background(), changes); err == nil {
				t.Fatal("Write stopped by the hook succeeded")
			}
			mongo.SetHook(s, nil)
			if diff := cmp.Diff(after, look(t, s)); diff != "" {
				t.Errorf("readers do not see a committed write (-want +got):\n%s", diff)
			}
			if err := s.Recover(context.Background()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if diff := cmp.Diff(after, look(t, s)); diff != "" {
				t.Errorf("after recovery (-want +got):\n%s", diff)
			}
			if r := mustWrite(t, s, report("b", "k3", `3`))[0]; r.Resource.VersionID != 3 {
				t.Errorf("next write of b: version %d, want 3", r.Resource.VersionID)
			}
		})
	}
}

func TestNoTransactionWriterMeetsDeadWrite(t *testing.T) {
	var c clock
	s := openStore(t, mongotest.Start(t), c.options())
	changes := threeChanges(t, s)
	mongo.SetHook(s, crashAt("applied 3"))
	if _, err := s.Write(context.Background(), changes); err == nil {
		t.Fatal("Write stopped by the hook succeeded")
	}
	mongo.SetHook(s, nil)
	c.advance(2 * time.Minute)
	// No Recover: the writer settles the dead write it runs into.
	if r := mustWrite(t, s, report("b", "k1", `9`))[0]; r.Resource.VersionID != 2 {
		t.Errorf("write over a dead write: version %d, want 2", r.Resource.VersionID)
	}
	want := before
	want.B, want.BHistory = "v2", 2
	if diff := cmp.Diff(want, look(t, s)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAtomicUnderConcurrency has writers move two resources together while
// readers check they never see one moved without the other. It runs on a
// real MongoDB (forced to the no-transaction protocol) only: the protocol
// rests on single-document updates being atomic, which MongoDB guarantees
// and FerretDB 1.24 on SQLite does not (TestFerretDBLosesConditionalUpdates
// shows 8 writers losing most of ~460 compare-and-swaps there).
func TestAtomicUnderConcurrency(t *testing.T) {
	uri := realMongoURI()
	if uri == "" {
		t.Skip("needs MADX_TEST_MONGODB_URI: FerretDB's conditional updates are not atomic (see TestFerretDBLosesConditionalUpdates)")
	}
	s := openStore(t, uri, mongo.Options{NoTransactions: true})
	ctx := context.Background()
	pair := func(i int) []store.Change {
		p := fmt.Sprint(i)
		return []store.Change{
			{Type: "Location", ID: "x", Index: store.Index{ContentHash: p}, Render: body("Location", "x", p)},
			{Type: "Location", ID: "y", Index: store.Index{ContentHash: p}, Render: body("Location", "y", p)},
		}
	}
	mustWrite(t, s, pair(0)...)
	const writers, each = 4, 4
	var wg sync.WaitGroup
	done := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() {
		defer close(readerErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			x, err1 := s.Read(ctx, "Location", "x")
			y, err2 := s.Read(ctx, "Location", "y")
			if err := errors.Join(err1, err2); err != nil {
				readerErr <- err
				return
			}
			if y.VersionID < x.VersionID {
				readerErr <- fmt.Errorf("saw x at v%d then y at v%d: half a write", x.VersionID, y.VersionID)
				return
			}
		}
	}()
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.Write(ctx, pair(w*each+i+1))
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Write: %v", err)
		}
	}
	if err := <-readerErr; err != nil {
		t.Error(err)
	}
	for _, id := range []string{"x", "y"} {
		if r, err := s.Read(ctx, "Location", id); err != nil || r.VersionID != writers*each+1 {
			t.Errorf("%s: version %d, err %v; want %d", id, r.VersionID, err, writers*each+1)
		}
	}
}
