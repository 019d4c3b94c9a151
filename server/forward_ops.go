package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/conformance"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// ScopeForwardAdmin lets a client list the forward outbox of every
// destination and replay dead-letter forwards (docs/forwarding.md).
const ScopeForwardAdmin = "madx/forward.admin"

// outboxRetryAfter is the Retry-After of a 503 for a full outbox, in
// seconds: the workers drain a batch in about that time.
const outboxRetryAfter = "30"

// forwardRoutes registers the forwarding operations. They are registered
// with or without destinations, so that a client learns that none is
// configured instead of meeting a 404 for an unknown path.
func (s *Server) forwardRoutes(g *gin.RouterGroup) {
	g.GET("/MeasureReport/:id/$forward-status", s.handle(s.guard("MeasureReport", conformance.Read, s.forwardStatus)))
	g.GET("/$forward-outbox", s.handle(s.guard("", "", s.forwardOutbox)))
	g.POST("/$forward-replay", s.handle(s.guard("", "", s.forwardReplay)))
}

func (s *Server) forwarding() (*forwarder, error) {
	if s.forward == nil {
		return nil, oo.Errorf(http.StatusNotFound, oo.NotSupported, "",
			"This server forwards reports to no upstream system: no --forward destination is configured (docs/forwarding.md).")
	}
	return s.forward, nil
}

// forwardBackingUp is /readyz's message when the outbox holds more pending
// forwards than Forwarding.BackingUp, else "".
func (s *Server) forwardBackingUp(ctx context.Context) (string, error) {
	if s.forward == nil {
		return "", nil
	}
	n, err := s.forward.count(ctx, fwdPending, "")
	if err != nil {
		return "", err
	}
	if n > s.forward.cfg.BackingUp {
		return fmt.Sprintf("forward outbox backing up: %d forwards pending (more than %d; at %d writes are refused)", n, s.forward.cfg.BackingUp, s.forward.cfg.MaxPending), nil
	}
	return "", nil
}

// forwardStatus answers GET MeasureReport/[id]/$forward-status: for each
// destination, where the report's newest forward is (pending, sent, dead,
// or not-forwarded) and what the destination answered. The caller needs
// the right to read the report.
func (s *Server) forwardStatus(c *gin.Context) (*answer, error) {
	f, err := s.forwarding()
	if err != nil {
		return nil, err
	}
	id := c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	ctx := c.Request.Context()
	r, err := s.opts.Store.Read(ctx, "MeasureReport", id)
	if errors.Is(err, store.ErrDeleted) && r.VersionID > 1 {
		// Rights are those over what was deleted.
		r, err = s.opts.Store.ReadVersion(ctx, "MeasureReport", id, r.VersionID-1)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, oo.Errorf(http.StatusNotFound, oo.NotFound, "", "MeasureReport/%s is not stored here.", id)
	}
	if err != nil {
		return nil, err
	}
	if err := s.pipe.AuthorizeStored(ctx, r); err != nil {
		return nil, err
	}
	var params []param
	for _, d := range f.dests {
		e, err := s.opts.Store.Read(ctx, forwardType, forwardID(d.Name, id))
		if errors.Is(err, store.ErrNotFound) {
			params = append(params, param{Name: "forward", Part: []param{
				{Name: "destination", ValueString: d.Name}, {Name: "state", ValueCode: "not-forwarded"}}})
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := forwardParam(e)
		if err != nil {
			return nil, err
		}
		params = append(params, p)
	}
	return parametersAnswer(params)
}

// forwardOutbox answers GET [base]/$forward-outbox: the entries in a state
// (destination, state, report; any when absent), next attempt first, up
// to _count (50, at most 1000), with their total. _summary=count gives the
// total alone.
func (s *Server) forwardOutbox(c *gin.Context) (*answer, error) {
	f, err := s.forwardAdmin(c)
	if err != nil {
		return nil, err
	}
	q := c.Request.URL.Query()
	state, dest, report := q.Get("state"), q.Get("destination"), q.Get("report")
	if err := f.checkSelection(dest, state); err != nil {
		return nil, err
	}
	count := 50
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "", "_count is %q; expected a whole number from 0 to 1000.", v)
		}
		count = n
	}
	switch v := q.Get("_summary"); v {
	case "":
	case "count":
		count = 0
	default:
		return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "", "_summary is %q; expected count or nothing.", v)
	}
	sq := f.query(state, dest, report)
	sq.Count, sq.Total = max(count, 1), true
	page, err := s.opts.Store.Search(c.Request.Context(), sq)
	if err != nil {
		return nil, err
	}
	params := []param{{Name: "total", ValueInteger: ptr(page.Total)}}
	for i, e := range page.Resources {
		if i == count {
			break
		}
		p, err := forwardParam(e)
		if err != nil {
			return nil, err
		}
		params = append(params, p)
	}
	return parametersAnswer(params)
}

// forwardReplay answers POST [base]/$forward-replay: the entries selected
// by the Parameters destination, report and state (dead when absent) go
// back to pending with their attempts reset; the answer says how many.
func (s *Server) forwardReplay(c *gin.Context) (*answer, error) {
	f, err := s.forwardAdmin(c)
	if err != nil {
		return nil, err
	}
	in, err := s.parametersIn(c)
	if err != nil {
		return nil, err
	}
	state := in["state"]
	if state == "" {
		state = fwdDead
	}
	if state == fwdPending {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "Parameters.parameter.where(name='state')",
			"state is pending; expected dead or sent: pending forwards are already waiting for their next attempt.")
	}
	if err := f.checkSelection(in["destination"], state); err != nil {
		return nil, err
	}
	report := strings.TrimPrefix(in["report"], "MeasureReport/")
	ctx := c.Request.Context()
	n, err := f.replay(ctx, state, in["destination"], report)
	if err != nil {
		return nil, err
	}
	p, _ := auth.FromContext(ctx)
	s.log.Info().Str("by", p.Name()).Str("state", state).Str("destination", in["destination"]).Str("report", report).Int("replayed", n).Msg("forward replay")
	return parametersAnswer([]param{{Name: "replayed", ValueInteger: ptr(n)}})
}

// replay moves the selected entries back to pending, a page at a time.
func (f *forwarder) replay(ctx context.Context, state, dest, report string) (int, error) {
	n := 0
	for {
		q := f.query(state, dest, report)
		q.Count = f.cfg.Batch
		page, err := f.s.opts.Store.Search(ctx, q)
		if err != nil || len(page.Resources) == 0 {
			return n, err
		}
		now := f.s.opts.Now().UTC()
		for _, e := range page.Resources {
			var rec forwardRecord
			if err := json.Unmarshal(e.Body, &rec); err != nil {
				return n, fmt.Errorf("decode forward %s: %w", e.ID, err)
			}
			rec.State, rec.Attempts, rec.NextAttempt = fwdPending, 0, now
			_, err := f.s.opts.Store.Write(ctx, []store.Change{{Type: forwardType, ID: e.ID, IfMatch: e.VersionID, Index: rec.index(),
				Render: func(int64, time.Time) ([]byte, error) { return json.Marshal(rec) }}})
			if errors.Is(err, store.ErrVersionConflict) {
				continue // changed meanwhile: a new version is pending already
			}
			if err != nil {
				return n, err
			}
			n++
			f.pending.Add(1)
		}
		if d := f.destination(dest); d != nil {
			d.poke()
		} else {
			for _, d := range f.dests {
				d.poke()
			}
		}
	}
}

func (f *forwarder) checkSelection(dest, state string) error {
	if dest != "" && f.destination(dest) == nil {
		var names []string
		for _, d := range f.dests {
			names = append(names, d.Name)
		}
		return oo.Errorf(http.StatusBadRequest, oo.Value, "", "destination is %q; expected one of the configured destinations: %s.", dest, strings.Join(names, ", "))
	}
	switch state {
	case "", fwdPending, fwdSent, fwdDead:
		return nil
	}
	return oo.Errorf(http.StatusBadRequest, oo.Value, "", "state is %q; expected pending, sent or dead.", state)
}

// forwardAdmin is the forwarder, for a caller holding ScopeForwardAdmin.
func (s *Server) forwardAdmin(c *gin.Context) (*forwarder, error) {
	p, _ := auth.FromContext(c.Request.Context())
	if !p.HasScope(ScopeForwardAdmin) {
		return nil, oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
			"The forward outbox is for the jurisdiction's operators: this client's token lacks the scope %s.", ScopeForwardAdmin)
	}
	return s.forwarding()
}

// param is a FHIR Parameters.parameter, with the value types used here.
type param struct {
	Name         string  `json:"name"`
	ValueString  string  `json:"valueString,omitempty"`
	ValueCode    string  `json:"valueCode,omitempty"`
	ValueInteger *int    `json:"valueInteger,omitempty"`
	ValueInstant string  `json:"valueInstant,omitempty"`
	ValueRef     *ref    `json:"valueReference,omitempty"`
	Part         []param `json:"part,omitempty"`
}

type ref struct {
	Reference string `json:"reference"`
}

func ptr(n int) *int { return &n }

func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// forwardParam renders one outbox entry.
func forwardParam(e store.Resource) (param, error) {
	var rec forwardRecord
	if err := json.Unmarshal(e.Body, &rec); err != nil {
		return param{}, fmt.Errorf("decode forward %s: %w", e.ID, err)
	}
	parts := []param{
		{Name: "destination", ValueString: rec.Destination},
		{Name: "report", ValueRef: &ref{Reference: fmt.Sprintf("MeasureReport/%s/_history/%d", rec.Report, rec.Version)}},
		{Name: "operation", ValueCode: map[bool]string{true: "delete", false: "update"}[rec.Deleted]},
		{Name: "state", ValueCode: rec.State},
		{Name: "attempts", ValueInteger: ptr(rec.Attempts)},
		{Name: "enqueued", ValueInstant: instant(rec.Enqueued)},
	}
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, param{Name: name, ValueInstant: v})
		}
	}
	add("lastAttempt", instant(rec.LastAttempt))
	add("sent", instant(rec.Sent))
	if rec.State == fwdPending {
		add("nextAttempt", instant(rec.NextAttempt))
	}
	if rec.Status != 0 {
		parts = append(parts, param{Name: "status", ValueInteger: ptr(rec.Status)})
	}
	if rec.Error != "" {
		parts = append(parts, param{Name: "error", ValueString: rec.Error})
	}
	if len(rec.Response) > 0 {
		parts = append(parts, param{Name: "response", ValueString: string(rec.Response)})
	}
	return param{Name: "forward", Part: parts}, nil
}

func parametersAnswer(params []param) (*answer, error) {
	body, err := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Parameter    []param `json:"parameter,omitempty"`
	}{"Parameters", params})
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: body}, nil
}

// parametersIn reads a Parameters body (JSON or XML) as name → value for
// its string, code and reference parameters.
func (s *Server) parametersIn(c *gin.Context) (map[string]string, error) {
	out := map[string]string{}
	body, err := readBody(c)
	if err != nil || len(body) == 0 {
		return out, err
	}
	f, err := requestFormat(c.GetHeader("Content-Type"), body)
	if err != nil {
		return nil, err
	}
	res, err := s.decode(f, body)
	if err != nil {
		return nil, err
	}
	js, err := s.opts.JSON.Encode(res, false)
	if err != nil {
		return nil, err
	}
	var p struct {
		ResourceType string  `json:"resourceType"`
		Parameter    []param `json:"parameter"`
	}
	if err := json.Unmarshal(js, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, "", "The body is a %s; expected a Parameters resource.", p.ResourceType)
	}
	for i, pp := range p.Parameter {
		v := pp.ValueString + pp.ValueCode
		if pp.ValueRef != nil {
			v = pp.ValueRef.Reference
		}
		switch pp.Name {
		case "destination", "state", "report":
			out[pp.Name] = v
		default:
			return nil, oo.Errorf(http.StatusBadRequest, oo.NotSupported, fmt.Sprintf("Parameters.parameter[%d]", i),
				"parameter %q is not known; expected destination, state or report.", pp.Name)
		}
	}
	return out, nil
}
