package store

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Field names an extracted field a search condition tests (see Index).
type Field string

// The searchable fields. Strings compare byte for byte: the server
// normalises values (case, accents) before they reach the store.
const (
	FieldID      Field = "_id"
	FieldURL     Field = "url"
	FieldVersion Field = "version"
	FieldStatus  Field = "status"
	FieldMeasure Field = "measure"
	FieldSubject Field = "subject"
	// FieldToken tests Index.Tokens; a condition's Value is "name=value".
	FieldToken Field = "token"
	// Times. A MeasureReport period open at one end is indexed with
	// DistantPast or DistantFuture there, so no engine special-cases
	// missing bounds; a resource without the field never matches.
	FieldPeriodStart Field = "period.start"
	FieldPeriodEnd   Field = "period.end"
	FieldDateStart   Field = "date.start"
	FieldDateEnd     Field = "date.end"
	FieldLastUpdated Field = "_lastUpdated"
)

// DistantPast and DistantFuture stand for the missing end of an open
// Period in Index.PeriodStart and Index.PeriodEnd (FHIR R4 search.html#date:
// an open end is unbounded). They are not time.Time{}, which means "absent".
var (
	DistantPast   = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	DistantFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// IsTime reports whether f holds instants (conditions use Cond.Time).
func (f Field) IsTime() bool {
	switch f {
	case FieldPeriodStart, FieldPeriodEnd, FieldDateStart, FieldDateEnd, FieldLastUpdated:
		return true
	}
	return false
}

// Op is how a condition compares a field with its value.
type Op int

// Operators. Prefix and Contains apply to strings and tokens (on a token,
// Contains looks for the part after "name=" of Value inside the part after
// "name=" of a token with the same name); the orderings to times.
const (
	OpEq Op = iota
	OpPrefix
	OpContains
	OpLT
	OpLE
	OpGT
	OpGE
)

// Cond is one condition. When All is set it is a conjunction of those
// conditions instead (a date prefix such as eq needs two comparisons).
type Cond struct {
	Field Field
	Op    Op
	Value string
	Time  time.Time
	All   []Cond
}

// Clause is satisfied when any of its conditions is: one search parameter,
// whose comma-separated values are alternatives.
type Clause struct {
	Any []Cond
	// Broad marks a clause that most resources of the type pass (the
	// rights of a district or national token: thousands of facilities). An
	// engine applies it as any other, but should not plan the search by
	// it: walking the type in sort order and testing each resource finds a
	// page of 50 at once, where looking up every member and sorting all
	// their reports took 40 times longer (docs/search.md).
	Broad bool
}

// Sort orders search results; ties are broken by id, in the same direction.
type Sort struct {
	// Field is FieldID, FieldLastUpdated, FieldPeriodStart or FieldDateStart.
	Field Field
	Desc  bool
}

// Key is the position of a resource in a Sort order: the keyset cursor.
// Time is zero for FieldID, and for a resource without the sort field (such
// resources sort first, as if their value were the lowest).
type Key struct {
	Time time.Time
	ID   string
}

// Query is a search over the live resources of one type.
type Query struct {
	Type string
	// Where clauses are AND-ed.
	Where []Clause
	Sort  Sort
	// Count is the page size; engines return at most Count resources.
	Count int
	// After, when set, starts the page after this key (exclusive).
	After *Key
	// Total asks for the number of all matches (ignoring After and Count).
	Total bool
}

// Page is one page of search or history results.
type Page struct {
	Resources []Resource
	// More is true when resources follow the last one of this page.
	More bool
	// Total is the number of matches when Query.Total asked for it, else -1.
	Total int
}

// KeyOf returns r's position in the order s.
func (s Sort) KeyOf(r Resource) Key {
	k := Key{ID: r.ID}
	switch s.Field {
	case FieldLastUpdated:
		k.Time = r.LastUpdated
	case FieldPeriodStart:
		k.Time = r.Index.PeriodStart
	case FieldDateStart:
		k.Time = r.Index.DateStart
	}
	return k
}

// Compare orders two keys in s (negative when a comes first).
func (s Sort) Compare(a, b Key) int {
	c := a.Time.Compare(b.Time)
	if c == 0 {
		c = cmp.Compare(a.ID, b.ID)
	}
	if s.Desc {
		return -c
	}
	return c
}

// Matches reports whether a live resource satisfies every clause of q: the
// reference semantics of Search, which engines implement in their query
// language and may use themselves for documents they must check in Go.
func (q Query) Matches(r Resource) bool {
	if r.Deleted || r.Type != q.Type {
		return false
	}
	for _, cl := range q.Where {
		if !slices.ContainsFunc(cl.Any, func(c Cond) bool { return c.Matches(r) }) {
			return false
		}
	}
	return true
}

// Matches reports whether r satisfies the condition.
func (c Cond) Matches(r Resource) bool {
	if c.All != nil {
		for _, sub := range c.All {
			if !sub.Matches(r) {
				return false
			}
		}
		return true
	}
	if c.Field.IsTime() {
		t := timeField(r, c.Field)
		if t.IsZero() {
			return false
		}
		switch x := t.Compare(c.Time); c.Op {
		case OpEq:
			return x == 0
		case OpLT:
			return x < 0
		case OpLE:
			return x <= 0
		case OpGT:
			return x > 0
		case OpGE:
			return x >= 0
		}
		return false
	}
	if c.Field == FieldToken {
		return slices.ContainsFunc(r.Index.Tokens, func(t string) bool { return matchString(c.Op, t, c.Value) })
	}
	v := stringField(r, c.Field)
	return v != "" && matchString(c.Op, v, c.Value)
}

func matchString(op Op, v, want string) bool {
	switch op {
	case OpEq:
		return v == want
	case OpPrefix:
		return strings.HasPrefix(v, want)
	case OpContains:
		name, part, _ := strings.Cut(want, "=")
		rest, ok := strings.CutPrefix(v, name+"=")
		return ok && strings.Contains(rest, part)
	}
	return false
}

func stringField(r Resource, f Field) string {
	switch f {
	case FieldID:
		return r.ID
	case FieldURL:
		return r.Index.URL
	case FieldVersion:
		return r.Index.Version
	case FieldStatus:
		return r.Index.Status
	case FieldMeasure:
		return r.Index.Measure
	case FieldSubject:
		return r.Index.Subject
	}
	return ""
}

func timeField(r Resource, f Field) time.Time {
	switch f {
	case FieldPeriodStart:
		return r.Index.PeriodStart
	case FieldPeriodEnd:
		return r.Index.PeriodEnd
	case FieldDateStart:
		return r.Index.DateStart
	case FieldDateEnd:
		return r.Index.DateEnd
	case FieldLastUpdated:
		return r.LastUpdated
	}
	return time.Time{}
}

// PrefixEnd returns the smallest string greater than every string that
// starts with p, or "" when there is none: the exclusive upper bound that
// turns a prefix match into an index range scan.
func PrefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// HistoryQuery selects versions for a type-level or system-level history.
type HistoryQuery struct {
	// Type limits the history to one resource type; empty means all types.
	Type string
	// Since keeps versions written at or after it (FHIR _since).
	Since time.Time
	// AtLo and AtHi, when set, keep versions that were current at some
	// instant between them, inclusive (FHIR _at).
	AtLo, AtHi time.Time
	// Types, when not nil, keeps only the versions of these types: a feed
	// shows a caller the types it may read and never internal records. An
	// empty, non-nil Types keeps nothing.
	Types []string
	// Subjects, when not nil, keeps of the versions of each type it names
	// only those whose Index.Subject is one of the listed references (none
	// when the list is empty); types it does not name are not limited. A
	// deletion version carries the index of the version it deleted, so it
	// is kept or dropped with it.
	Subjects map[string][]string
	Count    int
	// After, when set, starts the page after this version (exclusive).
	After *VersionKey
}

// Keeps reports whether the version r passes q.Types and q.Subjects: the
// reference semantics of those filters (Type, Since, At and After are the
// engines' own range scans).
func (q HistoryQuery) Keeps(r Resource) bool {
	if q.Types != nil && !slices.Contains(q.Types, r.Type) {
		return false
	}
	if subjects, limited := q.Subjects[r.Type]; limited && !slices.Contains(subjects, r.Index.Subject) {
		return false
	}
	return true
}

// VersionKey is the position of a version in a history, which runs newest
// first: by LastUpdated, then type, id and version, all descending.
type VersionKey struct {
	Time      time.Time
	Type, ID  string
	VersionID int64
}

// VersionKeyOf returns r's position in a history.
func VersionKeyOf(r Resource) VersionKey {
	return VersionKey{Time: r.LastUpdated, Type: r.Type, ID: r.ID, VersionID: r.VersionID}
}

// CompareVersions orders two versions as a history does (negative when a
// comes first, that is, a is newer).
func CompareVersions(a, b VersionKey) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Type, a.Type); c != 0 {
		return c
	}
	if c := cmp.Compare(b.ID, a.ID); c != 0 {
		return c
	}
	return cmp.Compare(b.VersionID, a.VersionID)
}
