// Package pipeline is the one place madx decides a client's write. Every
// way in (a single PUT, POST or DELETE, each batch, transaction and
// collection entry, an asynchronous job, madx load, $validate) turns what
// it received into Intents and hands them here; HTTP handlers only adapt
// requests and responses. The decisions are made in one order:
//
//  1. the type is served and writable by API callers (AuditEvent and
//     internal records never are);
//  2. the caller's scope allows the operation on the type;
//  3. the id, the body's type and id, If-Match and If-None-Exist;
//  4. validation against the Measure and the Registry, including the
//     caller's rights on the new body's subject (Plan);
//  5. the natural key (measure, subject, period) of a report;
//  6. the caller's rights on the stored version being replaced or
//     deleted, and If-Match against it, pinned so a concurrent change
//     between that read and the write fails instead of slipping through
//     (Check, called by Commit);
//  7. the atomic write, with no-op detection (Commit).
//
// The audit record is fed as decisions are made (see Recorder); the way in
// turns the outcome into an AuditEvent. The package knows nothing of gin or
// net/http types; statuses are the integers carried by
// operationoutcome.Error.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// Op is what an intent asks for.
type Op uint8

const (
	Create Op = iota + 1
	Update
	Delete
)

func (op Op) String() string {
	switch op {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Intent is one write as a way in received it, before anything is decided.
type Intent struct {
	Op       Op
	Type, ID string        // from the URL (Type/id); for a create ID is ignored
	Resource proto.Message // the decoded body of a create or update
	// IfMatch and IfNoneExist are the conditions as sent (If-Match header
	// or entry.request.ifMatch; If-None-Exist or entry.request.ifNoneExist).
	IfMatch, IfNoneExist string
	// Request is the FHIRPath of the Bundle entry's request element
	// ("Bundle.entry[3].request"), where problems with the URL and the
	// conditions are reported; empty for a request of its own and for a
	// collection entry, which has none.
	Request string
	// SkipUnchanged asks that a report identical to the stored one it
	// replaces make no new version (store.Result.Unchanged): the ADX way
	// in counts an identical resubmission as ignored, as DHIS2 does. The
	// report's content hash is then stored, so only reports written so can
	// be found identical.
	SkipUnchanged bool
}

// Options are what the pipeline needs from the server it runs in.
type Options struct {
	Store store.Store
	// Encode renders compact FHIR JSON (the stored form); Decode reads it.
	Encode func(proto.Message) ([]byte, error)
	Decode func([]byte) (proto.Message, error)
	// Served lists the types API callers may write.
	Served     []string
	Validation measures.Options
	// Secured is true when callers authenticate; anonymous mode skips the
	// facility-rights checks.
	Secured bool
	NewID   func() string
	// Now is the clock the reporting schedules' deadlines are read by;
	// time.Now when nil.
	Now func() time.Time
	// Outbox, when set, adds to every commit the records that must be
	// stored with it (the forwards to upstream systems, server/forward.go),
	// so that a crash can neither lose one nor leave one for a write that
	// was not stored.
	Outbox Outbox
}

// Outbox is what Commit stores beside the plans and tells once they are.
type Outbox interface {
	// Enqueue gives the changes to store after plans in the same Write.
	// They may RenderAfter the plans' results, which come first and in
	// order. An error refuses the whole commit (a full outbox).
	Enqueue(ctx context.Context, plans []*Planned) ([]store.Change, error)
	// Committed is called after a Write that held Enqueue's changes.
	Committed()
}

// Pipeline decides and commits writes. Create it with New.
type Pipeline struct {
	opts     Options
	defs     *definitions
	sent     sentinels
	together bool // the store commits several resources as one (see oneCommit)
}

// oneCommit is implemented by engines that can tell whether a Write of
// several resources is one atomic commit, costing about what one resource
// does: SQLite always; MongoDB only with server transactions (without, its
// txn-record protocol takes many round trips, so an audit record there is
// written after the write it records, as its own Write).
type oneCommit interface {
	OneCommit() bool
}

// New builds a Pipeline.
func New(opts Options) *Pipeline {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	oc, ok := opts.Store.(oneCommit)
	return &Pipeline{opts: opts, sent: newSentinels(opts.NewID), together: ok && oc.OneCommit(),
		defs: newDefinitions(opts.Store, opts.Decode, opts.Validation)}
}

// Planned is an intent that passed every decision short of the stored
// version's checks: the change to store, and what to answer.
type Planned struct {
	Intent   Intent
	ID       string    // the final id: assigned on create, or the report key's holder
	Prepared *Prepared // nil for a delete
	Change   store.Change
	// Corrects is the id of the stored report a create turned into an
	// update of, because it holds the created report's business key
	// (docs/validation.md); "" otherwise. The way in tells the sender so:
	// nothing was created.
	Corrects string
	ifMatch  int64 // as the client sent it (Change.IfMatch may be pinned)
}

// Undo takes back what planning changed in the intent's resource (the id
// a create was given), so that its way in can read the intent again and
// plan it once more.
func (pl *Planned) Undo() {
	if pl.Intent.Op == Create && pl.Intent.Resource != nil {
		clearID(pl.Intent.Resource)
	}
}

// Warnings are the issues that did not reject the resource.
func (pl *Planned) Warnings() []oo.Issue {
	if pl.Prepared == nil {
		return nil
	}
	return pl.Prepared.Warnings
}

// Written is the plain body (FHIR JSON) r stored for this plan, made from
// the encoding the plan wrote rather than by unpacking r's packed body; ok
// is false when r kept a version this plan did not render (unchanged).
func (pl *Planned) Written(r store.Result) (body []byte, ok bool) {
	if pl == nil || pl.Prepared == nil || pl.Prepared.plain == nil || r.Unchanged || r.Resource.Deleted {
		return nil, false
	}
	return pl.Prepared.plain(r.Resource.VersionID, r.Resource.LastUpdated), true
}

// ReportKey is the business key of a report, or "".
func (pl *Planned) ReportKey() string {
	if pl.Prepared == nil {
		return ""
	}
	return pl.Prepared.Index.ReportKey
}

// Plan decides intents, each on its own (steps 1 to 5). Intents are
// independent until they are written, so they are validated on every core
// and their report keys looked up in one query. errs[i] is intent i's
// refusal; plans[i] is nil then.
func (p *Pipeline) Plan(ctx context.Context, intents []Intent) (plans []*Planned, errs []error) {
	plans, errs = make([]*Planned, len(intents)), make([]error, len(intents))
	parallel(len(intents), func(i int) { plans[i], errs[i] = p.decide(ctx, intents[i]) })
	var keys []string
	for i, pl := range plans {
		if errs[i] == nil {
			if k := pl.ReportKey(); k != "" {
				keys = append(keys, k)
			}
		}
	}
	var holders map[string]string
	if len(keys) > 0 {
		var err error
		if holders, err = p.opts.Store.ReportKeyHolders(ctx, keys); err != nil {
			for i := range errs {
				if errs[i] == nil {
					plans[i], errs[i] = nil, err
				}
			}
			return plans, errs
		}
	}
	parallel(len(intents), func(i int) {
		if errs[i] == nil {
			if errs[i] = p.finish(plans[i], holders); errs[i] != nil {
				plans[i] = nil
			}
		}
	})
	return plans, errs
}

// Admit runs steps 1 and 2 alone: the type is served and writable, and
// the caller's scopes allow the operation. An asynchronous submission is
// admitted so before its 202: a token without the scopes cannot queue work
// it may not do.
func (p *Pipeline) Admit(ctx context.Context, in Intent) error {
	if !p.served(in.Type) {
		if in.Request != "" {
			return oo.Errorf(http.StatusNotFound, oo.NotSupported, in.Request+".url",
				"Resource type %q is not supported by this server; it serves %s.", in.Type, strings.Join(p.opts.Served, ", "))
		}
		return oo.Errorf(http.StatusUnprocessableEntity, oo.NotSupported, in.Type,
			"The resource is a %s, which this server does not store; it stores %s.", in.Type, strings.Join(p.opts.Served, ", "))
	}
	return authorizeScope(ctx, in.Type, in.Op)
}

// decide runs steps 1 to 4 on one intent.
func (p *Pipeline) decide(ctx context.Context, in Intent) (*Planned, error) {
	if err := p.Admit(ctx, in); err != nil {
		return nil, err
	}
	if err := refuseConditionalCreate(in.IfNoneExist, at(in.Request, "ifNoneExist")); err != nil {
		return nil, err
	}
	ifMatch, err := ParseVersionTag(in.IfMatch)
	if err != nil {
		name := "If-Match"
		if in.Request != "" {
			name = in.Request + ".ifMatch"
		}
		return nil, oo.Errorf(http.StatusBadRequest, oo.Value, at(in.Request, "ifMatch"),
			`%s %q is not a version tag; expected W/"<versionId>" as sent in ETag.`, name, in.IfMatch)
	}
	pl := &Planned{Intent: in, ID: in.ID, ifMatch: ifMatch}
	if in.Op != Create {
		if in.ID == "" {
			return nil, oo.Errorf(http.StatusBadRequest, oo.Required, at(in.Request, "url"),
				"%s needs Type/id in the URL: it names no id of %s.", strings.ToUpper(in.Op.String()), in.Type)
		}
		if err := CheckID(in.ID); err != nil {
			return nil, err
		}
	}
	if in.Op == Delete {
		pl.Change = store.Change{Type: in.Type, ID: in.ID, Delete: true}
		return pl, nil
	}
	res := in.Resource
	if res == nil {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Required, in.Type, "A %s of %s must carry the resource.", in.Op, in.Type)
	}
	if got := ResourceType(res); got != in.Type {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, in.Type,
			"The body is a %s but the URL names %s; send a %s to this URL.", got, in.Type, in.Type)
	}
	if in.Op == Update {
		switch bid := ResourceID(res); {
		case bid == "":
			return nil, oo.Errorf(http.StatusBadRequest, oo.Required, in.Type+".id",
				"%s.id is missing; an update must carry the id of the URL (%q) in the body.", in.Type, in.ID)
		case bid != in.ID:
			return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, in.Type+".id",
				"%s.id is %q but the URL names %q; they must be equal (FHIR R4 http.html#update).", in.Type, bid, in.ID)
		}
	} else {
		// FHIR R4 http.html#create: the server assigns the id and ignores
		// one sent in the body.
		pl.ID = p.opts.NewID()
		setID(res, pl.ID)
	}
	if pl.Prepared, err = p.prepare(ctx, res); err != nil {
		return nil, err
	}
	return pl, nil
}

// finish applies the natural key (step 5) given the holders of the keys,
// and renders the change to store.
func (p *Pipeline) finish(pl *Planned, holders map[string]string) error {
	if pl.Prepared == nil {
		pl.Change.IfMatch = pl.ifMatch
		return nil
	}
	existing, err := applyReportKey(pl.Prepared, holders, pl.Intent.Op == Create)
	if err != nil {
		return err
	}
	pl.ID = pl.Prepared.ID
	if existing {
		pl.Corrects = pl.ID
	}
	// The hash of a SkipUnchanged report is taken from its one encoding,
	// after the report key: it covers the id the report takes.
	if pl.Change, err = p.change(pl.Prepared, pl.Intent.SkipUnchanged && pl.Prepared.Index.ContentHash == ""); err != nil {
		return err
	}
	pl.Change.IfMatch = pl.ifMatch
	pl.Change.CreateOnly = pl.Intent.Op == Create && !existing
	// Like HAPI, an update that changes nothing makes no new version
	// (only resources with a ContentHash can be compared: see prepare).
	pl.Change.SkipUnchanged = pl.Intent.Op == Update || pl.Intent.SkipUnchanged
	return nil
}

// Duplicates lists plans that carry the same report, or write the same
// resource, as an earlier one, for the all-or-nothing modes: a Bundle must
// send each report once, and FHIR R4 (http.html#trules) lets a resource
// appear once in a transaction.
func Duplicates(plans []*Planned, where func(i int) string) []oo.Issue {
	var issues []oo.Issue
	keys, refs := map[string]int{}, map[string]int{}
	for i, pl := range plans {
		if pl == nil {
			continue
		}
		if ref := pl.Intent.Type + "/" + pl.ID; pl.Intent.Op != Create {
			if j, dup := refs[ref]; dup {
				issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Duplicate, where(i),
					"%s: %s is written by %s too; a Bundle may change each resource once.", where(i), ref, where(j)))
			}
			refs[ref] = i
		}
		if key := pl.ReportKey(); key != "" {
			if j, dup := keys[key]; dup {
				issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Duplicate, where(i)+".resource",
					"%s: this report has the same measure, subject and period as %s; send each report once.", where(i), where(j)))
			}
			keys[key] = i
		}
	}
	return issues
}

// Check runs step 6 on plans without writing: the caller's rights on the
// stored versions being replaced or deleted, and If-Match against them. It
// pins each change it read to the version it read, so that the store
// refuses the write if that version is no longer current. It returns the
// index of the refused plan.
func (p *Pipeline) Check(ctx context.Context, plans []*Planned) (int, error) {
	limited := p.facilityLimited(ctx)
	var sn *snapshot
	for i, pl := range plans {
		ch := &pl.Change
		rights := limited && ch.Type == "MeasureReport"
		if !rights && pl.ifMatch == 0 {
			continue
		}
		cur, err := p.opts.Store.Read(ctx, ch.Type, ch.ID)
		gone := errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted)
		if err != nil && !gone {
			return i, err
		}
		// Rights first: a stale If-Match must not tell a caller who may not
		// touch the report that it exists, nor its version.
		if rights && !gone {
			if sn == nil {
				if sn, err = p.snapshotOf(ctx); err != nil {
					return i, err
				}
			}
			if err := p.authorizeReplaced(ctx, sn, pl, cur); err != nil {
				return i, err
			}
		}
		if pl.ifMatch != 0 && (gone || cur.VersionID != pl.ifMatch) {
			return i, pl.conflict(store.ErrVersionConflict)
		}
		switch {
		case !rights:
		case !gone:
			ch.IfMatch = cur.VersionID // pinned: see conflict
			ch.Current = &cur
		case !ch.Delete && errors.Is(err, store.ErrNotFound):
			// Nothing live is replaced; should a report appear under this
			// id before the write, it must not be overwritten unchecked.
			ch.CreateOnly = true
		}
	}
	return -1, nil
}

// Commit checks (step 6) and writes the plans atomically (step 7). On a
// refusal or a conflict it returns the index of the plan at fault, when it
// is known, else -1.
func (p *Pipeline) Commit(ctx context.Context, plans []*Planned) ([]store.Result, int, error) {
	if i, err := p.Check(ctx, plans); err != nil {
		return nil, i, err
	}
	changes := make([]store.Change, len(plans), len(plans)+1)
	for i, pl := range plans {
		changes[i] = pl.Change
	}
	queued := 0
	if p.opts.Outbox != nil {
		more, err := p.opts.Outbox.Enqueue(ctx, plans)
		if err != nil {
			return nil, -1, err
		}
		changes, queued = append(changes, more...), len(more)
	}
	rc, _ := ctx.Value(recorderKey{}).(Committer)
	if rc != nil && !p.together {
		rc = nil
	}
	if rc != nil {
		ch, ok := rc.InCommit(plans)
		if ok {
			changes = append(changes, ch)
		} else {
			rc = nil
		}
	}
	rs, err := p.opts.Store.Write(ctx, changes)
	if err != nil && len(plans) == 1 {
		return nil, 0, plans[0].conflict(err)
	}
	if err != nil {
		return nil, -1, err
	}
	if rc != nil {
		rc.Committed()
	}
	if queued > 0 {
		p.opts.Outbox.Committed()
	}
	return rs[:len(plans)], -1, nil
}

// Apply plans and commits one intent: a request of its own, or one batch
// entry. A create that loses the race for its report key to a concurrent
// one is planned again, once, and becomes an update of the winner.
func (p *Pipeline) Apply(ctx context.Context, in Intent) (*Planned, store.Result, error) {
	ctx = oneSnapshot(ctx)
	for attempt := 0; ; attempt++ {
		plans, errs := p.Plan(ctx, []Intent{in})
		if errs[0] != nil {
			return nil, store.Result{}, errs[0]
		}
		rs, _, err := p.Commit(ctx, plans)
		if err != nil && attempt == 0 && in.Op == Create && errors.Is(err, store.ErrDuplicateKey) && plans[0].ReportKey() != "" {
			continue
		}
		if err != nil {
			return plans[0], store.Result{}, err
		}
		return plans[0], rs[0], nil
	}
}

// Validate runs every decision of Apply short of the write: the same
// issues, nothing stored ($validate, madx validate).
func (p *Pipeline) Validate(ctx context.Context, in Intent) (*Planned, error) {
	ctx = oneSnapshot(ctx)
	plans, errs := p.Plan(ctx, []Intent{in})
	if errs[0] != nil {
		return nil, errs[0]
	}
	if _, err := p.Check(ctx, plans); err != nil {
		return nil, err
	}
	return plans[0], nil
}

// DryRun answers what Commit would, without writing: Check (step 6) on
// every plan, then each plan's Result as the store would give it. A change
// that may keep the stored version (SkipUnchanged, with a content hash) is
// compared with the stored one, so an identical resubmission is Unchanged
// in a dry run as in a real one. It returns the index of a refused plan.
func (p *Pipeline) DryRun(ctx context.Context, plans []*Planned) ([]store.Result, int, error) {
	if i, err := p.Check(ctx, plans); err != nil {
		return nil, i, err
	}
	rs := make([]store.Result, len(plans))
	for i, pl := range plans {
		ch := pl.Change
		if ch.Delete {
			rs[i].Resource.Deleted = true
			continue
		}
		if ch.CreateOnly {
			rs[i].Created = true
			continue
		}
		cur, err := p.opts.Store.Read(ctx, ch.Type, ch.ID)
		switch {
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted):
			rs[i].Created = true
		case err != nil:
			return nil, i, err
		default:
			rs[i].Unchanged = ch.SkipUnchanged && ch.Index.ContentHash != "" && cur.Index.ContentHash == ch.Index.ContentHash
		}
	}
	return rs, -1, nil
}

// conflict explains a store failure of the plan's change.
func (pl *Planned) conflict(err error) error {
	ch := pl.Change
	ref := ch.Type + "/" + ch.ID
	switch {
	case errors.Is(err, store.ErrVersionConflict) && pl.ifMatch != 0:
		return oo.Wrap(http.StatusPreconditionFailed, err, oo.Issuef(oo.SeverityFatal, oo.Conflict, "",
			"If-Match names version %d of %s, which is not its current version; read it again and retry.", pl.ifMatch, ref))
	case errors.Is(err, store.ErrVersionConflict):
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Conflict, "",
			"%s was changed by a concurrent request; retry.", ref))
	case errors.Is(err, store.ErrDuplicateKey) && ch.CreateOnly && pl.Intent.Op != Create:
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Conflict, "",
			"%s was created by a concurrent request; retry.", ref))
	case errors.Is(err, store.ErrDuplicateKey) && ch.CreateOnly:
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Duplicate, "", "%s already exists.", ref))
	case errors.Is(err, store.ErrDuplicateKey):
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Duplicate, "",
			"%s conflicts with another stored report for the same measure, subject and period.", ref))
	case errors.Is(err, store.ErrNotFound) && ch.Delete:
		return oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "", "%s does not exist; nothing was deleted.", ref))
	}
	return err
}

func (p *Pipeline) served(typ string) bool {
	for _, t := range p.opts.Served {
		if t == typ {
			return true
		}
	}
	return false
}

// at is the FHIRPath of a request element, or "" for a request of its own
// (whose problems are about the HTTP request, not a resource).
func at(request, elem string) string {
	if request == "" {
		return ""
	}
	return request + "." + elem
}

func authorizeScope(ctx context.Context, typ string, op Op) error {
	perm := auth.Update
	switch op {
	case Create:
		perm = auth.Create
	case Delete:
		perm = auth.Delete
	}
	if p, ok := auth.FromContext(ctx); ok && p.Allows(typ, perm) {
		return nil
	}
	return ForbiddenScope(typ, perm)
}

// ForbiddenScope is the 403 for a caller whose scopes do not grant perm on
// typ.
func ForbiddenScope(typ string, perm auth.Perm) error {
	v1, v2 := ScopeNames(typ, perm)
	return oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
		"The client is not allowed to %s %s: that needs the scope %s (or %s).", permVerb(perm), typ, v1, v2)
}

// ScopeNames are the SMART v1 and v2 scopes that grant perm on typ.
func ScopeNames(typ string, perm auth.Perm) (v1, v2 string) {
	rw := "write"
	if perm == auth.Read || perm == auth.Search {
		rw = "read"
	}
	return fmt.Sprintf("system/%s.%s", typ, rw), fmt.Sprintf("system/%s.%c", typ, perm)
}

func permVerb(p auth.Perm) string {
	return map[auth.Perm]string{auth.Create: "create", auth.Read: "read", auth.Update: "update", auth.Delete: "delete", auth.Search: "search"}[p]
}
