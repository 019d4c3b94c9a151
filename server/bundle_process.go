package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// planAll plans every entry and, if any fails, returns ONE error holding
// the issues of every failing entry (QRPH-58: the creator sees all its
// problems in one round trip). A 4xx other than 422 wins over 422, since a
// structural problem is the more basic one.
func (s *Server) planAll(ctx context.Context, b *bcrpb.Bundle, collection bool) ([]*entryPlan, error) {
	entries := b.GetEntry()
	plans := make([]*entryPlan, len(entries))
	errs := make([]error, len(entries))
	var intents []pipeline.Intent
	var writes []int // entry index of each intent
	for i, e := range entries {
		var in *pipeline.Intent
		if plans[i], in, errs[i] = s.entryIntent(ctx, i, e, collection); in != nil {
			intents = append(intents, *in)
			writes = append(writes, i)
		}
	}
	planned, perrs := s.pipe.Plan(ctx, intents)
	for k, i := range writes {
		plans[i].write, errs[i] = planned[k], perrs[k]
	}
	var issues []oo.Issue
	status := 0
	for i, e := range entries {
		if errs[i] == nil {
			continue
		}
		typ := ""
		if r := unwrapEntry(e); r != nil {
			typ = pipeline.ResourceType(r)
		}
		ee := entryError(i, typ, errs[i])
		if ee.Status >= 500 {
			return nil, errs[i]
		}
		issues = append(issues, ee.Issues...)
		if status == 0 || status == http.StatusUnprocessableEntity {
			status = ee.Status
		}
	}
	if dups := pipeline.Duplicates(planned, func(k int) string { return fmt.Sprintf("Bundle.entry[%d]", writes[k]) }); len(dups) > 0 {
		issues = append(issues, dups...)
		if status == 0 {
			status = http.StatusUnprocessableEntity
		}
	}
	if status != 0 {
		return nil, oo.New(status, issues...)
	}
	return plans, nil
}

// transaction stores every write entry atomically or none (FHIR R4
// http.html#transaction), then answers the reads.
func (s *Server) transaction(ctx context.Context, b *bcrpb.Bundle) (*answer, error) {
	return s.allOrNothing(ctx, b, false, "transaction-response")
}

// collection is the mADX way to send many reports: every entry is
// validated first; if any is invalid nothing is stored and ONE 422 names
// every problem; otherwise all are stored atomically.
func (s *Server) collection(ctx context.Context, b *bcrpb.Bundle) (*answer, error) {
	return s.allOrNothing(ctx, b, true, "batch-response")
}

// allOrNothing plans and writes a transaction or collection. When a
// concurrent Bundle or request took a report key between the plan and the
// write (the store's unique index refuses the loser), the Bundle is planned
// once more: the held key then makes that create an update of the winner,
// as for a resent report (docs/validation.md), instead of a 409.
func (s *Server) allOrNothing(ctx context.Context, b *bcrpb.Bundle, collection bool, answerType string) (*answer, error) {
	for attempt := 0; ; attempt++ {
		plans, err := s.planAll(ctx, b, collection)
		if err != nil {
			return nil, err
		}
		out := s.newBundle(answerType)
		out.Entry = make([]outEntry, len(plans))
		err = s.writePlans(ctx, plans, out)
		if err != nil && attempt == 0 && errors.Is(err, store.ErrDuplicateKey) && hasCreate(plans) {
			for _, p := range plans {
				if p.write != nil {
					p.write.Undo()
				}
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, p := range plans {
			if p.method == http.MethodGet {
				out.Entry[p.index] = s.readEntry(ctx, p)
			}
		}
		return s.bundleAnswer(out)
	}
}

func hasCreate(plans []*entryPlan) bool {
	for _, p := range plans {
		if p.write != nil && p.write.Intent.Op == pipeline.Create {
			return true
		}
	}
	return false
}

// writePlans writes the write entries of plans in one store transaction and
// fills their response entries.
func (s *Server) writePlans(ctx context.Context, plans []*entryPlan, out *outBundle) error {
	var changes []*pipeline.Planned
	var writes []*entryPlan
	for _, p := range plans {
		if p.write != nil {
			changes = append(changes, p.write)
			writes = append(writes, p)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	results, at, err := s.pipe.Commit(ctx, changes)
	if at >= 0 {
		return bundleWriteError(entryError(writes[at].index, "", err))
	}
	if err != nil {
		return bundleWriteError(err)
	}
	for k, p := range writes {
		out.Entry[p.index] = s.writtenEntry(p, results[k])
	}
	return nil
}

// bundleWriteError explains why an all-or-nothing write failed.
func bundleWriteError(err error) error {
	e := storeError(err)
	if e.Status < 500 {
		for i := range e.Issues {
			e.Issues[i].Diagnostics += " Nothing in the Bundle was stored."
		}
	}
	return e
}

// batch processes every entry on its own (FHIR R4 http.html#batch): one
// entry's failure is reported in its response.outcome and does not stop
// the others. Entries are planned one at a time, so that each sees what
// the ones before it wrote (a report key, a new version).
func (s *Server) batch(ctx context.Context, b *bcrpb.Bundle) (*answer, error) {
	out := s.newBundle("batch-response")
	out.Entry = make([]outEntry, len(b.GetEntry()))
	for i, e := range b.GetEntry() {
		p, in, err := s.entryIntent(ctx, i, e, false)
		if err == nil && in == nil {
			out.Entry[i] = s.readEntry(ctx, p)
			continue
		}
		var r store.Result
		if err == nil {
			p.write, r, err = s.pipe.Apply(ctx, *in)
		}
		if err != nil {
			auditEntryFailed(ctx, err)
			out.Entry[i] = s.errorEntry(err)
			continue
		}
		out.Entry[i] = s.writtenEntry(p, r)
	}
	return s.bundleAnswer(out)
}

func (s *Server) writtenEntry(p *entryPlan, r store.Result) outEntry {
	status := http.StatusOK
	switch {
	case p.method == http.MethodDelete:
		status = http.StatusNoContent
	case r.Created:
		status = http.StatusCreated
	}
	e := outEntry{Response: &entryResponse{Status: statusLine(status),
		Etag: fmt.Sprintf(`W/"%d"`, r.Resource.VersionID), LastModified: r.Resource.LastUpdated.UTC().Format(instantLayout)}}
	if p.method != http.MethodDelete {
		e.FullURL = s.fullURL(r.Resource)
		e.Response.Location = s.versionURL(r.Resource)
		issues := p.write.Warnings()
		if correction, ok := correctionIssue(p.write, r); ok {
			issues = append([]oo.Issue{correction}, issues...)
		}
		if len(issues) > 0 {
			e.Response.Outcome, _ = s.opts.JSON.Encode(oo.Resource(issues), false)
		}
	}
	return e
}

func (s *Server) readEntry(ctx context.Context, p *entryPlan) outEntry {
	r, err := s.opts.Store.Read(ctx, p.typ, p.id)
	if err != nil {
		return s.errorEntry(readError(p.typ, p.id, r, err))
	}
	if err := s.pipe.AuthorizeStored(ctx, r); err != nil {
		return s.errorEntry(err)
	}
	return outEntry{FullURL: s.fullURL(r), Resource: r.Body, Response: &entryResponse{Status: statusLine(http.StatusOK),
		Etag: fmt.Sprintf(`W/"%d"`, r.VersionID), LastModified: r.LastUpdated.UTC().Format(instantLayout)}}
}

// errorEntry is a batch-response entry for a failed entry: its status and
// its OperationOutcome in response.outcome.
func (s *Server) errorEntry(err error) outEntry {
	e := storeError(err)
	if e.Status >= 500 {
		s.log.Error().Err(err).Msg("batch entry failed")
		e = oo.New(e.Status, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Exception, Diagnostics: "The server failed to process this entry; the cause is logged."})
	}
	body, _ := s.opts.JSON.Encode(oo.Resource(e.Issues), false)
	return outEntry{Response: &entryResponse{Status: statusLine(e.Status), Outcome: body}}
}
