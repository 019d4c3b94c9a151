package mongo

import (
	"time"

	"github.com/madx-project/madx/store"
)

// state is one version of a resource as stored: in the resources collection
// (inline, the current version), in a resources document's prev (the state a
// pending no-transaction write will restore) and in history.
//
// Body is a []byte, which the driver stores as BSON binary: the canonical
// JSON keeps its exact bytes ("1.50" stays "1.50"); a nested BSON document
// would turn decimals into doubles. It is stored as Render made it, usually
// packed (store.Template); the exported read methods unpack it.
type state struct {
	Type        string     `bson:"type"`
	RID         string     `bson:"id"`
	VersionID   int64      `bson:"versionId"`
	LastUpdated time.Time  `bson:"lastUpdated"`
	Deleted     bool       `bson:"deleted"`
	Body        []byte     `bson:"body,omitempty"`
	URL         string     `bson:"url,omitempty"`
	Version     string     `bson:"version,omitempty"`
	Status      string     `bson:"status,omitempty"`
	Measure     string     `bson:"measure,omitempty"`
	Subject     string     `bson:"subject,omitempty"`
	PeriodStart *time.Time `bson:"periodStart,omitempty"`
	PeriodEnd   *time.Time `bson:"periodEnd,omitempty"`
	DateStart   *time.Time `bson:"dateStart,omitempty"`
	DateEnd     *time.Time `bson:"dateEnd,omitempty"`
	// ReportKey is present only while the version is live: its presence is
	// what the unique index on it filters on, so a deletion frees the key.
	ReportKey   string   `bson:"reportKey,omitempty"`
	ContentHash string   `bson:"contentHash,omitempty"`
	Tokens      []string `bson:"tokens,omitempty"`
}

// current is a document of the resources collection: the current version of
// one resource, _id "<type>/<id>". Txn and Prev are set only while a
// multi-change write without a server transaction is in flight: the
// effective state is then Prev (nil: the resource did not exist) until the
// txn record says committed.
type current struct {
	Key  string `bson:"_id"`
	S    state  `bson:",inline"`
	Txn  string `bson:"txn,omitempty"`
	Prev *state `bson:"prev,omitempty"`
}

// version is a document of the history collection, _id
// "<type>/<id>/<version>". Nonce identifies the writer that inserted it and
// At when, so that a version left behind by a writer that died before its
// compare-and-swap can be told from one still in flight and removed.
type version struct {
	Key   string    `bson:"_id"`
	S     state     `bson:",inline"`
	Txn   string    `bson:"txn,omitempty"`
	Nonce string    `bson:"nonce"`
	At    time.Time `bson:"at"`
}

// txnRecord is a document of the txns collection: one multi-change write
// without a server transaction. Its single-document update from pending to
// committed is the write's atomic point.
type txnRecord struct {
	ID      string     `bson:"_id"`
	State   string     `bson:"state"`
	Created time.Time  `bson:"created"`
	Keys    []string   `bson:"keys"`
	Hist    []string   `bson:"hist"`
	Claims  []txnClaim `bson:"claims,omitempty"`
	Types   []string   `bson:"types"`
}

// txnClaim is a report key a pending write holds: Acquire for a key it
// takes, otherwise a key it frees (kept reserved until the write commits,
// so that a rollback can always give it back).
type txnClaim struct {
	Key     string `bson:"key"`
	Owner   string `bson:"owner"`
	Acquire bool   `bson:"acquire"`
}

// claim is a document of the claims collection (only used without server
// transactions): _id is a report key, Owner the "<type>/<id>" that holds or
// is taking it, Txn the pending write that reserved it.
type claim struct {
	Key   string    `bson:"_id"`
	Owner string    `bson:"owner"`
	Txn   string    `bson:"txn,omitempty"`
	At    time.Time `bson:"at"`
}

// Txn record states.
const (
	txnPending   = "pending"
	txnCommitted = "committed"
	txnAborted   = "aborted"
)

func docKey(typ, id string) string { return typ + "/" + id }

// live reports whether s is a state of an existing, not deleted resource.
func (s *state) live() bool { return s != nil && !s.Deleted }

// newState builds the stored state of a new version. Times are truncated to
// the millisecond BSON dates keep, so that what Write returns equals what a
// later Read returns.
func newState(c store.Change, vid int64, at time.Time, body []byte) state {
	st := state{
		Type: c.Type, RID: c.ID, VersionID: vid, LastUpdated: at, Deleted: c.Delete, Body: body,
		URL: c.Index.URL, Version: c.Index.Version, Status: c.Index.Status,
		Measure: c.Index.Measure, Subject: c.Index.Subject,
		PeriodStart: bsonTime(c.Index.PeriodStart), PeriodEnd: bsonTime(c.Index.PeriodEnd),
		DateStart: bsonTime(c.Index.DateStart), DateEnd: bsonTime(c.Index.DateEnd),
		ReportKey: c.Index.ReportKey, ContentHash: c.Index.ContentHash, Tokens: c.Index.Tokens,
	}
	if c.Delete {
		st.Body, st.ReportKey = nil, ""
	}
	return st
}

// deletionOf is the deletion version that follows the live state cur. It
// keeps cur's index, as the SQLite engine does, so that a history read back
// whole and a feed limited by subject (store.HistoryQuery.Subjects) keeps
// or drops a deletion with the version it deleted; it no longer holds the
// report key, whose unique index must let another resource take it.
// stateOf is the state of a live version as a store reader sees it,
// without its body (a reader gets it unpacked): enough to plan a write
// that replaces it, which keeps nothing of the body it replaces.
func stateOf(r store.Resource) state {
	return state{
		Type: r.Type, RID: r.ID, VersionID: r.VersionID, LastUpdated: r.LastUpdated, Deleted: r.Deleted,
		URL: r.Index.URL, Version: r.Index.Version, Status: r.Index.Status,
		Measure: r.Index.Measure, Subject: r.Index.Subject,
		PeriodStart: bsonTime(r.Index.PeriodStart), PeriodEnd: bsonTime(r.Index.PeriodEnd),
		DateStart: bsonTime(r.Index.DateStart), DateEnd: bsonTime(r.Index.DateEnd),
		ReportKey: r.Index.ReportKey, ContentHash: r.Index.ContentHash, Tokens: r.Index.Tokens,
	}
}

func deletionOf(cur *state, vid int64, at time.Time) state {
	st := *cur
	st.VersionID, st.LastUpdated, st.Deleted, st.Body, st.ReportKey = vid, at, true, nil, ""
	return st
}

func bsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Millisecond)
	return &t
}

func fromBSONTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// resource converts a stored state to the contract's Resource.
func (s *state) resource() store.Resource {
	r := store.Resource{
		Type: s.Type, ID: s.RID, VersionID: s.VersionID, LastUpdated: s.LastUpdated.UTC(), Deleted: s.Deleted,
		Index: store.Index{
			URL: s.URL, Version: s.Version, Status: s.Status, Measure: s.Measure, Subject: s.Subject,
			PeriodStart: fromBSONTime(s.PeriodStart), PeriodEnd: fromBSONTime(s.PeriodEnd),
			DateStart: fromBSONTime(s.DateStart), DateEnd: fromBSONTime(s.DateEnd),
			ReportKey: s.ReportKey, ContentHash: s.ContentHash,
		},
	}
	if len(s.Body) > 0 {
		r.Body = s.Body
	}
	if len(s.Tokens) > 0 {
		r.Index.Tokens = s.Tokens
	}
	return r
}
