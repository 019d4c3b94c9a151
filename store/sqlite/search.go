package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/madx-project/madx/store"
)

// Search implements store.Store. The query is one SELECT over the narrow
// current table (every clause a column or token-table test that an index
// serves; see schema), joined to history for the bodies of one page only.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	op := "search " + q.Type
	where, args, err := searchWhere(q)
	if err != nil {
		return store.Page{}, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	page := store.Page{Total: -1}
	if q.Total {
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM current c WHERE `+where, args...).Scan(&page.Total); err != nil {
			return store.Page{}, translate(op, err)
		}
	}
	expr, _ := sortExpr(q.Sort)
	if q.After != nil {
		where, args = afterClause(where, args, q.Sort, expr, *q.After)
	}
	query := `SELECT ` + versionColumns + ` ` + liveJoin + ` WHERE ` + where + ` ORDER BY ` + orderBy(q) + ` LIMIT ?`
	args = append(args, q.Count+1)
	return s.page(ctx, op, page, q.Count, query, args)
}

// page runs a query that asks for count+1 rows and fills p with the first
// count, More telling whether there was one beyond.
func (s *Store) page(ctx context.Context, op string, p store.Page, count int, query string, args []any) (store.Page, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return store.Page{}, translate(op, err)
	}
	out, err := collect(rows)
	if err != nil {
		return store.Page{}, translate(op, err)
	}
	if len(out) > count {
		out, p.More = out[:count], true
	}
	p.Resources = out
	return p, nil
}

// searchSQL is the query text of Search without paging, for EXPLAIN QUERY
// PLAN in tests.
func searchSQL(q store.Query) (string, []any, error) {
	where, args, err := searchWhere(q)
	if err != nil {
		return "", nil, err
	}
	return `SELECT c.id FROM current c WHERE ` + where + ` ORDER BY ` + orderBy(q) + ` LIMIT 51`, args, nil
}

// orderBy is the ORDER BY of a search. With conditions, the sort terms get
// a unary plus: without it SQLite prefers walking every resource of the
// type in the order of the primary key (sparing a sort) to using the
// index of the searched field, which is the wrong bet for a search; a
// page of matches sorts in microseconds. Without conditions, the ordered
// walk is right, and keyset paging makes it a range scan.
func orderBy(q store.Query) string {
	expr, dir := sortExpr(q.Sort)
	plus := ""
	if slices.ContainsFunc(q.Where, func(cl store.Clause) bool { return !cl.Broad }) {
		plus = "+"
	}
	out := ""
	if expr != "c.id" {
		out = plus + expr + " " + dir + ", "
	}
	return out + plus + "c.id " + dir
}

// nullKey is the sort value of a resource without the sort field: first,
// as store.Key says.
const nullKey = math.MinInt64

func sortExpr(s store.Sort) (expr, dir string) {
	dir = "ASC"
	if s.Desc {
		dir = "DESC"
	}
	switch s.Field {
	case store.FieldLastUpdated:
		return "c.updated", dir
	case store.FieldPeriodStart:
		return fmt.Sprintf("ifnull(c.period_start, %d)", int64(nullKey)), dir
	case store.FieldDateStart:
		return fmt.Sprintf("ifnull(c.date_start, %d)", int64(nullKey)), dir
	}
	return "c.id", dir
}

func afterClause(where string, args []any, s store.Sort, expr string, k store.Key) (string, []any) {
	cmp := ">"
	if s.Desc {
		cmp = "<"
	}
	if expr == "c.id" {
		return where + " AND c.id " + cmp + " ?", append(args, k.ID)
	}
	v := int64(nullKey)
	if !k.Time.IsZero() {
		v = k.Time.UnixMicro()
	}
	return where + fmt.Sprintf(" AND (%[1]s %[2]s ? OR (%[1]s = ? AND c.id %[2]s ?))", expr, cmp), append(args, v, v, k.ID)
}

var columns = map[store.Field]string{
	store.FieldID: "c.id", store.FieldURL: "c.url", store.FieldVersion: "c.ver", store.FieldStatus: "c.status",
	store.FieldMeasure: "c.measure", store.FieldSubject: "c.subject",
	store.FieldPeriodStart: "c.period_start", store.FieldPeriodEnd: "c.period_end",
	store.FieldDateStart: "c.date_start", store.FieldDateEnd: "c.date_end", store.FieldLastUpdated: "c.updated",
}

func searchWhere(q store.Query) (string, []any, error) {
	var b strings.Builder
	args := []any{q.Type}
	b.WriteString("c.type = ? AND c.deleted = 0")
	for _, cl := range q.Where {
		b.WriteString(" AND (")
		first := true
		or := func() {
			if !first {
				b.WriteString(" OR ")
			}
			first = false
		}
		paired := versionPrefixes(cl)
		// Equalities on one column are gathered into a set: an OR per value
		// would hit SQLite's expression depth limit at about a thousand
		// values (a national token's facilities, a long value list).
		sets := map[string][]string{}
		var order []string
		add := func(col, v string) {
			if _, ok := sets[col]; !ok {
				order = append(order, col)
			}
			sets[col] = append(sets[col], v)
		}
		for _, c := range cl.Any {
			if c.Field == store.FieldMeasure && c.Op == store.OpEq && c.All == nil && paired[c.Value+"|"] {
				// measure = url OR measure LIKE 'url|%': the url part
				// column, so that the (measure_url, period_start) index
				// serves it with an equality (SQLite will not use an index
				// for an OR of an equality and a range on one column).
				add("c.measure_url", c.Value)
				continue
			}
			if c.Field == store.FieldMeasure && c.Op == store.OpPrefix && c.All == nil && paired[c.Value] {
				continue // the other half of the pair above
			}
			if col, ok := setColumn(c); ok {
				add(col, c.Value)
				continue
			}
			or()
			var err error
			if args, err = condSQL(&b, args, q.Type, c); err != nil {
				return "", nil, err
			}
		}
		for _, col := range order {
			or()
			if cl.Broad && col != "t.token" {
				b.WriteString("+") // not an index to drive by: see store.Clause.Broad
			}
			args = setSQL(&b, args, q.Type, col, sets[col])
		}
		if first {
			b.WriteString("0")
		}
		b.WriteString(")")
	}
	return b.String(), args, nil
}

// setColumn is the column an equality tests, when it can join a set.
func setColumn(c store.Cond) (string, bool) {
	if c.Op != store.OpEq || c.All != nil || c.Field.IsTime() {
		return "", false
	}
	if c.Field == store.FieldToken {
		return "t.token", true
	}
	col, ok := columns[c.Field]
	return col, ok
}

// manyValues is where a set of equalities becomes one json_each lookup;
// below it, the plain equalities keep the plans the plan test checks.
const manyValues = 8

// setSQL writes "col is one of vs": equalities for a few values, one
// membership test of a JSON array for many (one expression, any length).
func setSQL(b *strings.Builder, args []any, typ, col string, vs []string) []any {
	token := col == "t.token"
	if token {
		// Non-correlated: SQLite runs it once over the tokens primary key
		// (type, token, id) and probes current by its key.
		b.WriteString("c.id IN (SELECT t.id FROM tokens t WHERE t.type = ? AND ")
		args = append(args, typ)
	}
	if len(vs) < manyValues {
		b.WriteString("(")
		for i, v := range vs {
			if i > 0 {
				b.WriteString(" OR ")
			}
			fmt.Fprintf(b, "%s = ?", col)
			args = append(args, v)
		}
		b.WriteString(")")
	} else {
		list, _ := json.Marshal(vs) // strings always marshal
		fmt.Fprintf(b, "%s IN (SELECT value FROM json_each(?))", col)
		args = append(args, string(list))
	}
	if token {
		b.WriteString(")")
	}
	return args
}

// versionPrefixes are the "measure starts with url|" conditions of a
// clause, so that "measure = url" can be paired with its own in one pass.
func versionPrefixes(cl store.Clause) map[string]bool {
	out := map[string]bool{}
	for _, c := range cl.Any {
		if c.Field == store.FieldMeasure && c.Op == store.OpPrefix && c.All == nil && strings.HasSuffix(c.Value, "|") {
			out[c.Value] = true
		}
	}
	// A prefix pairs only with its own equality.
	eqs := map[string]bool{}
	for _, c := range cl.Any {
		if c.Field == store.FieldMeasure && c.Op == store.OpEq && c.All == nil && !strings.Contains(c.Value, "|") {
			eqs[c.Value+"|"] = true
		}
	}
	for p := range out {
		if !eqs[p] {
			delete(out, p)
		}
	}
	return out
}

func condSQL(b *strings.Builder, args []any, typ string, c store.Cond) ([]any, error) {
	if c.All != nil {
		b.WriteString("(")
		for i, sub := range c.All {
			if i > 0 {
				b.WriteString(" AND ")
			}
			var err error
			if args, err = condSQL(b, args, typ, sub); err != nil {
				return nil, err
			}
		}
		b.WriteString(")")
		return args, nil
	}
	if c.Field == store.FieldToken {
		// Non-correlated: SQLite runs it once over the tokens primary key
		// (type, token, id) and probes current by its key.
		b.WriteString("c.id IN (SELECT t.id FROM tokens t WHERE t.type = ? AND ")
		args = stringSQL(b, append(args, typ), "t.token", c.Op, c.Value)
		b.WriteString(")")
		return args, nil
	}
	col, ok := columns[c.Field]
	if !ok {
		return nil, fmt.Errorf("unknown search field %q", c.Field)
	}
	if !c.Field.IsTime() {
		return stringSQL(b, args, col, c.Op, c.Value), nil
	}
	ops := map[store.Op]string{store.OpEq: "=", store.OpLT: "<", store.OpLE: "<=", store.OpGT: ">", store.OpGE: ">="}
	o, ok := ops[c.Op]
	if !ok {
		return nil, fmt.Errorf("operator %d on time field %q", c.Op, c.Field)
	}
	fmt.Fprintf(b, "%s %s ?", col, o)
	return append(args, c.Time.UnixMicro()), nil
}

// stringSQL writes a string test as an index range where it can: a prefix
// is [p, PrefixEnd(p)), and a token's contains test scans only the tokens
// of its name.
func stringSQL(b *strings.Builder, args []any, col string, op store.Op, v string) []any {
	switch op {
	case store.OpPrefix:
		return rangeSQL(b, args, col, v)
	case store.OpContains:
		name, part, ok := strings.Cut(v, "=")
		if col != "t.token" || !ok {
			fmt.Fprintf(b, "instr(%s, ?) > 0", col)
			return append(args, v)
		}
		args = rangeSQL(b, args, col, name+"=")
		fmt.Fprintf(b, " AND instr(substr(%s, %d), ?) > 0", col, len(name)+2)
		return append(args, part)
	}
	fmt.Fprintf(b, "%s = ?", col)
	return append(args, v)
}

func rangeSQL(b *strings.Builder, args []any, col, p string) []any {
	end := store.PrefixEnd(p)
	if end == "" {
		fmt.Fprintf(b, "%s >= ?", col)
		return append(args, p)
	}
	fmt.Fprintf(b, "(%[1]s >= ? AND %[1]s < ?)", col)
	return append(args, p, end)
}

// HistoryPage implements store.Store: a range scan, newest first, over
// history_feed (or history_type_feed for one type), from the cursor on.
func (s *Store) HistoryPage(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	query, args := historySQL(q)
	return s.page(ctx, "history "+q.Type, store.Page{Total: -1}, q.Count, query, args)
}

func historySQL(q store.HistoryQuery) (string, []any) {
	var conds []string
	var args []any
	if q.Type != "" {
		conds = append(conds, "h.type = ?")
		args = append(args, q.Type)
	}
	if !q.Since.IsZero() {
		conds = append(conds, "h.updated >= ?")
		args = append(args, q.Since.UnixMicro())
	}
	if !q.AtHi.IsZero() {
		// Current at some instant of [lo, hi]: written by hi, and not
		// replaced by lo (FHIR R4 http.html#history _at).
		conds = append(conds, "h.updated <= ?", `NOT EXISTS (SELECT 1 FROM history n
			WHERE n.type = h.type AND n.id = h.id AND n.version = h.version + 1 AND n.updated <= ?)`)
		args = append(args, q.AtHi.UnixMicro(), q.AtLo.UnixMicro())
	}
	if q.Types != nil {
		conds = append(conds, "h.type IN ("+placeholders(len(q.Types))+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(q.Subjects)) {
		// The subject of an old version is only in its idx JSON (history
		// has no subject column): the feed index still drives the scan,
		// and the test runs on the rows of that type alone.
		subjects := q.Subjects[typ]
		conds = append(conds, "(h.type <> ? OR json_extract(CAST(h.idx AS TEXT), '$.Subject') IN ("+placeholders(len(subjects))+"))")
		args = append(args, typ)
		for _, sub := range subjects {
			args = append(args, sub)
		}
	}
	if k := q.After; k != nil {
		if q.Type != "" {
			conds = append(conds, "(h.updated, h.id, h.version) < (?, ?, ?)")
			args = append(args, k.Time.UnixMicro(), k.ID, k.VersionID)
		} else {
			conds = append(conds, "(h.updated, h.type, h.id, h.version) < (?, ?, ?, ?)")
			args = append(args, k.Time.UnixMicro(), k.Type, k.ID, k.VersionID)
		}
	}
	query := `SELECT ` + versionColumns + ` FROM history h`
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY h.updated DESC, h.type DESC, h.id DESC, h.version DESC LIMIT ?"
	return query, append(args, q.Count+1)
}

// placeholders is n comma-separated SQL parameters; "NULL" when n is 0,
// so that IN () (a syntax error in SQLite) becomes IN (NULL), true of
// nothing.
func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return "?" + strings.Repeat(", ?", n-1)
}

// Scan implements store.Store with Search pages for now.
func (s *Store) Scan(ctx context.Context, q store.Query, fn func(store.Resource) error) error {
	return store.ScanPages(ctx, s, q, fn)
}
