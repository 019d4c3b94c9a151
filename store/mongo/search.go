package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// searchIndexes back every search parameter (issue #6): type first, then
// the tested field; measure and subject lead with the field, then the
// period, for the hot "reports of Measure X in period P" query.
//
// FerretDB (1.24, SQLite backend; the test server) gets none of them: it
// scans for these queries anyway, each index slows its writes, and with an
// index on txn its $unset of the marker loses updates
// (TestAtomicUnderConcurrency fails).
func searchIndexes(ferretDB bool) []mongo.IndexModel {
	idx := func(name string, keys ...string) mongo.IndexModel {
		d := bson.D{}
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: 1})
		}
		return mongo.IndexModel{Keys: d, Options: options.Index().SetName(name)}
	}
	marked := idx("txn", "txn")
	marked.Options.SetSparse(true)
	models := []mongo.IndexModel{
		idx("search_measure", "type", "measure", "periodStart", "periodEnd"),
		idx("search_subject", "type", "subject", "periodStart"),
		idx("search_period", "type", "periodStart", "periodEnd"),
		idx("search_date", "type", "dateStart", "dateEnd"),
		idx("search_updated", "type", "lastUpdated", "id"),
		idx("search_status", "type", "status"),
		idx("search_version", "type", "version"),
		idx("search_tokens", "type", "tokens"),
	}
	if ferretDB {
		return nil
	}
	// Readers find the documents a pending no-transaction write holds.
	return append(models, marked)
}

var fieldNames = map[store.Field]string{
	store.FieldID: "id", store.FieldURL: "url", store.FieldVersion: "version", store.FieldStatus: "status",
	store.FieldMeasure: "measure", store.FieldSubject: "subject", store.FieldToken: "tokens",
	store.FieldPeriodStart: "periodStart", store.FieldPeriodEnd: "periodEnd",
	store.FieldDateStart: "dateStart", store.FieldDateEnd: "dateEnd", store.FieldLastUpdated: "lastUpdated",
}

// searchFilter translates the clauses; an anchored $regex is MongoDB's
// index-served prefix match.
func searchFilter(q store.Query) (bson.D, error) {
	f := bson.D{{Key: "type", Value: q.Type}, {Key: "deleted", Value: false}}
	var and bson.A
	for _, cl := range q.Where {
		var or bson.A
		// Many equalities on one field are one $in: a national token's
		// thousands of facilities, or a long value list, stay one term.
		sets, eqs := map[string]bson.A{}, countEq(cl)
		for _, c := range cl.Any {
			if name, ok := fieldNames[c.Field]; ok && c.Op == store.OpEq && c.All == nil && !c.Field.IsTime() && eqs[c.Field] >= manyValues {
				sets[name] = append(sets[name], c.Value)
				continue
			}
			d, err := condFilter(c)
			if err != nil {
				return nil, err
			}
			or = append(or, d)
		}
		for _, name := range slices.Sorted(maps.Keys(sets)) {
			or = append(or, bson.D{{Key: name, Value: bson.D{{Key: "$in", Value: sets[name]}}}})
		}
		if len(or) == 0 {
			or = bson.A{bson.D{{Key: "_id", Value: bson.D{{Key: "$exists", Value: false}}}}}
		}
		and = append(and, bson.D{{Key: "$or", Value: or}})
	}
	if len(and) > 0 {
		f = append(f, bson.E{Key: "$and", Value: and})
	}
	return f, nil
}

// manyValues is where equalities on one field become one $in.
const manyValues = 8

// countEq counts the plain equalities of a clause per field.
func countEq(cl store.Clause) map[store.Field]int {
	n := map[store.Field]int{}
	for _, c := range cl.Any {
		if c.Op == store.OpEq && c.All == nil {
			n[c.Field]++
		}
	}
	return n
}

func condFilter(c store.Cond) (bson.D, error) {
	if c.All != nil {
		var all bson.A
		for _, sub := range c.All {
			d, err := condFilter(sub)
			if err != nil {
				return nil, err
			}
			all = append(all, d)
		}
		return bson.D{{Key: "$and", Value: all}}, nil
	}
	name, ok := fieldNames[c.Field]
	if !ok {
		return nil, fmt.Errorf("unknown search field %q", c.Field)
	}
	if c.Field.IsTime() {
		ops := map[store.Op]string{store.OpLT: "$lt", store.OpLE: "$lte", store.OpGT: "$gt", store.OpGE: "$gte"}
		t := c.Time.UTC()
		if c.Op == store.OpEq {
			return bson.D{{Key: name, Value: t}}, nil
		}
		o, ok := ops[c.Op]
		if !ok {
			return nil, fmt.Errorf("operator %d on time field %q", c.Op, c.Field)
		}
		return bson.D{{Key: name, Value: bson.D{{Key: o, Value: t}}}}, nil
	}
	switch c.Op {
	case store.OpEq:
		return bson.D{{Key: name, Value: c.Value}}, nil
	case store.OpPrefix:
		return regex(name, "^"+regexp.QuoteMeta(c.Value)), nil
	case store.OpContains:
		if tok, part, ok := strings.Cut(c.Value, "="); ok && c.Field == store.FieldToken {
			return regex(name, "^"+regexp.QuoteMeta(tok+"=")+"(?s:.*)"+regexp.QuoteMeta(part)), nil
		}
		return regex(name, regexp.QuoteMeta(c.Value)), nil
	}
	return nil, fmt.Errorf("operator %d on string field %q", c.Op, c.Field)
}

func regex(name, pattern string) bson.D {
	return bson.D{{Key: name, Value: bson.D{{Key: "$regex", Value: pattern}}}}
}

// afterFilter is the keyset condition "after k in order s"; a missing sort
// field sorts first, as in store.Key.
func afterFilter(s store.Sort, k store.Key) bson.D {
	cmp := "$gt"
	if s.Desc {
		cmp = "$lt"
	}
	idAfter := bson.D{{Key: "id", Value: bson.D{{Key: cmp, Value: k.ID}}}}
	name := fieldNames[s.Field]
	if s.Field == store.FieldID || name == "" {
		return idAfter
	}
	if k.Time.IsZero() {
		tie := bson.D{{Key: name, Value: nil}, idAfter[0]}
		if s.Desc {
			return tie
		}
		return bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: name, Value: bson.D{{Key: "$ne", Value: nil}}}}, tie}}}
	}
	t := k.Time.UTC()
	or := bson.A{
		bson.D{{Key: name, Value: bson.D{{Key: cmp, Value: t}}}},
		bson.D{{Key: name, Value: t}, idAfter[0]},
	}
	if s.Desc {
		or = append(or, bson.D{{Key: name, Value: nil}})
	}
	return bson.D{{Key: "$or", Value: or}}
}

func sortSpec(s store.Sort) bson.D {
	dir := 1
	if s.Desc {
		dir = -1
	}
	if name := fieldNames[s.Field]; s.Field != store.FieldID && name != "" {
		return bson.D{{Key: name, Value: dir}, {Key: "id", Value: dir}}
	}
	return bson.D{{Key: "id", Value: dir}}
}

// Search implements store.Store. Documents a pending no-transaction write
// holds are judged on their effective state (the one before the write), in
// Go with Query.Matches, so a half-done write is never seen: first those
// documents are fetched (there are few, by the sparse txn index), then the
// indexed query runs with room for them, and the two are merged in order.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return plainPage(s.search(ctx, q))
}

func (s *Store) search(ctx context.Context, q store.Query) (store.Page, error) {
	op := "search " + q.Type
	filter, err := searchFilter(q)
	if err != nil {
		return store.Page{}, fmt.Errorf("mongo: %s: %w", op, err)
	}
	cache := txnStates{}
	marked, err := s.markedMatches(ctx, op, q, cache)
	if err != nil {
		return store.Page{}, err
	}
	page := store.Page{Total: -1}
	if q.Total {
		// A marked document whose write ends between the two queries has
		// lost its txn by now: it is left out here, counted once above.
		count := append(slices.Clone(filter), bson.E{Key: "txn", Value: bson.D{{Key: "$exists", Value: false}}})
		if len(marked) > 0 {
			ids := make(bson.A, len(marked))
			for i, r := range marked {
				ids[i] = r.ID
			}
			count = foldAnd(append(count, bson.E{Key: "$and", Value: bson.A{bson.D{{Key: "id", Value: bson.D{{Key: "$nin", Value: ids}}}}}}))
		}
		n, err := s.resources.CountDocuments(ctx, count)
		if err != nil {
			return store.Page{}, unavailable(op, err)
		}
		page.Total = int(n) + len(marked)
	}
	var cands []store.Resource
	seen := map[string]bool{}
	for _, r := range marked {
		if q.After == nil || q.Sort.Compare(q.Sort.KeyOf(r), *q.After) > 0 {
			cands = append(cands, r)
			seen[r.ID] = true
		}
	}
	if q.After != nil {
		filter = append(filter, bson.E{Key: "$and", Value: bson.A{afterFilter(q.Sort, *q.After)}})
		// Two $and keys are legal BSON but not legal for every server:
		// fold them into one.
		filter = foldAnd(filter)
	}
	limit := q.Count + 1 + len(marked)
	cursor, err := s.resources.Find(ctx, filter, options.Find().SetSort(sortSpec(q.Sort)).SetLimit(int64(limit)))
	if err != nil {
		return store.Page{}, unavailable(op, err)
	}
	defer cursor.Close(ctx)
	rows := 0
	var lastRaw store.Key
	for cursor.Next(ctx) {
		var doc current
		if err := cursor.Decode(&doc); err != nil {
			return store.Page{}, unavailable(op, err)
		}
		rows++
		lastRaw = q.Sort.KeyOf(doc.S.resource())
		if seen[doc.S.RID] {
			continue
		}
		r := doc.S.resource()
		if doc.Txn != "" {
			st, err := s.effective(ctx, &doc, cache)
			if errors.Is(err, errReread) {
				st, err = s.readCurrent(ctx, doc.Key)
			}
			if err != nil {
				return store.Page{}, err
			}
			if st == nil || !q.Matches(st.resource()) {
				continue
			}
			r = st.resource()
			if q.After != nil && q.Sort.Compare(q.Sort.KeyOf(r), *q.After) <= 0 {
				continue
			}
		}
		seen[r.ID] = true
		cands = append(cands, r)
	}
	if err := cursor.Err(); err != nil {
		return store.Page{}, unavailable(op, err)
	}
	if rows == limit {
		// Documents after the last one read were not looked at: a marked
		// candidate beyond it must wait for the next page.
		page.More = true
		cands = slices.DeleteFunc(cands, func(r store.Resource) bool { return q.Sort.Compare(q.Sort.KeyOf(r), lastRaw) > 0 })
	}
	slices.SortFunc(cands, func(a, b store.Resource) int { return q.Sort.Compare(q.Sort.KeyOf(a), q.Sort.KeyOf(b)) })
	if len(cands) > q.Count {
		cands, page.More = cands[:q.Count], true
	}
	page.Resources = cands
	return page, nil
}

func foldAnd(f bson.D) bson.D {
	var out bson.D
	var and bson.A
	for _, e := range f {
		if e.Key == "$and" {
			and = append(and, e.Value.(bson.A)...)
			continue
		}
		out = append(out, e)
	}
	if len(and) > 0 {
		out = append(out, bson.E{Key: "$and", Value: and})
	}
	return out
}

// markedMatches returns the resources of q.Type that a no-transaction write
// holds and whose effective state matches q (after is not applied).
func (s *Store) markedMatches(ctx context.Context, op string, q store.Query, cache txnStates) ([]store.Resource, error) {
	var out []store.Resource
	filter := bson.D{{Key: "txn", Value: bson.D{{Key: "$exists", Value: true}}}, {Key: "type", Value: q.Type}}
	err := s.scan(ctx, op, filter, options.Find(), func(st *state) error {
		if r := st.resource(); q.Matches(r) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// HistoryPage implements store.Store. History documents are inserted before
// their version becomes current, and a no-transaction write inserts them
// before it commits: a version is shown only once it is at most the
// effective current version of its resource (which also hides the orphans
// of writers that died).
func (s *Store) HistoryPage(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	return plainPage(s.historyPage(ctx, q))
}

// plainPage unpacks the bodies of a page (store.Plain).
func plainPage(p store.Page, err error) (store.Page, error) {
	if err != nil {
		return p, err
	}
	p.Resources, err = store.PlainAll(p.Resources, nil)
	return p, err
}

func (s *Store) historyPage(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	op := "history " + q.Type
	filter := bson.D{}
	if q.Type != "" {
		filter = append(filter, bson.E{Key: "type", Value: q.Type})
	}
	var and bson.A
	if !q.Since.IsZero() {
		and = append(and, bson.D{{Key: "lastUpdated", Value: bson.D{{Key: "$gte", Value: q.Since.UTC()}}}})
	}
	if !q.AtHi.IsZero() {
		and = append(and, bson.D{{Key: "lastUpdated", Value: bson.D{{Key: "$lte", Value: q.AtHi.UTC()}}}})
	}
	if q.Types != nil {
		and = append(and, bson.D{{Key: "type", Value: bson.D{{Key: "$in", Value: q.Types}}}})
	}
	for _, typ := range slices.Sorted(maps.Keys(q.Subjects)) {
		subjects := q.Subjects[typ]
		if subjects == nil {
			subjects = []string{} // $in needs an array: nil would be null
		}
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "type", Value: bson.D{{Key: "$ne", Value: typ}}}},
			bson.D{{Key: "subject", Value: bson.D{{Key: "$in", Value: subjects}}}},
		}}})
	}
	if k := q.After; k != nil {
		t := k.Time.UTC()
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "lastUpdated", Value: bson.D{{Key: "$lt", Value: t}}}},
			bson.D{{Key: "lastUpdated", Value: t}, {Key: "type", Value: bson.D{{Key: "$lt", Value: k.Type}}}},
			bson.D{{Key: "lastUpdated", Value: t}, {Key: "type", Value: k.Type}, {Key: "id", Value: bson.D{{Key: "$lt", Value: k.ID}}}},
			bson.D{{Key: "lastUpdated", Value: t}, {Key: "type", Value: k.Type}, {Key: "id", Value: k.ID}, {Key: "versionId", Value: bson.D{{Key: "$lt", Value: k.VersionID}}}},
		}}})
	}
	if len(and) > 0 {
		filter = append(filter, bson.E{Key: "$and", Value: and})
	}
	sort := bson.D{{Key: "lastUpdated", Value: -1}, {Key: "type", Value: -1}, {Key: "id", Value: -1}, {Key: "versionId", Value: -1}}
	cursor, err := s.history.Find(ctx, filter, options.Find().SetSort(sort).SetBatchSize(int32(min(q.Count+1, 1000))))
	if err != nil {
		return store.Page{}, unavailable(op, err)
	}
	defer cursor.Close(ctx)
	page := store.Page{Total: -1}
	var batch []state
	flush := func() error {
		vis, err := s.visible(ctx, op, batch, q)
		if err != nil {
			return err
		}
		for _, st := range vis {
			page.Resources = append(page.Resources, st.resource())
		}
		batch = batch[:0]
		return nil
	}
	for len(page.Resources) <= q.Count && cursor.Next(ctx) {
		var v version
		if err := cursor.Decode(&v); err != nil {
			return store.Page{}, unavailable(op, err)
		}
		batch = append(batch, v.S)
		if len(batch) > q.Count-len(page.Resources) {
			if err := flush(); err != nil {
				return store.Page{}, err
			}
		}
	}
	if err := cursor.Err(); err != nil {
		return store.Page{}, unavailable(op, err)
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return store.Page{}, err
		}
	}
	if len(page.Resources) > q.Count {
		page.Resources, page.More = page.Resources[:q.Count], true
	}
	return page, nil
}

// visible keeps the versions of batch readers may see, and for _at those
// that were current during [AtLo, AtHi]: not replaced by a visible next
// version written at or before AtLo.
func (s *Store) visible(ctx context.Context, op string, batch []state, q store.HistoryQuery) ([]state, error) {
	keys := map[string]bool{}
	var ids bson.A
	var next bson.A
	for _, st := range batch {
		k := docKey(st.Type, st.RID)
		if !keys[k] {
			keys[k] = true
			ids = append(ids, k)
		}
		next = append(next, fmt.Sprintf("%s/%d", k, st.VersionID+1))
	}
	cur := map[string]*state{}
	err := s.scan(ctx, op, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, options.Find(), func(st *state) error {
		cur[docKey(st.Type, st.RID)] = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	replaced := map[string]bool{}
	if !q.AtHi.IsZero() {
		cursor, err := s.history.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: next}}},
			{Key: "lastUpdated", Value: bson.D{{Key: "$lte", Value: q.AtLo.UTC()}}}})
		if err != nil {
			return nil, unavailable(op, err)
		}
		var vs []version
		if err := cursor.All(ctx, &vs); err != nil {
			return nil, unavailable(op, err)
		}
		for _, v := range vs {
			if c := cur[docKey(v.S.Type, v.S.RID)]; c != nil && v.S.VersionID <= c.VersionID {
				replaced[fmt.Sprintf("%s/%d", docKey(v.S.Type, v.S.RID), v.S.VersionID-1)] = true
			}
		}
	}
	var out []state
	for _, st := range batch {
		k := docKey(st.Type, st.RID)
		if c := cur[k]; c != nil && st.VersionID <= c.VersionID && !replaced[fmt.Sprintf("%s/%d", k, st.VersionID)] {
			out = append(out, st)
		}
	}
	return out, nil
}

// Scan implements store.Store with Search pages for now.
func (s *Store) Scan(ctx context.Context, q store.Query, fn func(store.Resource) error) error {
	return store.ScanPages(ctx, s, q, fn)
}
