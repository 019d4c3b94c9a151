package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// auditType is the store type of audit records: FHIR AuditEvents.
const auditType = "AuditEvent"

// auditRecord collects what one write attempt did, from the guard (who,
// outcome) and from prepare (what: every resource it was asked to write,
// including the ones it rejected).
type auditRecord struct {
	mu            sync.Mutex
	recorded      time.Time
	interaction   conformance.Interaction
	method, path  string
	typ, id       string // from the URL, when it names them
	requestID     string
	clientID      string // the client's own X-Request-Id, if any
	address       string
	job           string // the asynchronous job this replays, if any
	principal     auth.Principal
	authenticated bool
	entities      []*pipeline.Prepared
	entryFailures int // batch entries that failed inside a 200
	entryIssues   int
	bundleType    string
	bundleEntries int

	srv       *Server
	pendingID string // the id InCommit gave the record
	storedID  string // set once the record is stored with the write it records
}

type auditKey struct{}

func withAudit(ctx context.Context, rec *auditRecord) context.Context {
	return pipeline.WithRecorder(context.WithValue(ctx, auditKey{}, rec), rec)
}

func (s *Server) newAuditRecord(c *gin.Context, typ string, in conformance.Interaction) *auditRecord {
	id := c.Param("id")
	if typ == "" && c.FullPath() == "" {
		// No route matched (unrouted): the URL still says what the
		// attempt was about, [base]/Type/id.
		rel, _ := strings.CutPrefix(c.Request.URL.Path, s.opts.BasePath+"/")
		if parts := strings.SplitN(rel, "/", 3); isTypeName(parts[0]) {
			typ = parts[0]
			if len(parts) > 1 {
				id = parts[1]
			}
		}
	}
	rec := &auditRecord{srv: s, recorded: s.opts.Now().UTC(), interaction: in, method: c.Request.Method, path: c.Request.URL.Path,
		typ: typ, id: id, requestID: c.GetString(ctxRequestID), clientID: c.GetString(ctxClientRequestID), address: c.GetString(ctxClientAddr)}
	if job, ok := jobOf(c.Request.Context()); ok {
		rec.job, rec.address = job, ""
	}
	return rec
}

func (rec *auditRecord) setPrincipal(p auth.Principal, ok bool) {
	rec.principal, rec.authenticated = p, ok
}

// Carried notes a resource the write attempt carries (pipeline.Recorder).
func (rec *auditRecord) Carried(p *pipeline.Prepared) {
	rec.mu.Lock()
	rec.entities = append(rec.entities, p)
	rec.mu.Unlock()
}

// InCommit returns the AuditEvent of a single create, update or delete, to
// be written in the same commit as the write (pipeline.Committer). Its
// status is the one the answer will carry: 201 when the write created the
// resource, 200 otherwise, 204 for a delete. A write that fails leaves the
// record to the guard, which stores it with the failure.
func (rec *auditRecord) InCommit(plans []*pipeline.Planned) (store.Change, bool) {
	switch rec.interaction {
	case conformance.Update, conformance.Create, conformance.Delete:
	default:
		return store.Change{}, false // a Bundle: recorded when it ends
	}
	rec.mu.Lock()
	done := rec.storedID != ""
	rec.mu.Unlock()
	if len(plans) != 1 || done {
		return store.Change{}, false
	}
	s := rec.srv
	id := s.opts.NewID()
	issues := rec.warnings()
	status := func(prior []store.Result) int {
		switch {
		case rec.interaction == conformance.Delete:
			return http.StatusNoContent
		case len(prior) > 0 && prior[0].Created:
			return http.StatusCreated
		}
		return http.StatusOK
	}
	rec.mu.Lock()
	rec.pendingID = id
	rec.mu.Unlock()
	// The index does not depend on 200 or 201 (outcome 0 either way).
	return store.Change{Type: auditType, ID: id, CreateOnly: true, Index: s.auditEvent(rec, status(nil), issues).index(),
		RenderAfter: func(prior []store.Result, vid int64, at time.Time) ([]byte, error) {
			return s.auditEvent(rec, status(prior), issues).render(id, vid, at)
		}}, true
}

// Committed notes that the record InCommit returned is stored.
func (rec *auditRecord) Committed() {
	rec.mu.Lock()
	rec.storedID = rec.pendingID
	rec.mu.Unlock()
}

// warnings counts the issues of a successful attempt.
func (rec *auditRecord) warnings() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	issues := rec.entryIssues
	for _, p := range rec.entities {
		issues += len(p.Warnings)
	}
	return issues
}

// auditBundle notes the type and size of a submitted Bundle.
func auditBundle(ctx context.Context, typ string, entries int) {
	if rec, ok := ctx.Value(auditKey{}).(*auditRecord); ok {
		rec.mu.Lock()
		rec.bundleType, rec.bundleEntries = typ, entries
		rec.mu.Unlock()
	}
}

// auditEntryFailed counts a batch entry that failed while the Bundle as a
// whole succeeded.
func auditEntryFailed(ctx context.Context, err error) {
	if rec, ok := ctx.Value(auditKey{}).(*auditRecord); ok {
		rec.mu.Lock()
		rec.entryFailures++
		rec.entryIssues += len(storeError(err).Issues)
		rec.mu.Unlock()
	}
}

// audit records the attempt as an AuditEvent in the store and as a log
// line. It runs whatever the outcome, on a context that outlives the
// request (a client hanging up must not erase its trace); when the store
// itself is down the log line is the record.
func (s *Server) audit(ctx context.Context, rec *auditRecord, a *answer, err error) {
	status, issues := 0, 0
	if err != nil {
		e := storeError(err)
		status, issues = e.Status, len(e.Issues)
	} else {
		status, issues = a.status, rec.warnings()
	}
	ev := s.auditEvent(rec, status, issues)
	rec.mu.Lock()
	id := rec.storedID
	rec.mu.Unlock()
	var werr error
	if id == "" || err != nil {
		// Not stored with the write (a failure, a Bundle): stored now.
		id = s.opts.NewID()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, werr = s.opts.Store.Write(ctx, []store.Change{{Type: auditType, ID: id, CreateOnly: true, Index: ev.index(),
			Render: func(vid int64, at time.Time) ([]byte, error) { return ev.render(id, vid, at) }}})
	}
	line := s.log.Info()
	if werr != nil {
		line = s.log.Error().AnErr("audit_store_error", werr)
	}
	line.Str("audit_event", id).Str("request_id", rec.requestID).Str("client_request_id", rec.clientID).Str("who", rec.who()).Str("address", rec.address).
		Str("job", rec.job).Str("action", ev.Subtype[0].Code).Int("status", status).Int("issues", issues).
		Strs("entities", ev.entityTexts()).Msg("audit")
}

func (rec *auditRecord) who() string {
	if !rec.authenticated {
		return "unauthenticated"
	}
	return rec.principal.Name()
}

// outcomeCode is AuditEvent.outcome (FHIR R4 valueset-audit-event-outcome).
// A batch whose entries were refused is a minor failure although it
// answered 200: an auditor searching outcome=4 finds every refusal.
func outcomeCode(status, failedEntries int) string {
	switch {
	case status < 400 && failedEntries == 0:
		return "0" // success
	case status < 500, status == http.StatusNotImplemented:
		return "4" // minor failure: the request was refused (501: as not supported)
	}
	return "8" // serious failure: the server failed
}

// actionCode is AuditEvent.action for an interaction.
func actionCode(in conformance.Interaction, method string) string {
	switch in {
	case conformance.Create:
		return "C"
	case conformance.Update, conformance.Patch:
		return "U"
	case conformance.Delete:
		return "D"
	}
	if method == http.MethodGet {
		return "R"
	}
	return "E" // a Bundle: several actions at once
}
