package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

// StatusClientClosedRequest is the status a request is logged and audited
// with when its client went away before the answer (nginx's 499).
const StatusClientClosedRequest = 499

const (
	ctxRequestID       = "madx.requestID"
	ctxClientRequestID = "madx.clientRequestID"
	ctxCause           = "madx.cause"
	// ctxClientAddr is the client's address (Security.clientAddress),
	// found once per request and used wherever the server names the client.
	ctxClientAddr = "madx.clientAddr"
)

// handle adapts a handlerFunc: it writes the answer in the negotiated
// format, or turns the error into an OperationOutcome.
func (s *Server) handle(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, err := h(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		s.write(c, a)
	}
}

// write sends a successful answer, converting its JSON body when XML (or,
// for MeasureReports, ADX) was negotiated.
func (s *Server) write(c *gin.Context, a *answer) {
	for k, vs := range a.header {
		for _, v := range vs {
			c.Writer.Header().Add(k, v)
		}
	}
	if a.contentType != "" {
		s.send(c, a.status, a.contentType, a.body)
		return
	}
	if a.body == nil {
		// A 304 carries the Vary its 200 would (RFC 9110 §15.4.5).
		c.Writer.Header().Add("Vary", "Accept-Encoding")
		c.Status(a.status)
		c.Writer.WriteHeaderNow()
		return
	}
	f, pretty, err := responseFormat(c.Request)
	if err == nil && f == formatADX {
		adxAnswer, ok, aerr := s.asADX(c, a)
		switch {
		case aerr != nil:
			s.fail(c, aerr)
			return
		case ok:
			for _, l := range adxAnswer.header.Values("Link") {
				c.Writer.Header().Add("Link", l)
			}
			s.send(c, adxAnswer.status, adxAnswer.contentType, adxAnswer.body)
			return
		}
		// Not MeasureReports: among the FHIR formats the client accepts.
		f, pretty, err = fhirFormat(c.Request)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	body, err := s.render(a.body, f, pretty)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.send(c, a.status, contentType(f), body)
}

// render turns a JSON resource into the negotiated format.
func (s *Server) render(jsonBody []byte, f format, pretty bool) ([]byte, error) {
	if f == formatJSON {
		if pretty {
			return indentJSON(jsonBody), nil
		}
		return jsonBody, nil
	}
	if s.opts.XML == nil {
		return nil, oo.Errorf(http.StatusNotAcceptable, oo.NotSupported, "", "This server does not produce FHIR XML; accept application/fhir+json.")
	}
	res, err := s.opts.JSON.Decode(jsonBody)
	if err != nil {
		return nil, fmt.Errorf("re-decode stored JSON for XML: %w", err)
	}
	return s.opts.XML.Encode(res, pretty)
}

// fail is the ONE place an error becomes a response: an OperationOutcome in
// the negotiated format (JSON when negotiation itself failed), with the
// status the error carries. Private causes go to the log only.
func (s *Server) fail(c *gin.Context, err error) {
	e := storeError(err)
	if errors.Is(err, errOutboxFull) {
		c.Header("Retry-After", outboxRetryAfter)
	}
	switch {
	case e.Status >= 500 && (len(e.Issues) == 0 || e.Issues[0].Code == oo.Exception):
		// An internal failure: the client gets a request id to quote, the
		// log gets the cause. Deliberate 5xx answers (501 not implemented,
		// 503 store unavailable) keep their own explanation.
		c.Set(ctxCause, err)
		id, _ := c.Get(ctxRequestID)
		e = oo.Wrap(e.Status, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Exception,
			Diagnostics: fmt.Sprintf("The server failed to process the request (request id %v); the cause is logged.", id)})
	case e.Status >= 500:
		c.Set(ctxCause, err)
	default:
		if cause := errors.Unwrap(e); cause != nil {
			c.Set(ctxCause, cause)
		}
	}
	body, err := s.opts.JSON.Encode(oo.Resource(e.Issues), false)
	if err != nil {
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("cannot render OperationOutcome\n"))
		return
	}
	f, pretty, nerr := fhirFormat(c.Request)
	if nerr != nil {
		f, pretty = formatJSON, false
	}
	out, rerr := s.render(body, f, pretty)
	if rerr != nil {
		f, out = formatJSON, body
	}
	if e.Status == http.StatusUnauthorized && c.Writer.Header().Get("WWW-Authenticate") == "" {
		c.Header("WWW-Authenticate", `Bearer realm="madx"`)
	}
	s.send(c, e.Status, contentType(f), out)
	c.Abort()
}

// storeError maps store sentinels that reach the adapter to HTTP statuses;
// handlers that can say more map them themselves.
func storeError(err error) *oo.Error {
	var e *oo.Error
	if errors.As(err, &e) {
		return e
	}
	var qe *store.QueryError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oo.Wrap(http.StatusNotFound, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.NotFound, Diagnostics: "The resource was not found."})
	case errors.Is(err, store.ErrDeleted):
		return oo.Wrap(http.StatusGone, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Deleted, Diagnostics: "The resource has been deleted."})
	case errors.Is(err, store.ErrVersionConflict):
		return oo.Wrap(http.StatusConflict, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Conflict, Diagnostics: "A concurrent change won; read the resource again and retry."})
	case errors.Is(err, store.ErrDuplicateKey):
		return oo.Wrap(http.StatusConflict, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Duplicate, Diagnostics: "The resource conflicts with one already stored."})
	case errors.Is(err, context.Canceled):
		// The client went away: not a server failure (nginx's 499, client
		// closed request); nobody reads the answer, but the log and the
		// audit trail must not call it a 500.
		return oo.Wrap(StatusClientClosedRequest, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Incomplete,
			Diagnostics: "The client closed the request before it was answered; what was not acknowledged may not have been stored."})
	case errors.Is(err, context.DeadlineExceeded):
		return oo.Wrap(http.StatusServiceUnavailable, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Timeout,
			Diagnostics: "The request took longer than this server allows; nothing unacknowledged was stored. Retry later."})
	case errors.As(err, &qe):
		// The request asked for more than the database runs (issue 14): a
		// 400 with the engine's public reason, never the 503 that invites
		// a client to retry what fails again.
		return oo.Wrap(http.StatusBadRequest, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.TooCostly,
			Diagnostics: "The database cannot run this request: " + qe.Reason + ". Use fewer parameters or values, or shorter ones (docs/search.md)."})
	case errors.Is(err, store.ErrUnavailable):
		return oo.Wrap(http.StatusServiceUnavailable, err, oo.Issue{Severity: oo.SeverityFatal, Code: oo.Transient, Diagnostics: "The database is unavailable; nothing was stored. Retry later."})
	}
	return oo.From(err)
}

// recover turns a panic into a logged 500 OperationOutcome, never a dropped
// connection or gin's text page.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error().Str("request_id", c.GetString(ctxRequestID)).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("handler panicked")
			s.fail(c, fmt.Errorf("panic: %v", p))
		}
	}()
	c.Next()
}

// requestLog assigns the request id and writes one log line per request.
// The id is always the server's own: the audit trail must not carry an id
// a client chose (issue 14). A client's X-Request-Id is kept beside it, as
// the client request id of the log line and the AuditEvent, and answered
// in X-Client-Request-Id.
func (s *Server) requestLog(c *gin.Context) {
	start := time.Now()
	id := s.opts.NewID()
	c.Set(ctxRequestID, id)
	c.Header("X-Request-Id", id)
	addr := s.opts.Security.clientAddress(c.Request)
	c.Set(ctxClientAddr, addr)
	client := clientRequestID(c.GetHeader("X-Request-Id"))
	if client != "" {
		c.Set(ctxClientRequestID, client)
		c.Header("X-Client-Request-Id", client)
	}
	c.Next()
	ev := s.log.Info()
	if c.Writer.Status() >= 500 {
		ev = s.log.Error()
	}
	ev = ev.Str("request_id", id).Str("client_request_id", client).Str("client", addr).Str("method", c.Request.Method).Str("path", c.Request.URL.Path).
		Int("status", c.Writer.Status()).Dur("duration", time.Since(start)).Int("bytes", c.Writer.Size())
	if cause, ok := c.Get(ctxCause); ok {
		ev = ev.AnErr("cause", cause.(error))
	}
	ev.Msg("request")
}

// clientRequestID is a client's X-Request-Id as it may be recorded: up to
// 64 printable ASCII characters without spaces, else nothing.
func clientRequestID(v string) string {
	if len(v) > 64 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return ""
		}
	}
	return v
}
