package pipeline

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madx-project/madx/conformance/fhirjson"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
	"google.golang.org/protobuf/proto"
)

// racingStore makes one concurrent write land between the pipeline's read
// of the stored version (Check) and its own write (Commit).
type racingStore struct {
	store.Store
	once  sync.Once
	race  []store.Change
	raced error
}

func (s *racingStore) Write(ctx context.Context, changes []store.Change) ([]store.Result, error) {
	s.once.Do(func() { _, s.raced = s.Store.Write(ctx, s.race) })
	return s.Store.Write(ctx, changes)
}

func raw(typ, id string, x store.Index, body string) store.Change {
	return store.Change{Type: typ, ID: id, Index: x, Render: func(int64, time.Time) ([]byte, error) { return []byte(body), nil }}
}

// TestCommitPinsTheVersionItChecked: the rights on a stored report are
// checked against the version Check read, and the write is pinned to it.
// When another facility's version lands in between, the write fails with
// 409 instead of overwriting a report the caller was never allowed to
// replace (the read-then-write gap).
func TestCommitPinsTheVersionItChecked(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"HealthPost1", "HealthPost2"} {
		if _, err := st.Write(ctx, []store.Change{raw("Location", id, store.Index{}, `{"resourceType":"Location","id":"`+id+`","status":"active"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	mine := store.Index{Subject: "Location/HealthPost1"}
	if _, err := st.Write(ctx, []store.Change{raw("MeasureReport", "r", mine, `{"resourceType":"MeasureReport","id":"r"}`)}); err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{Store: st, race: []store.Change{raw("MeasureReport", "r", store.Index{Subject: "Location/HealthPost2"}, `{"resourceType":"MeasureReport","id":"r","note":"B's"}`)}}
	p := New(Options{Store: rs, Decode: fhirjson.Unmarshal, Encode: func(m proto.Message) ([]byte, error) { return fhirjson.Marshal(m) },
		Served: []string{"MeasureReport", "Location"}, Secured: true, NewID: func() string { return "0123456789abcdef0123456789abcdef" }})
	ctx = auth.NewContext(ctx, auth.Principal{Kind: "jwt", Subject: "hp1", Rights: []string{"Location/HealthPost1"}})

	pl := &Planned{Intent: Intent{Op: Update, Type: "MeasureReport", ID: "r"},
		Change: raw("MeasureReport", "r", mine, `{"resourceType":"MeasureReport","id":"r","note":"A's correction"}`)}
	_, at, err := p.Commit(ctx, []*Planned{pl})
	if rs.raced != nil {
		t.Fatalf("the concurrent write failed: %v", rs.raced)
	}
	var oe *oo.Error
	if !errors.As(err, &oe) || oe.Status != http.StatusConflict || at != 0 || !strings.Contains(oe.Error(), "concurrent") {
		t.Fatalf("Commit: %v (at %d), want 409 for a concurrent change at 0", err, at)
	}
	cur, err := st.Read(ctx, "MeasureReport", "r")
	if err != nil || cur.Index.Subject != "Location/HealthPost2" || cur.VersionID != 2 {
		t.Fatalf("stored: %v %+v, want B's version 2 untouched", err, cur.Index)
	}
}
