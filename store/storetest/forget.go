package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/madx-project/madx/store"
)

// testForget: Forget drops old versions for good, or a resource whole,
// from every read, the history feed included (an async job's request body
// must not outlive its job, issue 14 item 8).
func testForget(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := put("AsyncJob", "j1", `1`)
	c.Index = store.Index{Status: "pending", Tokens: []string{"owner=alice"}}
	for range 3 {
		mustWrite(t, s, c)
	}
	mustWrite(t, s, put("AsyncJob", "j2", `1`))
	if err := s.Forget(ctx, "AsyncJob", "j1", 3); err != nil {
		t.Fatalf("Forget below 3: %v", err)
	}
	h, err := s.History(ctx, "AsyncJob", "j1")
	if err != nil || len(h) != 1 || h[0].VersionID != 3 {
		t.Fatalf("History after forgetting below 3: %d versions, %v; want version 3 alone", len(h), err)
	}
	for v := int64(1); v < 3; v++ {
		if _, err := s.ReadVersion(ctx, "AsyncJob", "j1", v); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadVersion %d after Forget: %v, want ErrNotFound", v, err)
		}
	}
	if r, err := s.Read(ctx, "AsyncJob", "j1"); err != nil || r.VersionID != 3 {
		t.Fatalf("Read after forgetting old versions: version %d, %v; want 3", r.VersionID, err)
	}
	feed := func() []string {
		t.Helper()
		p, err := s.HistoryPage(ctx, store.HistoryQuery{Type: "AsyncJob", Count: 100})
		if err != nil {
			t.Fatalf("HistoryPage: %v", err)
		}
		var out []string
		for _, r := range p.Resources {
			out = append(out, r.ID)
		}
		return out
	}
	if got := feed(); len(got) != 2 {
		t.Errorf("history feed holds %v, want j1 once (version 3) and j2", got)
	}

	if err := s.Forget(ctx, "AsyncJob", "j1", 0); err != nil {
		t.Fatalf("Forget all: %v", err)
	}
	if _, err := s.Read(ctx, "AsyncJob", "j1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read after Forget: %v, want ErrNotFound", err)
	}
	if _, err := s.History(ctx, "AsyncJob", "j1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("History after Forget: %v, want ErrNotFound", err)
	}
	if got := feed(); len(got) != 1 || got[0] != "j2" {
		t.Errorf("history feed after Forget: %v, want [j2]", got)
	}
	p, err := s.Search(ctx, store.Query{Type: "AsyncJob", Where: []store.Clause{or(eq(store.FieldToken, "owner=alice"))}, Count: 10, Total: true})
	if err != nil || p.Total != 0 || len(p.Resources) != 0 {
		t.Errorf("search by a forgotten resource's token: total %d, %d found, %v; want none", p.Total, len(p.Resources), err)
	}
	var listed []string
	if err := s.List(ctx, "AsyncJob", func(r store.Resource) error { listed = append(listed, r.ID); return nil }); err != nil || len(listed) != 1 {
		t.Errorf("List after Forget: %v, %v; want [j2]", listed, err)
	}
	if err := s.Forget(ctx, "AsyncJob", "j1", 0); err != nil {
		t.Errorf("Forget of what is gone: %v, want nil", err)
	}
	// The id is free again, as if it had never been used.
	if r := mustWrite(t, s, put("AsyncJob", "j1", `1`)); r[0].Resource.VersionID != 1 || !r[0].Created {
		t.Errorf("rewrite after Forget: version %d created %v, want 1 true", r[0].Resource.VersionID, r[0].Created)
	}
}
