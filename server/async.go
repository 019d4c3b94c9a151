package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"github.com/madx-project/madx/internal/inprocess"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// asyncType is the store type async submissions are kept under. It is not
// a FHIR type and no route serves it as one; keeping jobs in the store
// makes them as durable as the reports themselves, on either engine.
const asyncType = "AsyncJob"

// asyncJob is a submission accepted with Prefer: respond-async (the IHE
// table's 202/303): the request as received, then its answer.
type asyncJob struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Header      map[string]string `json:"header"`
	Body        []byte            `json:"body"`
	Accepted    time.Time         `json:"accepted"`
	Done        bool              `json:"done"`
	Finished    time.Time         `json:"finished,omitempty"`
	Status      int               `json:"status,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Result      []byte            `json:"result,omitempty"`
	// Principal is the submitter, so the job runs with the rights it had
	// when accepted (the token itself is never stored).
	Principal *auth.Principal `json:"principal,omitempty"`
}

// asyncHeaders are the request headers a job keeps: what changes how the
// request is processed. Accept is left out on purpose: the result is kept
// as JSON and converted when it is fetched, in the format the poller asks.
var asyncHeaders = []string{"Content-Type", "If-Match", "Prefer", "X-Request-Id"}

// asyncAccept stores the request as a job and answers 202 with the status
// URL. The job is durable before the 202 is sent: a restart resumes it.
func (s *Server) asyncAccept(c *gin.Context) (*answer, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	if err := s.checkBundleScopes(c, body); err != nil {
		return nil, err
	}
	job := asyncJob{Method: c.Request.Method, Path: c.Request.URL.Path, Header: map[string]string{}, Body: body, Accepted: s.opts.Now().UTC()}
	for _, h := range asyncHeaders {
		if v := c.GetHeader(h); v != "" {
			job.Header[h] = v
		}
	}
	job.Header["Prefer"] = dropRespondAsync(job.Header["Prefer"])
	job.Principal = submitter(c.Request.Context())
	id := s.opts.NewID()
	if err := s.saveJob(c.Request.Context(), id, job, jobPending, true, 0); err != nil {
		return nil, err
	}
	s.async.enqueue(id)
	h := http.Header{}
	h.Set("Content-Location", s.opts.BaseURL+"/_async/"+id)
	body, _ = s.opts.JSON.Encode(oo.Resource([]oo.Issue{oo.Issuef(oo.SeverityInformation, oo.Informational, "",
		"Submission accepted for asynchronous processing; poll %s/_async/%s for its outcome.", s.opts.BaseURL, id)}), false)
	return &answer{status: http.StatusAccepted, header: h, body: body}, nil
}

// checkBundleScopes refuses, before the 202, an asynchronous Bundle an
// entry of which the caller's scopes do not allow, as the synchronous
// Bundle would be refused (a single PUT's scope is checked by its route).
// The Bundle is decoded for it, and again when the job runs.
func (s *Server) checkBundleScopes(c *gin.Context, body []byte) error {
	if c.Request.Method != http.MethodPost {
		return nil
	}
	f, err := requestFormat(c.GetHeader("Content-Type"), body)
	if err != nil {
		return err
	}
	res, err := s.decode(f, body)
	if err != nil {
		return err
	}
	b, ok := res.(*bcrpb.Bundle)
	if !ok {
		return nil // refused as the synchronous request is, when the job runs
	}
	collection := b.GetType().GetValue() == cpb.BundleTypeCode_COLLECTION
	for i, e := range b.GetEntry() {
		_, in, err := s.entryIntent(c.Request.Context(), i, e, collection)
		if err == nil && in != nil {
			err = s.pipe.Admit(c.Request.Context(), *in)
		}
		if err != nil {
			return entryError(i, "", err)
		}
	}
	return nil
}

func dropRespondAsync(prefer string) string {
	var keep []string
	for _, p := range strings.Split(prefer, ",") {
		var parts []string
		for _, q := range strings.Split(p, ";") {
			if q = strings.TrimSpace(q); q != "" && !strings.EqualFold(q, "respond-async") {
				parts = append(parts, q)
			}
		}
		if len(parts) > 0 {
			keep = append(keep, strings.Join(parts, "; "))
		}
	}
	return strings.Join(keep, ", ")
}

// Job states, in the index: accepted and waiting, claimed by a worker,
// answered.
const (
	jobPending = "pending"
	jobRunning = "running"
	jobDone    = "done"
)

// staleClaim is how long a running job may go without an answer before the
// sweep hands it to another worker (its first worker died with it).
const staleClaim = 10 * time.Minute

// saveJob writes a job in state; ifMatch, when non-zero, is the version
// that must still be current (a claim).
func (s *Server) saveJob(ctx context.Context, id string, job asyncJob, state string, create bool, ifMatch int64) error {
	_, err := s.writeJob(ctx, id, job, state, create, ifMatch)
	return err
}

// writeJob is saveJob, returning the version written.
func (s *Server) writeJob(ctx context.Context, id string, job asyncJob, state string, create bool, ifMatch int64) (int64, error) {
	res, err := s.opts.Store.Write(ctx, []store.Change{{Type: asyncType, ID: id, CreateOnly: create, IfMatch: ifMatch,
		Index:  store.Index{Status: state, Tokens: ownerTokens(job.Principal)},
		Render: func(int64, time.Time) ([]byte, error) { return json.Marshal(job) }}})
	if err != nil {
		return 0, fmt.Errorf("save async job %s: %w", id, err)
	}
	return res[0].Resource.VersionID, nil
}

func (s *Server) loadJob(ctx context.Context, id string) (asyncJob, store.Resource, error) {
	var job asyncJob
	r, err := s.opts.Store.Read(ctx, asyncType, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted) {
		return job, r, oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "",
			"No asynchronous submission %s is known (results are kept for a limited time).", id))
	}
	if err != nil {
		return job, r, err
	}
	if err := json.Unmarshal(r.Body, &job); err != nil {
		return job, r, fmt.Errorf("decode async job %s: %w", id, err)
	}
	return job, r, nil
}

// asyncStatus answers a poll: 202 while processing, then 303 See Other to
// the result.
func (s *Server) asyncStatus(c *gin.Context) (*answer, error) {
	id := c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	// The state is in the index: a poll never decodes the job's body.
	r, err := s.opts.Store.Read(c.Request.Context(), asyncType, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDeleted) {
		return nil, oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "",
			"No asynchronous submission %s is known (results are kept for a limited time).", id))
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkJobOwner(c.Request.Context(), id, r); err != nil {
		return nil, err
	}
	h := http.Header{}
	if r.Index.Status != jobDone {
		h.Set("Retry-After", "1")
		h.Set("X-Progress", "processing")
		return &answer{status: http.StatusAccepted, header: h}, nil
	}
	h.Set("Location", s.opts.BaseURL+"/_async/"+id+"/result")
	return &answer{status: http.StatusSeeOther, header: h}, nil
}

// asyncResult answers with the finished submission's answer, with the
// status it would have had synchronously.
func (s *Server) asyncResult(c *gin.Context) (*answer, error) {
	id := c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	job, r, err := s.loadJob(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.checkJobOwner(c.Request.Context(), id, r); err != nil {
		return nil, err
	}
	if !job.Done {
		return nil, oo.Errorf(http.StatusNotFound, oo.NotFound, "", "Submission %s is still being processed; poll %s/_async/%s.", id, s.opts.BaseURL, id)
	}
	return &answer{status: job.Status, body: job.Result}, nil
}

// asyncQueue runs jobs on a few workers. Jobs found pending at start-up
// (the server stopped while they ran or waited) are resumed: every write
// they make is idempotent by id or business key, so running one again
// cannot count a report twice.
type asyncQueue struct {
	ch      chan string
	mu      sync.Mutex
	started bool
}

func (q *asyncQueue) enqueue(id string) {
	select {
	case q.ch <- id:
	default:
		// The queue is full: the job stays pending in the store and is
		// picked up by the periodic sweep.
	}
}

// StartAsync starts the workers that process asynchronous submissions and
// resumes pending ones; they stop when ctx ends. Without it, submissions
// are accepted and stay pending.
func (s *Server) StartAsync(ctx context.Context, workers int) {
	q := s.async
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return
	}
	q.started = true
	if workers < 1 {
		workers = 1
	}
	s.startAuditRetention(ctx)
	for range workers {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-q.ch:
					s.runJob(ctx, id)
				}
			}
		}()
	}
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			s.sweepJobs(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// sweepJobs enqueues pending jobs and forgets finished ones past retention.
func (s *Server) sweepJobs(ctx context.Context) {
	var pending, expired []string
	err := s.opts.Store.List(ctx, asyncType, func(r store.Resource) error {
		switch age := s.opts.Now().Sub(r.LastUpdated); {
		case r.Index.Status == jobPending, r.Index.Status == jobRunning && age >= staleClaim:
			pending = append(pending, r.ID)
		case r.Index.Status == jobDone && age > s.opts.AsyncRetention:
			expired = append(expired, r.ID)
		}
		return nil
	})
	if err != nil {
		s.log.Warn().Err(err).Msg("async sweep")
		return
	}
	for _, id := range pending {
		select {
		case s.async.ch <- id:
		case <-ctx.Done():
			return
		}
	}
	// An expired job goes whole, history included: a deletion version
	// would keep the versions that held its request body (issue 14).
	for _, id := range expired {
		if err := s.opts.Store.Forget(ctx, asyncType, id, 0); err != nil {
			s.log.Warn().Err(err).Str("job", id).Msg("expire async job")
		}
	}
}

// runJob processes one job through the same router as a synchronous
// request, then records its answer.
func (s *Server) runJob(ctx context.Context, id string) {
	job, r, err := s.loadJob(ctx, id)
	if err != nil || job.Done || r.Index.Status == jobRunning && s.opts.Now().Sub(r.LastUpdated) < staleClaim {
		return
	}
	// Claim it: a job queued twice (on acceptance and by the sweep), or
	// seen by two servers sharing the store, runs once.
	if err := s.saveJob(ctx, id, job, jobRunning, false, r.VersionID); err != nil {
		if !errors.Is(err, store.ErrVersionConflict) {
			s.log.Error().Err(err).Str("job", id).Msg("claim async job")
		}
		return
	}
	req, err := http.NewRequestWithContext(ctx, job.Method, job.Path, bytes.NewReader(job.Body))
	if err != nil {
		s.log.Error().Err(err).Str("job", id).Msg("rebuild async request")
		return
	}
	for k, v := range job.Header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	req = req.WithContext(s.jobContext(req.Context(), id, job.Principal))
	res := inprocess.Serve(s.engine, req)
	if ctx.Err() != nil {
		return // shutting down: the job stays pending and is resumed
	}
	job.Done, job.Finished = true, s.opts.Now().UTC()
	job.Status, job.ContentType, job.Result = res.Status, res.Header.Get("Content-Type"), res.Body
	job.Body = nil // the report numbers need not be kept once processed
	done, err := s.writeJob(ctx, id, job, jobDone, false, 0)
	if err != nil {
		s.log.Error().Err(err).Str("job", id).Msg("record async result")
		return
	}
	// The pending and running versions before it hold the request body in
	// the store's history: they go now (issue 14: the body was kept for
	// ever). Should this fail, the expiry removes them with the job.
	if err := s.opts.Store.Forget(ctx, asyncType, id, done); err != nil {
		s.log.Warn().Err(err).Str("job", id).Msg("forget async request body")
	}
	s.log.Info().Str("job", id).Int("status", job.Status).Msg("async submission processed")
}

type jobKey struct{}

// jobContext is the context an asynchronous job is replayed in: its
// submitter's principal (recorded at acceptance) and its id, for the audit.
func (s *Server) jobContext(ctx context.Context, id string, p *auth.Principal) context.Context {
	ctx = context.WithValue(ctx, jobKey{}, id)
	if p != nil {
		ctx = auth.NewContext(ctx, *p)
	}
	return ctx
}

func jobOf(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(jobKey{}).(string)
	return id, ok
}

// submitter is the principal to record with an asynchronous job.
func submitter(ctx context.Context) *auth.Principal {
	if p, ok := auth.FromContext(ctx); ok {
		return &p
	}
	return nil
}

// jobOwner is the index token naming a job's submitter, so that a poll
// checks it without decoding the job.
const jobOwner = "owner="

func ownerTokens(p *auth.Principal) []string {
	if p == nil {
		return nil
	}
	return []string{jobOwner + p.Name()}
}

// checkJobOwner hides a job, its state as well as its result, from other
// clients: only its submitter (or an unrestricted principal) may poll it.
// r is the stored job; job is decoded only when its index names no owner
// (a job stored before owners were indexed).
func (s *Server) checkJobOwner(ctx context.Context, id string, r store.Resource) error {
	owner, indexed := "", false
	for _, t := range r.Index.Tokens {
		if v, ok := strings.CutPrefix(t, jobOwner); ok {
			owner, indexed = v, true
		}
	}
	if !indexed {
		var job asyncJob
		if err := json.Unmarshal(r.Body, &job); err != nil {
			return fmt.Errorf("decode async job %s: %w", id, err)
		}
		if job.Principal != nil {
			owner = job.Principal.Name()
		}
	}
	p, _ := auth.FromContext(ctx)
	if owner == "" || p.Unrestricted || p.Name() == owner {
		return nil
	}
	return oo.Errorf(http.StatusNotFound, oo.NotFound, "", "No asynchronous submission %s is known (results are kept for a limited time).", id)
}
