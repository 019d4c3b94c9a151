// Package storetest is the one test suite every store engine passes. An
// engine's test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/store"
)

// Opener opens a new, empty store for one test; the suite closes it.
type Opener func(tb testing.TB) store.Store

// Run runs the whole suite against the engine that open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateReadVersions", testCreateReadVersions},
		{"BodyBytesKept", testBodyBytesKept},
		{"PackedBodiesReadPlain", testPackedBodiesReadPlain},
		{"IfMatch", testIfMatch},
		{"CreateOnly", testCreateOnly},
		{"DeleteKeepsHistory", testDeleteKeepsHistory},
		{"DeleteUnknown", testDeleteUnknown},
		{"SkipUnchanged", testSkipUnchanged},
		{"AtomicWriteRollsBack", testAtomicWriteRollsBack},
		{"ReportKeyUnique", testReportKeyUnique},
		{"ReportKeyHoldersMany", testReportKeyHoldersMany},
		{"ManyNewOneConflicting", testManyNewOneConflicting},
		{"ReportKeyFreedByDelete", testReportKeyFreedByDelete},
		{"FindCanonical", testFindCanonical},
		{"List", testList},
		{"Stamp", testStamp},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"ConcurrentFailuresStayTheirOwn", testConcurrentFailuresStayTheirOwn},
		{"RenderSeesAssignedVersion", testRenderSeesAssignedVersion},
		{"RenderAfterSeesEarlierResults", testRenderAfterSeesEarlierResults},
		{"SearchClauses", testSearchClauses},
		{"TokensFollowVersions", testTokensFollowVersions},
		{"SearchPaging", testSearchPaging},
		{"HistoryPage", testHistoryPage},
		{"HistoryFilters", testHistoryFilters},
		{"QueriesTooLargeForTheEngine", testQueriesTooLargeForTheEngine},
		{"ClosedIsUnavailable", testClosedIsUnavailable},
		{"Forget", testForget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// body renders a small deterministic JSON body that records the version.
func body(typ, id, payload string) func(int64, time.Time) ([]byte, error) {
	return func(vid int64, at time.Time) ([]byte, error) {
		return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d","lastUpdated":%q},"payload":%s}`,
			typ, id, vid, at.UTC().Format(time.RFC3339Nano), payload), nil
	}
}

// packed renders a large body through a store.Template, as the server
// does: the engine stores it packed and must give every reader the plain
// body, which plain returns.
func packed(id string) (store.Change, func(int64, time.Time) []byte) {
	payload := strings.Repeat(`{"system":"http://example.org/CodeSystem/age","code":"P0Y--P5Y"},`, 200)
	meta := func(vid int64, at time.Time) []byte {
		return fmt.Appendf(nil, `"versionId":"%d","lastUpdated":%q`, vid, at.UTC().Format(time.RFC3339Nano))
	}
	const hole = "HOLE"
	doc := `{"resourceType":"MeasureReport","id":%q,"meta":{%s},"payload":[%s{}]}`
	tmplBody := fmt.Appendf(nil, doc, id, hole, payload)
	start := bytes.Index(tmplBody, []byte(hole))
	tmpl, err := store.NewTemplate(tmplBody, start, start+len(hole))
	if err != nil {
		panic(err)
	}
	c := store.Change{Type: "MeasureReport", ID: id, Index: store.Index{Measure: "http://example.org/Measure/m", Status: "complete"},
		Render: func(vid int64, at time.Time) ([]byte, error) { return tmpl.Fill(meta(vid, at)), nil }}
	plain := func(vid int64, at time.Time) []byte { return fmt.Appendf(nil, doc, id, meta(vid, at), payload) }
	return c, plain
}

// testPackedBodiesReadPlain writes packed bodies and reads them back
// through every read method.
func testPackedBodiesReadPlain(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, plain := packed("p1")
	mustWrite(t, s, c)
	res := mustWrite(t, s, c)
	if len(res[0].Resource.Body) == 0 || res[0].Resource.Body[0] != 0 {
		t.Fatalf("the written body is not the packed one Render made")
	}
	v1, err := s.ReadVersion(ctx, "MeasureReport", "p1", 1)
	want := func(r store.Resource) []byte { return plain(r.VersionID, r.LastUpdated) }
	check := func(how string, r store.Resource) {
		t.Helper()
		if !bytes.Equal(r.Body, want(r)) {
			t.Errorf("%s: body is not the plain one (%d bytes, starts %q)", how, len(r.Body), r.Body[:min(len(r.Body), 20)])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	check("ReadVersion", v1)
	cur, err := s.Read(ctx, "MeasureReport", "p1")
	if err != nil || cur.VersionID != 2 {
		t.Fatalf("Read: v%d, %v", cur.VersionID, err)
	}
	check("Read", cur)
	hist, err := s.History(ctx, "MeasureReport", "p1")
	if err != nil || len(hist) != 2 {
		t.Fatalf("History: %d versions, %v", len(hist), err)
	}
	for _, r := range hist {
		check("History", r)
	}
	page, err := s.Search(ctx, store.Query{Type: "MeasureReport", Count: 10})
	if err != nil || len(page.Resources) != 1 {
		t.Fatalf("Search: %d, %v", len(page.Resources), err)
	}
	check("Search", page.Resources[0])
	hp, err := s.HistoryPage(ctx, store.HistoryQuery{Type: "MeasureReport", Count: 10})
	if err != nil || len(hp.Resources) != 2 {
		t.Fatalf("HistoryPage: %d, %v", len(hp.Resources), err)
	}
	for _, r := range hp.Resources {
		check("HistoryPage", r)
	}
	if err := s.List(ctx, "MeasureReport", func(r store.Resource) error { check("List", r); return nil }); err != nil {
		t.Fatal(err)
	}
}

func put(typ, id, payload string) store.Change {
	return store.Change{Type: typ, ID: id, Index: store.Index{ContentHash: payload}, Render: body(typ, id, payload)}
}

func mustWrite(tb testing.TB, s store.Store, changes ...store.Change) []store.Result {
	tb.Helper()
	res, err := s.Write(context.Background(), changes)
	if err != nil {
		tb.Fatalf("Write: %v", err)
	}
	if len(res) != len(changes) {
		tb.Fatalf("Write returned %d results for %d changes", len(res), len(changes))
	}
	return res
}

func testCreateReadVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1 := mustWrite(t, s, put("Measure", "m1", `"one"`))[0]
	if !r1.Created || r1.Resource.VersionID != 1 {
		t.Fatalf("first write: Created=%v VersionID=%d, want true 1", r1.Created, r1.Resource.VersionID)
	}
	r2 := mustWrite(t, s, put("Measure", "m1", `"two"`))[0]
	if r2.Created || r2.Resource.VersionID != 2 {
		t.Fatalf("second write: Created=%v VersionID=%d, want false 2", r2.Created, r2.Resource.VersionID)
	}
	if !r2.Resource.LastUpdated.After(r1.Resource.LastUpdated) && !r2.Resource.LastUpdated.Equal(r1.Resource.LastUpdated) {
		t.Errorf("LastUpdated went back: %v then %v", r1.Resource.LastUpdated, r2.Resource.LastUpdated)
	}
	cur, err := s.Read(ctx, "Measure", "m1")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if diff := cmp.Diff(r2.Resource, cur); diff != "" {
		t.Errorf("Read differs from the write result (-write +read):\n%s", diff)
	}
	old, err := s.ReadVersion(ctx, "Measure", "m1", 1)
	if err != nil {
		t.Fatalf("ReadVersion 1: %v", err)
	}
	if diff := cmp.Diff(r1.Resource, old); diff != "" {
		t.Errorf("ReadVersion(1) differs (-write +read):\n%s", diff)
	}
	if _, err := s.ReadVersion(ctx, "Measure", "m1", 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadVersion 3: err=%v, want ErrNotFound", err)
	}
	if _, err := s.Read(ctx, "Measure", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read unknown: err=%v, want ErrNotFound", err)
	}
	if _, err := s.Read(ctx, "ValueSet", "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read other type, same id: err=%v, want ErrNotFound", err)
	}
	if _, err := s.History(ctx, "Measure", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("History unknown: err=%v, want ErrNotFound", err)
	}
}

func testBodyBytesKept(t *testing.T, s store.Store) {
	// Decimals must keep their written precision: the engine stores bytes.
	payload := `{"value":1.50,"big":12345678901234567890.000}`
	mustWrite(t, s, put("MeasureReport", "r1", payload))
	got, err := s.Read(context.Background(), "MeasureReport", "r1")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want, _ := body("MeasureReport", "r1", payload)(got.VersionID, got.LastUpdated)
	if string(got.Body) != string(want) {
		t.Errorf("body changed in storage:\n got %s\nwant %s", got.Body, want)
	}
}

func testIfMatch(t *testing.T, s store.Store) {
	mustWrite(t, s, put("Measure", "m", `1`), put("Measure", "m2", `1`))
	mustWrite(t, s, put("Measure", "m", `2`))
	c := put("Measure", "m", `3`)
	c.IfMatch = 1
	if _, err := s.Write(context.Background(), []store.Change{c}); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("IfMatch 1 on version 2: err=%v, want ErrVersionConflict", err)
	}
	c.IfMatch = 2
	if r := mustWrite(t, s, c)[0]; r.Resource.VersionID != 3 {
		t.Errorf("IfMatch 2: VersionID=%d, want 3", r.Resource.VersionID)
	}
	d := store.Change{Type: "Measure", ID: "m", Delete: true, IfMatch: 2}
	if _, err := s.Write(context.Background(), []store.Change{d}); !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("delete IfMatch 2 on version 3: err=%v, want ErrVersionConflict", err)
	}
	n := put("Measure", "new", `1`)
	n.IfMatch = 1
	if _, err := s.Write(context.Background(), []store.Change{n}); !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("IfMatch on a resource that does not exist: err=%v, want ErrVersionConflict", err)
	}
}

func testCreateOnly(t *testing.T, s store.Store) {
	c := put("Location", "l", `1`)
	c.CreateOnly = true
	mustWrite(t, s, c)
	if _, err := s.Write(context.Background(), []store.Change{c}); !errors.Is(err, store.ErrDuplicateKey) {
		t.Errorf("second create-only: err=%v, want ErrDuplicateKey", err)
	}
}

func testDeleteKeepsHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustWrite(t, s, put("Location", "l", `1`))
	mustWrite(t, s, put("Location", "l", `2`))
	d := mustWrite(t, s, store.Change{Type: "Location", ID: "l", Delete: true})[0]
	if !d.Resource.Deleted || d.Resource.VersionID != 3 || d.Resource.Body != nil {
		t.Fatalf("delete result = %+v, want a deleted version 3 without body", d.Resource)
	}
	got, err := s.Read(ctx, "Location", "l")
	if !errors.Is(err, store.ErrDeleted) {
		t.Fatalf("Read after delete: err=%v, want ErrDeleted", err)
	}
	if !got.Deleted || got.VersionID != 3 {
		t.Errorf("Read after delete returned %+v, want the deletion version 3", got)
	}
	if _, err := s.ReadVersion(ctx, "Location", "l", 3); !errors.Is(err, store.ErrDeleted) {
		t.Errorf("ReadVersion of the deletion: err=%v, want ErrDeleted", err)
	}
	if _, err := s.ReadVersion(ctx, "Location", "l", 2); err != nil {
		t.Errorf("ReadVersion 2 after delete: %v", err)
	}
	again := mustWrite(t, s, store.Change{Type: "Location", ID: "l", Delete: true})[0]
	if !again.Unchanged || again.Resource.VersionID != 3 {
		t.Errorf("second delete: %+v, want Unchanged at version 3", again)
	}
	back := mustWrite(t, s, put("Location", "l", `4`))[0]
	if !back.Created || back.Resource.VersionID != 4 {
		t.Errorf("write after delete: Created=%v VersionID=%d, want true 4", back.Created, back.Resource.VersionID)
	}
	hist, err := s.History(ctx, "Location", "l")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var vids []int64
	var deleted []bool
	for _, h := range hist {
		vids = append(vids, h.VersionID)
		deleted = append(deleted, h.Deleted)
	}
	if diff := cmp.Diff([]int64{4, 3, 2, 1}, vids); diff != "" {
		t.Errorf("history versions, newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, true, false, false}, deleted); diff != "" {
		t.Errorf("history deleted flags (-want +got):\n%s", diff)
	}
}

func testDeleteUnknown(t *testing.T, s store.Store) {
	_, err := s.Write(context.Background(), []store.Change{{Type: "Location", ID: "ghost", Delete: true}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of unknown: err=%v, want ErrNotFound", err)
	}
}

func testSkipUnchanged(t *testing.T, s store.Store) {
	c := put("ValueSet", "v", `"same"`)
	c.SkipUnchanged = true
	first := mustWrite(t, s, c)[0]
	second := mustWrite(t, s, c)[0]
	if !second.Unchanged || second.Resource.VersionID != first.Resource.VersionID {
		t.Errorf("same content again: Unchanged=%v VersionID=%d, want true %d", second.Unchanged, second.Resource.VersionID, first.Resource.VersionID)
	}
	c2 := put("ValueSet", "v", `"other"`)
	c2.SkipUnchanged = true
	if third := mustWrite(t, s, c2)[0]; third.Unchanged || third.Resource.VersionID != 2 {
		t.Errorf("new content: Unchanged=%v VersionID=%d, want false 2", third.Unchanged, third.Resource.VersionID)
	}
}

func testAtomicWriteRollsBack(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustWrite(t, s, put("Measure", "exists", `1`))
	bad := put("Measure", "exists", `2`)
	bad.IfMatch = 7
	_, err := s.Write(ctx, []store.Change{put("Measure", "a", `1`), put("Measure", "exists", `x`), bad})
	if !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("Write with a failing change: err=%v, want ErrVersionConflict", err)
	}
	if _, err := s.Read(ctx, "Measure", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("first change of a failed write is visible: err=%v, want ErrNotFound", err)
	}
	if cur, err := s.Read(ctx, "Measure", "exists"); err != nil || cur.VersionID != 1 {
		t.Errorf("failed write changed an existing resource: version %d err %v, want version 1", cur.VersionID, err)
	}
	hist, err := s.History(ctx, "Measure", "exists")
	if err != nil || len(hist) != 1 {
		t.Errorf("failed write left history: %d versions, err %v, want 1", len(hist), err)
	}
	renderFails := put("Measure", "b", `1`)
	renderFails.Render = func(int64, time.Time) ([]byte, error) { return nil, errors.New("boom") }
	if _, err := s.Write(ctx, []store.Change{put("Measure", "c", `1`), renderFails}); err == nil {
		t.Fatalf("Write with a failing Render succeeded")
	}
	if _, err := s.Read(ctx, "Measure", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("change before a failing Render is visible: err=%v", err)
	}
}

// testManyNewOneConflicting: in one Write of many new resources (which an
// engine may insert in one command), one that collides (its report key is
// held, or its id exists though the caller believed it absent) fails the
// whole Write, leaves none of the others behind, and the rest then goes in.
func testManyNewOneConflicting(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustWrite(t, s, report("held", "k-held", `1`))
	mustWrite(t, s, put("AuditEvent", "a-there", `1`))
	batch := func(extra store.Change) []store.Change {
		changes := []store.Change{}
		for i := range 5 {
			changes = append(changes, report(fmt.Sprintf("n%d", i), fmt.Sprintf("k%d", i), `1`))
		}
		return append(changes[:2], append([]store.Change{extra}, changes[2:]...)...)
	}
	exists := put("AuditEvent", "a-there", `2`)
	exists.CreateOnly = true
	for _, tc := range []struct {
		name  string
		extra store.Change
	}{
		{"a held report key", report("taker", "k-held", `1`)},
		{"a create-only id that exists", exists},
	} {
		if _, err := s.Write(ctx, batch(tc.extra)); !errors.Is(err, store.ErrDuplicateKey) {
			t.Fatalf("%s in a Write of six: err=%v, want ErrDuplicateKey", tc.name, err)
		}
		for i := range 5 {
			if _, err := s.Read(ctx, "MeasureReport", fmt.Sprintf("n%d", i)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: n%d is readable after the Write failed (err=%v)", tc.name, i, err)
			}
		}
	}
	res := mustWrite(t, s, batch(put("Location", "l-new", `1`))...)
	for i, r := range res {
		if !r.Created || r.Resource.VersionID != 1 {
			t.Errorf("change %d of the retried Write: %+v, want created at version 1", i, r)
		}
	}
}

func report(id, key, payload string) store.Change {
	c := put("MeasureReport", id, payload)
	c.Index.ReportKey = key
	c.Index.Measure = "http://example.org/Measure/m"
	c.Index.Subject = "Location/l"
	c.Index.PeriodStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Index.PeriodEnd = time.Date(2025, 1, 31, 23, 59, 59, 0, time.UTC)
	return c
}

func testReportKeyUnique(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustWrite(t, s, report("r1", "k1", `1`))
	mustWrite(t, s, report("r1", "k1", `2`)) // same resource, same key: fine
	if _, err := s.Write(ctx, []store.Change{report("r2", "k1", `1`)}); !errors.Is(err, store.ErrDuplicateKey) {
		t.Fatalf("second resource with key k1: err=%v, want ErrDuplicateKey", err)
	}
	holders, err := s.ReportKeyHolders(ctx, []string{"k1", "k2"})
	if err != nil || len(holders) != 1 || holders["k1"] != "r1" {
		t.Errorf("ReportKeyHolders(k1, k2) = %v, %v; want only k1 held by r1", holders, err)
	}
	got, err := s.Read(ctx, "MeasureReport", "r1")
	if err != nil || got.VersionID != 2 || got.Index.ReportKey != "k1" {
		t.Errorf("Read(r1) = v%d key %q, %v; want v2 holding k1", got.VersionID, got.Index.ReportKey, err)
	}
	if got.Index.Measure != "http://example.org/Measure/m" || !got.Index.PeriodStart.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("index not kept: %+v", got.Index)
	}
	// A report moved to another key frees the old one.
	mustWrite(t, s, report("r1", "k3", `3`))
	mustWrite(t, s, report("r2", "k1", `1`))
	holders, err = s.ReportKeyHolders(ctx, []string{"k1", "k3"})
	if err != nil || len(holders) != 2 || holders["k1"] != "r2" || holders["k3"] != "r1" {
		t.Errorf("ReportKeyHolders(k1, k3) after the move = %v, %v; want k1 r2, k3 r1", holders, err)
	}
	if holders, err := s.ReportKeyHolders(ctx, nil); err != nil || len(holders) != 0 {
		t.Errorf("ReportKeyHolders(nil) = %v, %v; want empty", holders, err)
	}
}

// testReportKeyHoldersMany asks for more keys than one query binds.
func testReportKeyHoldersMany(t *testing.T, s store.Store) {
	ctx := context.Background()
	var changes []store.Change
	var keys []string
	for i := range 600 {
		k := fmt.Sprintf("k%04d", i)
		keys = append(keys, k, "absent-"+k)
		if i%5 == 0 {
			changes = append(changes, report(fmt.Sprintf("r%04d", i), k, `1`))
		}
	}
	mustWrite(t, s, changes...)
	holders, err := s.ReportKeyHolders(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(holders) != 120 || holders["k0000"] != "r0000" || holders["k0595"] != "r0595" {
		t.Errorf("ReportKeyHolders of 1,200 keys: %d held (want 120), k0000=%q k0595=%q", len(holders), holders["k0000"], holders["k0595"])
	}
}

func testReportKeyFreedByDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustWrite(t, s, report("r1", "k", `1`))
	mustWrite(t, s, store.Change{Type: "MeasureReport", ID: "r1", Delete: true})
	if holders, err := s.ReportKeyHolders(ctx, []string{"k"}); err != nil || len(holders) != 0 {
		t.Errorf("key of a deleted report still held: %v, %v", holders, err)
	}
	mustWrite(t, s, report("r2", "k", `1`))
}

func definition(typ, id, url, version, payload string) store.Change {
	c := put(typ, id, payload)
	c.Index.URL, c.Index.Version, c.Index.Status = url, version, "active"
	return c
}

func testFindCanonical(t *testing.T, s store.Store) {
	ctx := context.Background()
	const u = "http://example.org/Measure/m"
	mustWrite(t, s,
		definition("Measure", "m1", u, "1.0", `1`),
		definition("Measure", "m2", u, "2.0", `1`),
		definition("Measure", "other", "http://example.org/Measure/x", "1.0", `1`),
		definition("ValueSet", "vs", u, "1.0", `1`),
	)
	ids := func(rs []store.Resource) map[string]bool {
		m := map[string]bool{}
		for _, r := range rs {
			m[r.ID] = true
		}
		return m
	}
	all, err := s.FindCanonical(ctx, "Measure", u, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"m1": true, "m2": true}, ids(all)); diff != "" {
		t.Errorf("FindCanonical without version (-want +got):\n%s", diff)
	}
	v2, err := s.FindCanonical(ctx, "Measure", u, "2.0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"m2": true}, ids(v2)); diff != "" {
		t.Errorf("FindCanonical 2.0 (-want +got):\n%s", diff)
	}
	if v2[0].Index.Version != "2.0" || v2[0].Index.Status != "active" || len(v2[0].Body) == 0 {
		t.Errorf("FindCanonical result lacks index or body: %+v", v2[0])
	}
	mustWrite(t, s, store.Change{Type: "Measure", ID: "m2", Delete: true})
	after, err := s.FindCanonical(ctx, "Measure", u, "2.0")
	if err != nil || len(after) != 0 {
		t.Errorf("deleted definition still found: %v %v", ids(after), err)
	}
}

func testList(t *testing.T, s store.Store) {
	mustWrite(t, s, put("Location", "b", `1`), put("Location", "a", `1`), put("Location", "c", `1`), put("Organization", "o", `1`))
	mustWrite(t, s, store.Change{Type: "Location", ID: "c", Delete: true})
	var got []string
	err := s.List(context.Background(), "Location", func(r store.Resource) error {
		got = append(got, r.ID)
		if len(r.Body) == 0 {
			return fmt.Errorf("no body for %s from List", r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("List live Locations in id order (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	if err := s.List(context.Background(), "Location", func(store.Resource) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("List did not return fn's error: %v", err)
	}
}

func testStamp(t *testing.T, s store.Store) {
	ctx := context.Background()
	v0, err := s.Stamp(ctx, "ValueSet", "CodeSystem")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, put("Location", "l", `1`))
	v1, _ := s.Stamp(ctx, "ValueSet", "CodeSystem")
	if v1 != v0 {
		t.Errorf("stamp of ValueSet,CodeSystem changed on a Location write: %d -> %d", v0, v1)
	}
	mustWrite(t, s, put("CodeSystem", "cs", `1`))
	v2, _ := s.Stamp(ctx, "ValueSet", "CodeSystem")
	if v2 == v1 {
		t.Errorf("stamp did not change on a CodeSystem write: %d", v2)
	}
	mustWrite(t, s, store.Change{Type: "CodeSystem", ID: "cs", Delete: true})
	if v3, _ := s.Stamp(ctx, "ValueSet", "CodeSystem"); v3 == v2 {
		t.Errorf("stamp did not change on a CodeSystem delete: %d", v3)
	}
	// Reports and audit records keep no stamp: asking is an error, not a
	// number that never changes.
	if _, err := s.Stamp(ctx, "Measure", "MeasureReport"); err == nil {
		t.Error("Stamp(MeasureReport) answered a stamp; want an error (store.Unstamped)")
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	const n = 24
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Write(ctx, []store.Change{put("MeasureReport", "hot", fmt.Sprint(i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Write: %v", err)
		}
	}
	cur, err := s.Read(ctx, "MeasureReport", "hot")
	if err != nil || cur.VersionID != n {
		t.Fatalf("after %d concurrent updates: version %d, err %v", n, cur.VersionID, err)
	}
	hist, err := s.History(ctx, "MeasureReport", "hot")
	if err != nil || len(hist) != n {
		t.Fatalf("history holds %d versions (err %v), want %d", len(hist), err, n)
	}
	seen := map[int64]bool{}
	for _, h := range hist {
		seen[h.VersionID] = true
	}
	if len(seen) != n {
		t.Errorf("history versions not distinct: %v", seen)
	}
}

func testRenderSeesAssignedVersion(t *testing.T, s store.Store) {
	var gotVid int64
	var gotAt time.Time
	c := put("Measure", "m", `1`)
	c.Render = func(vid int64, at time.Time) ([]byte, error) {
		gotVid, gotAt = vid, at
		return body("Measure", "m", `1`)(vid, at)
	}
	mustWrite(t, s, put("Measure", "m", `0`))
	res := mustWrite(t, s, c)[0]
	if gotVid != res.Resource.VersionID || !gotAt.Equal(res.Resource.LastUpdated) {
		t.Errorf("Render saw v%d at %v, stored v%d at %v", gotVid, gotAt, res.Resource.VersionID, res.Resource.LastUpdated)
	}
	if gotAt.Location() != time.UTC {
		t.Errorf("lastUpdated should be in UTC, got %v", gotAt.Location())
	}
	if d := time.Since(gotAt); d < 0 || d > time.Minute {
		t.Errorf("lastUpdated %v is not now", gotAt)
	}
}

// testRenderAfterSeesEarlierResults: a change rendered with RenderAfter
// sees what the changes before it in the same Write did (the audit record
// of a PUT, written in its commit, says whether the report was created).
func testRenderAfterSeesEarlierResults(t *testing.T, s store.Store) {
	for _, wantCreated := range []bool{true, false} {
		var prior []store.Result
		rec := put("AuditEvent", fmt.Sprintf("a%v", wantCreated), `1`)
		render := rec.Render
		rec.Render = nil
		rec.RenderAfter = func(p []store.Result, vid int64, at time.Time) ([]byte, error) {
			prior = append([]store.Result(nil), p...)
			return render(vid, at)
		}
		rs := mustWrite(t, s, put("Measure", "m", fmt.Sprint(wantCreated)), rec)
		if len(prior) != 1 || prior[0].Created != wantCreated || prior[0].Resource.VersionID != rs[0].Resource.VersionID {
			t.Errorf("RenderAfter saw %+v; want the Measure's result (created %v, v%d)", prior, wantCreated, rs[0].Resource.VersionID)
		}
		if got, err := s.Read(context.Background(), "AuditEvent", rec.ID); err != nil || got.VersionID != 1 {
			t.Errorf("the record rendered with RenderAfter: %v, %v", got, err)
		}
	}
}
