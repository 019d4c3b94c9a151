package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// forwardType is the store type of the outbox: one record per destination
// and report (id "<destination>.<report id>"), holding the newest version
// to send and what the destination made of it. Like AsyncJob it is not a
// FHIR type and no route serves it as one. Its history is the log of the
// attempts and is kept (docs/forwarding.md).
const forwardType = "Forward"

// Forward states, in the index.
const (
	fwdPending = "pending" // waiting for its next attempt
	fwdSent    = "sent"    // the destination accepted it
	fwdDead    = "dead"    // given up: a refusal, or too many failed attempts
)

// forwardRecord is the outbox entry for one report at one destination.
// A newer version of the report replaces the pending entry (coalescing):
// the destination gets the newest version, once.
type forwardRecord struct {
	Destination string `json:"destination"`
	Report      string `json:"report"` // MeasureReport id
	Version     int64  `json:"version"`
	Deleted     bool   `json:"deleted,omitempty"`
	State       string `json:"state"`
	Attempts    int    `json:"attempts"`
	// NextAttempt is also Index.PeriodStart while pending, the order
	// workers take pending entries in.
	NextAttempt time.Time `json:"nextAttempt"`
	Enqueued    time.Time `json:"enqueued"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	Sent        time.Time `json:"sent,omitzero"`
	// Status is the destination's HTTP status for the last attempt (0: no
	// answer), Error what went wrong, Response what the destination
	// answered (its OperationOutcome or ImportSummary, JSON).
	Status   int             `json:"status,omitempty"`
	Error    string          `json:"error,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
}

func forwardID(dest, report string) string { return dest + "." + report }

// index is the record's Index. Only a pending entry has a PeriodStart (its
// next attempt): the workers walk the period index in that order, and
// sent and dead entries, which are most of the outbox, are not in it to
// be stepped over.
func (r *forwardRecord) index() store.Index {
	idx := store.Index{Status: r.State, Tokens: []string{"destination=" + r.Destination, "report=" + r.Report}}
	if r.State == fwdPending {
		idx.PeriodStart = r.NextAttempt
	}
	return idx
}

// forwarder owns the outbox: it enqueues forwards in the commit of the
// writes they forward (the pipeline's Outbox) and runs one worker per
// destination.
type forwarder struct {
	s     *Server
	cfg   Forwarding
	dests []*destination
	// pending approximates the number of pending entries, for the bound:
	// enqueues add to it, and it is recounted from the store periodically
	// and before any write is refused.
	pending   atomic.Int64
	recountMu sync.Mutex
	started   atomic.Bool
}

type destination struct {
	Destination
	wake   chan struct{}
	client *http.Client
}

// errOutboxFull is the cause of the refusal of a write while the outbox
// is full (fail adds Retry-After).
var errOutboxFull = errors.New("forward outbox full")

func newForwarder(s *Server, cfg Forwarding) (*forwarder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &forwarder{s: s, cfg: cfg}
	for _, d := range cfg.Destinations {
		f.dests = append(f.dests, &destination{Destination: d, wake: make(chan struct{}, 1),
			client: &http.Client{Timeout: cfg.Timeout}})
	}
	return f, nil
}

func (f *forwarder) destination(name string) *destination {
	for _, d := range f.dests {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Enqueue is the pipeline's Outbox: for each MeasureReport write that a
// destination's filter selects, the forward to store in the same commit.
func (f *forwarder) Enqueue(ctx context.Context, plans []*pipeline.Planned) ([]store.Change, error) {
	var out []store.Change
	var fac interface{ Under(string) []string }
	for i, pl := range plans {
		ch := pl.Change
		if ch.Type != "MeasureReport" {
			continue
		}
		idx := ch.Index
		if ch.Delete {
			cur := ch.Current
			if cur == nil {
				r, err := f.s.opts.Store.Read(ctx, ch.Type, ch.ID)
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted) {
					continue // nothing live is deleted: nothing to forward
				}
				if err != nil {
					return nil, err
				}
				cur = &r
			}
			idx = cur.Index
		}
		for _, d := range f.dests {
			if len(d.Locations) > 0 && fac == nil {
				reg, err := f.s.pipe.Facilities(ctx)
				if err != nil {
					return nil, err
				}
				fac = reg
			}
			if !d.selects(idx, fac) {
				continue
			}
			out = append(out, f.enqueue(d.Name, i, ch.ID, ch.Delete))
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := f.admit(ctx, len(out)); err != nil {
		return nil, err
	}
	f.pending.Add(int64(len(out)))
	return out, nil
}

// Committed wakes the workers: what was enqueued is stored.
func (f *forwarder) Committed() {
	for _, d := range f.dests {
		d.poke()
	}
}

// enqueue is the outbox change for plan i: its record names the version
// the plan's write gets, which it learns from the results before it.
func (f *forwarder) enqueue(dest string, i int, report string, deleted bool) store.Change {
	now := f.s.opts.Now().UTC()
	rec := forwardRecord{Destination: dest, Report: report, Deleted: deleted, State: fwdPending, NextAttempt: now}
	return store.Change{Type: forwardType, ID: forwardID(dest, report), Index: rec.index(),
		RenderAfter: func(prior []store.Result, _ int64, at time.Time) ([]byte, error) {
			r := rec
			r.Version, r.Enqueued = prior[i].Resource.VersionID, at.UTC()
			return json.Marshal(r)
		}}
}

// selects tells whether d forwards a report with this index.
func (d *destination) selects(idx store.Index, fac interface{ Under(string) []string }) bool {
	if len(d.Measures) > 0 {
		url, _, _ := strings.Cut(idx.Measure, "|")
		if !slices.Contains(d.Measures, url) {
			return false
		}
	}
	if len(d.Locations) == 0 {
		return true
	}
	for _, l := range d.Locations {
		if idx.Subject == l || slices.Contains(fac.Under(l), idx.Subject) {
			return true
		}
	}
	return false
}

func (d *destination) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// admit refuses n more forwards when the outbox holds MaxPending: the
// write is refused whole (503, Retry-After), so nothing is accepted that
// could not be forwarded.
func (f *forwarder) admit(ctx context.Context, n int) error {
	if f.pending.Load()+int64(n) <= int64(f.cfg.MaxPending) {
		return nil
	}
	if err := f.recount(ctx); err != nil {
		return err
	}
	if p := f.pending.Load(); p+int64(n) > int64(f.cfg.MaxPending) {
		return oo.Wrap(http.StatusServiceUnavailable, errOutboxFull, oo.Issuef(oo.SeverityFatal, oo.Transient, "",
			"The forward outbox is full: %d forwards to the upstream systems are pending, the most it holds is %d; nothing was stored. Retry after the time Retry-After gives.", p, f.cfg.MaxPending))
	}
	return nil
}

// recount sets pending from the store.
func (f *forwarder) recount(ctx context.Context) error {
	f.recountMu.Lock()
	defer f.recountMu.Unlock()
	n, err := f.count(ctx, fwdPending, "")
	if err != nil {
		return err
	}
	f.pending.Store(int64(n))
	return nil
}

// count is the number of entries in state (for one destination, or all).
func (f *forwarder) count(ctx context.Context, state, dest string) (int, error) {
	q := f.query(state, dest, "")
	q.Count, q.Total = 1, true
	p, err := f.s.opts.Store.Search(ctx, q)
	if err != nil {
		return 0, err
	}
	return p.Total, nil
}

// query selects outbox entries by state, destination and report ("":
// any), by next attempt.
func (f *forwarder) query(state, dest, report string) store.Query {
	q := store.Query{Type: forwardType, Sort: store.Sort{Field: store.FieldPeriodStart}}
	if state != "" {
		q.Where = append(q.Where, store.Clause{Any: []store.Cond{{Field: store.FieldStatus, Value: state}}})
	}
	if dest != "" {
		q.Where = append(q.Where, store.Clause{Any: []store.Cond{{Field: store.FieldToken, Value: "destination=" + dest}}})
	}
	if report != "" {
		q.Where = append(q.Where, store.Clause{Any: []store.Cond{{Field: store.FieldToken, Value: "report=" + report}}})
	}
	return q
}

// StartForwarding starts one worker per destination and the recount of
// the outbox; they stop when ctx ends. Without it, forwards are enqueued
// and stay pending. It does nothing when no destination is configured.
func (s *Server) StartForwarding(ctx context.Context) {
	f := s.forward
	if f == nil || !f.started.CompareAndSwap(false, true) {
		return
	}
	for _, d := range f.dests {
		go f.work(ctx, d)
	}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			if err := f.recount(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("count the forward outbox")
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// work sends d's due forwards, a batch at a time, until ctx ends.
func (f *forwarder) work(ctx context.Context, d *destination) {
	for ctx.Err() == nil {
		n, err := f.sendDue(ctx, d)
		if err != nil && ctx.Err() == nil {
			f.s.log.Warn().Err(err).Str("destination", d.Name).Msg("forward")
		}
		if n == f.cfg.Batch && err == nil {
			continue // more are due
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// item is one outbox entry being sent, with the report version it sends.
type item struct {
	entry  store.Resource
	rec    forwardRecord
	report store.Resource // the version to send; for a deletion, the one deleted
	// outcome of the attempt
	ok       bool
	refused  bool // the destination refused it: retrying cannot help
	status   int
	err      string
	response json.RawMessage
}

// sendDue sends one batch of d's due entries and records the outcomes; it
// returns how many it took.
func (f *forwarder) sendDue(ctx context.Context, d *destination) (int, error) {
	now := f.s.opts.Now().UTC()
	q := f.query(fwdPending, d.Name, "")
	for i := range q.Where {
		// Only pending entries are in the period index (index): walking it
		// by next attempt is the plan, not the entries of a state or of a
		// destination, which may be nearly all of them.
		q.Where[i].Broad = true
	}
	q.Where = append(q.Where, store.Clause{Any: []store.Cond{{Field: store.FieldPeriodStart, Op: store.OpLE, Time: now}}})
	q.Count = f.cfg.Batch
	page, err := f.s.opts.Store.Search(ctx, q)
	if err != nil || len(page.Resources) == 0 {
		return 0, err
	}
	items := make([]*item, 0, len(page.Resources))
	for _, e := range page.Resources {
		it := &item{entry: e}
		if err := json.Unmarshal(e.Body, &it.rec); err != nil {
			return 0, fmt.Errorf("decode forward %s: %w", e.ID, err)
		}
		v := it.rec.Version
		if it.rec.Deleted {
			v-- // what is deleted upstream is what was there before
		}
		r, err := f.s.opts.Store.ReadVersion(ctx, "MeasureReport", it.rec.Report, v)
		switch {
		case err == nil:
			it.report = r
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted):
			it.refused, it.err = true, fmt.Sprintf("MeasureReport/%s version %d is not stored (forgotten?)", it.rec.Report, v)
		default:
			return 0, err
		}
		items = append(items, it)
	}
	var todo []*item
	for _, it := range items {
		if !it.refused {
			todo = append(todo, it)
		}
	}
	if len(todo) > 0 {
		sctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		switch d.Kind {
		case KindFHIR:
			f.sendFHIR(sctx, d, todo)
		case KindADX:
			f.sendADX(sctx, d, todo)
		}
		cancel()
	}
	if ctx.Err() != nil {
		return 0, ctx.Err() // shutting down: the entries stay pending
	}
	return len(items), f.record(ctx, d, items)
}

// record writes the outcomes, and an AuditEvent for each forward that
// ends (sent or dead; a failed attempt that will be retried is in the
// entry, not audited, or a destination down for a day would write one
// per pending forward per attempt): one commit for the batch, or one per entry when an entry changed meanwhile (a newer version
// was enqueued: it stays pending, and goes next; the attempt at the older
// one is then not audited, as its entry no longer says it was made).
func (f *forwarder) record(ctx context.Context, d *destination, items []*item) error {
	now := f.s.opts.Now().UTC()
	changes := make([]store.Change, len(items))
	audits := make([][]store.Change, len(items))
	for i, it := range items {
		rec := it.rec
		rec.Attempts++
		rec.LastAttempt, rec.Status, rec.Error, rec.Response = now, it.status, it.err, capResponse(it.response)
		switch {
		case it.ok:
			rec.State, rec.Sent = fwdSent, now
		case it.refused || rec.Attempts >= d.MaxAttempts:
			rec.State = fwdDead
			f.s.log.Warn().Str("destination", d.Name).Str("report", rec.Report).Int64("version", rec.Version).
				Int("attempts", rec.Attempts).Int("status", it.status).Str("error", it.err).Msg("forward dead-letter")
		default:
			rec.NextAttempt = now.Add(f.backoff(rec.Attempts))
		}
		entry := it.entry
		changes[i] = store.Change{Type: forwardType, ID: entry.ID, IfMatch: entry.VersionID, Current: &entry, Index: rec.index(),
			Render: func(int64, time.Time) ([]byte, error) { return json.Marshal(rec) }}
		if rec.State != fwdPending {
			audits[i] = []store.Change{f.s.forwardAudit(d, it, rec, now)}
		}
	}
	// Each entry's new state and its AuditEvent are one commit.
	all := slices.Clone(changes)
	for _, a := range audits {
		all = append(all, a...)
	}
	if _, err := f.s.opts.Store.Write(ctx, all); err == nil || !errors.Is(err, store.ErrVersionConflict) {
		if err == nil {
			f.pending.Add(-int64(settled(changes)))
		}
		return err
	}
	for i, ch := range changes {
		if _, err := f.s.opts.Store.Write(ctx, append([]store.Change{ch}, audits[i]...)); err != nil && !errors.Is(err, store.ErrVersionConflict) {
			return err
		}
	}
	return f.recount(ctx)
}

// settled is the number of changes that leave the pending state.
func settled(changes []store.Change) int {
	n := 0
	for _, ch := range changes {
		if ch.Index.Status != fwdPending {
			n++
		}
	}
	return n
}

// backoff is the wait before attempt n+1: Backoff doubled n-1 times, up to
// MaxBackoff, ±25% so that the entries that failed together do not all
// come back together.
func (f *forwarder) backoff(n int) time.Duration {
	b := f.cfg.Backoff
	for i := 1; i < n && b < f.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, f.cfg.MaxBackoff)
	return b - b/4 + time.Duration(rand.Int64N(int64(b/2)+1))
}

// maxResponse caps the destination's answer kept with an entry.
const maxResponse = 16 << 10

func capResponse(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if len(b) > maxResponse || !json.Valid(b) {
		s := string(b)
		if len(s) > maxResponse {
			s = s[:maxResponse] + "…"
		}
		q, _ := json.Marshal(s)
		return q
	}
	return b
}

// retryable tells whether an HTTP status from a destination may succeed
// later: timeouts, throttling, server errors, and credentials (a token
// the operator may renew).
func retryable(status int) bool {
	switch {
	case status == 0, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests,
		status == http.StatusUnauthorized, status == http.StatusForbidden, status >= 500:
		return true
	}
	return false
}

// authorize sets d's credentials on req.
func (d *destination) authorize(req *http.Request) {
	switch {
	case d.Token != "":
		req.Header.Set("Authorization", "Bearer "+d.Token)
	case d.User != "":
		req.SetBasicAuth(d.User, d.Password)
	}
}
