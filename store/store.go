// Package store is the persistence contract of madx: what the server needs
// from a database, whatever the engine. Engines live in store/sqlite (the
// embedded default) and store/mongo (production); both pass the suite in
// store/storetest. Driver errors become the sentinels below in the engines
// and nowhere else.
//
// Layout, in both engines: every resource version is kept as its canonical
// FHIR JSON body (the bytes the codec produced, so decimals keep their
// precision) beside the extracted fields lookups need (Index). A "current"
// table/collection is unique on (type, id); the history keeps every version.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Engines wrap them with the operation and the resource:
// test with errors.Is.
var (
	// ErrNotFound: no resource (or version) with that type and id.
	ErrNotFound = errors.New("not found")
	// ErrDeleted: the resource exists but its current version is a deletion.
	ErrDeleted = errors.New("deleted")
	// ErrVersionConflict: Change.IfMatch named a version that is not current,
	// or a concurrent writer won a race the engine could not retry.
	ErrVersionConflict = errors.New("version conflict")
	// ErrDuplicateKey: another live resource already holds this business key
	// (Index.ReportKey) or the resource already exists on a create-only change.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrUnavailable: the database cannot be reached or refused the operation
	// for a reason that is not the request's fault.
	ErrUnavailable = errors.New("store unavailable")
	// ErrBadQuery: the engine cannot run what the caller asked for (more
	// conditions than it combines in one query, a value larger than it
	// takes). The request is at fault, not the database: retrying it
	// unchanged fails again. Engines return it as a *QueryError.
	ErrBadQuery = errors.New("query the store cannot run")
)

// QueryError is ErrBadQuery with a reason a client may read: what about the
// query was too much, in words the engine chose. It never holds the query
// text or the driver's message, which go to Cause for the logs.
type QueryError struct {
	// Op names the operation ("sqlite: search Location").
	Op string
	// Reason is public: "the search combines more conditions than ...".
	Reason string
	// Cause is the driver's error, for the logs only; errors.Is does not
	// reach it (callers test sentinels, never driver types).
	Cause error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s: %v: %s: %v", e.Op, ErrBadQuery, e.Reason, e.Cause)
}

// Unwrap makes errors.Is(err, ErrBadQuery) hold.
func (e *QueryError) Unwrap() error { return ErrBadQuery }

// Resource is one stored version of a FHIR resource.
type Resource struct {
	Type        string
	ID          string
	VersionID   int64
	LastUpdated time.Time
	Deleted     bool
	// Body is the canonical FHIR JSON of this version, meta included; nil for
	// a deletion.
	Body  []byte
	Index Index
}

// Index holds the fields extracted from a resource for lookups. Empty
// strings and zero times mean "not applicable".
type Index struct {
	// URL, Version and Status of a definition (Measure, ValueSet, CodeSystem).
	URL     string
	Version string
	Status  string
	// Measure canonical, Subject reference ("Location/<id>" once resolved)
	// and Period of a MeasureReport.
	Measure     string
	Subject     string
	PeriodStart time.Time
	PeriodEnd   time.Time
	// DateStart and DateEnd are the instants MeasureReport.date covers at
	// its precision (2025-03 covers the whole month).
	DateStart time.Time
	DateEnd   time.Time
	// ReportKey is the business identity of a MeasureReport (measure,
	// subject, period). At most one live resource holds a given key.
	ReportKey string
	// ContentHash identifies the content apart from meta, so that loading the
	// same content twice creates no new version (Change.SkipUnchanged).
	ContentHash string
	// Tokens are "name=value" search tokens (identifier=system|value,
	// name=..., partof=Location/x, ...).
	Tokens []string
	// Figures are a MeasureReport's numbers (population counts and strata)
	// in the pipeline's own encoding, kept with the current version so that
	// the operations that sum or count reports ($aggregate, $completeness)
	// read no body (Scan). Engines store and return them as opaque bytes.
	// Nil when absent: a version written before figures existed, whose
	// reader falls back to its body.
	Figures []byte
}

// Change is one write in a Write call.
type Change struct {
	Type string
	ID   string
	// Delete records a deletion version instead of a body.
	Delete bool
	// IfMatch, when non-zero, is the version that must be current (HTTP
	// If-Match); otherwise the change fails with ErrVersionConflict.
	IfMatch int64
	// CreateOnly makes the change fail with ErrDuplicateKey when a live
	// resource with this type and id exists.
	CreateOnly bool
	// SkipUnchanged keeps the current version when it is live and has the
	// same Index.ContentHash: Result.Unchanged is then true.
	SkipUnchanged bool
	// Current, when set, is the live version the caller has just read,
	// and IfMatch pins it: an engine may plan from it instead of reading it
	// again (one round trip less on MongoDB). Should it no longer be
	// current, the write fails its compare-and-swap as with any lost race,
	// and If-Match decides as usual.
	Current *Resource
	Index   Index
	// Render produces the body for the version the engine assigns, so that
	// meta.versionId and meta.lastUpdated inside the body agree with the
	// stored ones. It must not have side effects: an engine may call it more
	// than once when it retries.
	Render func(versionID int64, lastUpdated time.Time) ([]byte, error)
	// RenderAfter, when set, is used instead of Render and also receives
	// the results of the changes before this one in the same Write, so a
	// record written in the same commit as what it records (the audit
	// record of a PUT) can say what that write did. The same rules as
	// Render apply.
	RenderAfter func(prior []Result, versionID int64, lastUpdated time.Time) ([]byte, error)
}

// RenderBody calls c's RenderAfter with prior, or else its Render.
func (c *Change) RenderBody(prior []Result, versionID int64, lastUpdated time.Time) ([]byte, error) {
	if c.RenderAfter != nil {
		return c.RenderAfter(prior, versionID, lastUpdated)
	}
	return c.Render(versionID, lastUpdated)
}

// HasRender reports whether c can render a body.
func (c *Change) HasRender() bool { return c.Render != nil || c.RenderAfter != nil }

// Result is the outcome of one Change.
type Result struct {
	// Resource is the version written (or kept). Its Body is as stored, the
	// way Render made it (usually packed: Unpack it); the read methods, by
	// contrast, give plain bodies.
	Resource Resource
	// Created is true when no live version existed before (a first version,
	// or a write after a deletion).
	Created bool
	// Unchanged is true when SkipUnchanged kept the current version, or a
	// deletion found the resource already deleted.
	Unchanged bool
}

// Store is the contract every engine implements. Every method takes the
// request's context. Errors wrap the sentinels above. A query the caller
// made too large for the engine (Search, HistoryPage, ReportKeyHolders)
// fails with ErrBadQuery, never ErrUnavailable: that one means the
// database itself is down or refusing (closed, busy beyond its timeout,
// unreachable), and only it invites a retry.
type Store interface {
	// Read returns the current version. A deleted resource returns its
	// deletion version together with ErrDeleted; an unknown one ErrNotFound.
	Read(ctx context.Context, typ, id string) (Resource, error)
	// ReadVersion returns one version (deletion versions included, with
	// ErrDeleted), or ErrNotFound.
	ReadVersion(ctx context.Context, typ, id string, versionID int64) (Resource, error)
	// History returns every version of one resource, newest first, or
	// ErrNotFound when it never existed.
	History(ctx context.Context, typ, id string) ([]Resource, error)
	// Write applies the changes atomically: either every change is stored
	// and acknowledged durable, or none is visible and the first failure is
	// returned (wrapping ErrVersionConflict, ErrDuplicateKey, ErrNotFound for
	// a deletion of an unknown resource, or ErrUnavailable). Results are in
	// the order of changes.
	Write(ctx context.Context, changes []Change) ([]Result, error)
	// FindCanonical returns the live resources of a type whose Index.URL is
	// url (and Index.Version is version, when version is not empty), in no
	// particular order.
	FindCanonical(ctx context.Context, typ, url, version string) ([]Resource, error)
	// ReportKeyHolders returns, for each of keys that a live resource holds
	// as its Index.ReportKey, that resource's id; keys nobody holds are
	// absent from the map. One call answers a whole Bundle's keys.
	ReportKeyHolders(ctx context.Context, keys []string) (map[string]string, error)
	// List calls fn for every live resource of a type, in id order, until fn
	// returns an error (which List returns).
	List(ctx context.Context, typ string, fn func(Resource) error) error
	// Search returns one page of the live resources of q.Type matching q
	// (see Query.Matches), in q.Sort order, after q.After. A multi-change
	// write is seen whole or not at all.
	Search(ctx context.Context, q Query) (Page, error)
	// Scan calls fn for every live resource of q.Type matching q, in
	// q.Sort order (q.Count, q.After and q.Total do not apply), until fn
	// returns an error, which Scan returns. Resources come without their
	// Body: what the Index holds, Figures included, is all the operations
	// that count and sum reports need, and reading no body back is what
	// keeps them flat in the size of the reports. A multi-change write is
	// seen whole or not at all.
	Scan(ctx context.Context, q Query, fn func(Resource) error) error
	// HistoryPage returns one page of versions (deletions included) of
	// q.Type, or of every type, newest first (see CompareVersions), after
	// q.After: the feed behind type- and system-level _history.
	HistoryPage(ctx context.Context, q HistoryQuery) (Page, error)
	// Forget removes versions of one resource for good, history included:
	// those older than version below, or every version when below is 0
	// (Read, History then answer ErrNotFound, as if it never existed). It
	// is for madx's internal records whose old versions must not outlive
	// their use (an async job's request body); a FHIR resource's history
	// is never forgotten. Forgetting what is not there is no error. It is
	// not atomic with a concurrent Write of the same resource: callers
	// forget what no one else writes any more.
	Forget(ctx context.Context, typ, id string, below int64) error
	// Stamp returns a number that changes whenever a resource of one of the
	// given types is written, by this process or any other sharing the
	// database: the cheap check behind cache invalidation. Types for which
	// Unstamped is true have no stamp (an error).
	Stamp(ctx context.Context, types ...string) (int64, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the engine's resources.
	Close() error
}

// Unstamped tells the types whose writes bump no stamp: the ones nearly
// every request writes (reports, their audit records, asynchronous jobs, the forwards of reports)
// and nothing caches. Bumping them cost a command per write on MongoDB (a
// round trip each, issue 13) and a statement per commit on SQLite, for a
// counter nobody read. Every other type is stamped, so a type a cache
// starts to depend on is stamped without anyone having to remember it.
func Unstamped(typ string) bool {
	switch typ {
	case "MeasureReport", "AuditEvent", "AsyncJob", "Forward":
		return true
	}
	return false
}

// CheckStamped returns an error naming the first type of types that has no
// stamp: asking for one is a programming error, and must not pass as a
// stamp that never changes.
func CheckStamped(types []string) error {
	for _, t := range types {
		if Unstamped(t) {
			return fmt.Errorf("store: %s has no stamp (store.Unstamped)", t)
		}
	}
	return nil
}

// ScanPages implements Scan with Search, a page at a time, dropping the
// bodies: correct on any engine, though it reads every body and the
// figures only where Search returns them. Engines that can read the index
// alone do better.
func ScanPages(ctx context.Context, s Store, q Query, fn func(Resource) error) error {
	q.Count, q.After, q.Total = scanPage, nil, false
	for {
		p, err := s.Search(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range p.Resources {
			r.Body = nil
			if err := fn(r); err != nil {
				return err
			}
		}
		if !p.More || len(p.Resources) == 0 {
			return nil
		}
		k := q.Sort.KeyOf(p.Resources[len(p.Resources)-1])
		q.After = &k
	}
}

// scanPage is how many resources ScanPages asks Search for at a time.
const scanPage = 1000
