package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	oo "github.com/madx-project/madx/operationoutcome"
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
	// Entries are independent until they are written: validate them on
	// every core, look up all their report keys in one query, encode them on
	// every core, then judge them in entry order.
	parallel(len(entries), func(i int) { plans[i], errs[i] = s.planEntry(ctx, i, entries[i], collection) })
	var planned []*entryPlan
	for i, p := range plans {
		if errs[i] == nil {
			planned = append(planned, p)
		}
	}
	holders, err := s.reportKeyHolders(ctx, planned)
	if err != nil {
		return nil, err
	}
	parallel(len(entries), func(i int) {
		if errs[i] == nil {
			errs[i] = s.finishEntry(plans[i], holders)
		}
	})
	var issues []oo.Issue
	status := 0
	keys := map[string]int{} // report business key -> entry
	for i, e := range entries {
		p, err := plans[i], errs[i]
		if err != nil {
			typ := ""
			if r := unwrapEntry(e); r != nil {
				typ = resourceType(r)
			}
			ee := entryError(i, typ, err)
			if ee.Status >= 500 {
				return nil, err
			}
			issues = append(issues, ee.Issues...)
			if status == 0 || status == http.StatusUnprocessableEntity {
				status = ee.Status
			}
			continue
		}
		plans[i] = p
		if key := p.reportKey(); key != "" {
			if j, dup := keys[key]; dup {
				issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.Duplicate, fmt.Sprintf("Bundle.entry[%d].resource", i),
					"Bundle.entry[%d]: this report has the same measure, subject and period as Bundle.entry[%d]; send each report once.", i, j))
				if status == 0 {
					status = http.StatusUnprocessableEntity
				}
			}
			keys[key] = i
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
	plans, err := s.planAll(ctx, b, false)
	if err != nil {
		return nil, err
	}
	out := s.newBundle("transaction-response")
	out.Entry = make([]outEntry, len(plans))
	if err := s.writePlans(ctx, plans, out); err != nil {
		return nil, err
	}
	for _, p := range plans {
		if p.method == http.MethodGet {
			out.Entry[p.index] = s.readEntry(ctx, p)
		}
	}
	return s.bundleAnswer(out)
}

// collection is the mADX way to send many reports: every entry is
// validated first; if any is invalid nothing is stored and ONE 422 names
// every problem; otherwise all are stored atomically.
func (s *Server) collection(ctx context.Context, b *bcrpb.Bundle) (*answer, error) {
	plans, err := s.planAll(ctx, b, true)
	if err != nil {
		return nil, err
	}
	out := s.newBundle("batch-response")
	out.Entry = make([]outEntry, len(plans))
	if err := s.writePlans(ctx, plans, out); err != nil {
		return nil, err
	}
	return s.bundleAnswer(out)
}

// writePlans writes the write entries of plans in one store transaction and
// fills their response entries.
func (s *Server) writePlans(ctx context.Context, plans []*entryPlan, out *outBundle) error {
	var changes []store.Change
	var writes []*entryPlan
	for _, p := range plans {
		if p.method != http.MethodGet {
			changes = append(changes, p.change)
			writes = append(writes, p)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	results, refused, err := s.commit(ctx, changes)
	if refused >= 0 {
		return bundleWriteError(entryError(writes[refused].index, "", err))
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
// the others.
func (s *Server) batch(ctx context.Context, b *bcrpb.Bundle) (*answer, error) {
	out := s.newBundle("batch-response")
	out.Entry = make([]outEntry, len(b.GetEntry()))
	for i, e := range b.GetEntry() {
		p, err := s.planOne(ctx, i, e)
		if err != nil {
			auditEntryFailed(ctx, err)
			out.Entry[i] = s.errorEntry(err)
			continue
		}
		if p.method == http.MethodGet {
			out.Entry[i] = s.readEntry(ctx, p)
			continue
		}
		r, err := s.writeOne(ctx, p.change)
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
		if len(p.p.warnings) > 0 {
			e.Response.Outcome, _ = s.opts.JSON.Encode(oo.Resource(p.p.warnings), false)
		}
	}
	return e
}

func (s *Server) readEntry(ctx context.Context, p *entryPlan) outEntry {
	r, err := s.opts.Store.Read(ctx, p.typ, p.id)
	if err != nil {
		return s.errorEntry(readError(p.typ, p.id, r, err))
	}
	if err := s.authorizeStored(ctx, r); err != nil {
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

// reportKey is the business key of a report entry, or "".
func (p *entryPlan) reportKey() string {
	if p.p == nil {
		return ""
	}
	return p.p.index.ReportKey
}

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
