// Package server is madx's FHIR REST layer: a gin router generated from the
// conformance table, content negotiation, and the one function that turns
// any error into an OperationOutcome response.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// Options configure a Server. Store is required.
type Options struct {
	Store store.Store
	// JSON and XML decode and encode FHIR JSON and XML; nil selects madx's
	// own codecs (conformance/fhirjson and conformance/fhirxml).
	JSON Codec
	XML  Codec
	// Logger receives one line per request and the private causes of
	// failures.
	Logger zerolog.Logger
	// BasePath is where the FHIR API is mounted ("/fhir"); BaseURL is its
	// public address, used in Location headers and Bundle links.
	BasePath string
	BaseURL  string
	// MaxBody caps request bodies in bytes (413 beyond it).
	MaxBody int64
	// MaxBundleEntries caps Bundle.entry (413 beyond it).
	MaxBundleEntries int
	// MaxHeaderBytes caps the request line and headers (431 beyond it);
	// DefaultMaxHeaderBytes when zero.
	MaxHeaderBytes int
	// BodyRate is the slowest a request body may arrive (408 below it).
	BodyRate BodyRate
	// AsyncRetention is how long the result of an asynchronous submission
	// stays readable; a day when zero.
	AsyncRetention time.Duration
	// Validation tunes the report checks (strict terminology, subject check).
	Validation measures.Options
	// Security says who may call (tokens, client certificates), caps
	// per-client concurrency and keeps the audit trail; zero: auth off.
	Security Security
	// Forwarding sends accepted reports on to upstream systems
	// (docs/forwarding.md); zero: none.
	Forwarding Forwarding
	// Now and NewID make time and ids injectable for tests.
	Now   func() time.Time
	NewID func() string
}

// Server serves the FHIR API. Create it with New.
type Server struct {
	opts    Options
	engine  *gin.Engine
	log     zerolog.Logger
	started time.Time
	pipe    *pipeline.Pipeline
	async   *asyncQueue
	forward *forwarder // nil without destinations
	limiter *limiter
	budget  *budget
	gzip    gzipPool
}

// Defaults for Options fields left zero.
const (
	DefaultBasePath         = "/fhir"
	DefaultMaxBody          = 32 << 20
	DefaultMaxBundleEntries = 10000
)

// New builds a Server; it fails when a required option is missing.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: a Store is required")
	}
	if opts.JSON == nil {
		opts.JSON = jsonCodec()
	}
	if opts.XML == nil {
		opts.XML = xmlCodec()
	}
	if opts.BasePath == "" {
		opts.BasePath = DefaultBasePath
	}
	opts.BasePath = "/" + strings.Trim(opts.BasePath, "/")
	if opts.BasePath == "/" {
		opts.BasePath = ""
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxBundleEntries <= 0 {
		opts.MaxBundleEntries = DefaultMaxBundleEntries
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.BodyRate.Min == 0 {
		opts.BodyRate.Min = DefaultMinBodyRate
	}
	if opts.BodyRate.Window <= 0 {
		opts.BodyRate.Window = DefaultBodyRateWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = randomID
	}
	s := &Server{opts: opts, log: opts.Logger, started: opts.Now()}
	if opts.AsyncRetention <= 0 {
		opts.AsyncRetention = 24 * time.Hour
	}
	s.opts.AsyncRetention = opts.AsyncRetention
	s.async = &asyncQueue{ch: make(chan string, 1024)}
	s.limiter = newLimiter(opts.Security.MaxConcurrentPerClient)
	s.budget = newBudget(opts.Security.MaxBytesInFlight, opts.MaxBody)
	if s.budget.max >= 0 && s.budget.max < opts.MaxBody {
		return nil, fmt.Errorf("server: the bytes-in-flight budget (%d) is smaller than the largest body (%d): such a body could never be served", s.budget.max, opts.MaxBody)
	}
	popts := pipeline.Options{Store: opts.Store, Decode: opts.JSON.Decode,
		Encode: func(m proto.Message) ([]byte, error) { return opts.JSON.Encode(m, false) },
		Served: servedTypes(), Validation: opts.Validation, Secured: opts.Security.enabled(), NewID: opts.NewID, Now: opts.Now}
	if len(opts.Forwarding.Destinations) > 0 {
		f, err := newForwarder(s, opts.Forwarding)
		if err != nil {
			return nil, err
		}
		s.forward, popts.Outbox = f, f
	}
	s.pipe = pipeline.New(popts)
	s.engine = s.routes()
	return s, nil
}

// Routes lists what the server serves as "METHOD path" (gin patterns), so
// that a test can prove every route that writes goes through the pipeline.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// randomID returns a 128-bit random id in hex, valid as a FHIR id.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS has no randomness: nothing sane to do
	}
	return hex.EncodeToString(b[:])
}

// handlerFunc is a FHIR handler: it returns an answer or an error, and
// never writes to the response itself (STYLE: one adapter writes errors).
type handlerFunc func(c *gin.Context) (*answer, error)

// answer is a successful response. Body is FHIR JSON (converted to the
// negotiated format on the way out); nil means no body.
type answer struct {
	status int
	body   []byte
	header http.Header
	// contentType, when set, sends body as it is (the ADX way in's DHIS2
	// answers) instead of as a negotiated FHIR resource.
	contentType string
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	e.Use(s.requestLog, s.connGuard, s.holdUntilWritten, s.recover)
	e.NoRoute(s.handle(s.unrouted(s.noRoute)))
	e.NoMethod(s.handle(s.unrouted(s.noMethod)))
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	g := e.Group(s.opts.BasePath)
	g.GET("/metadata", s.handle(s.metadata))
	g.GET("/_async/:id", s.handle(s.guard("", "", s.asyncStatus)))
	g.GET("/_async/:id/result", s.handle(s.guard("", "", s.asyncResult)))
	for _, spec := range append(conformance.Resources(), conformance.ReadOnlyResources()...) {
		for _, in := range spec.Interactions {
			h := s.guard(spec.Type, in, s.interaction(in))
			for _, rt := range conformance.Routes(spec.Type, in) {
				g.Handle(rt.Method, rt.Path, s.handle(h))
				if rt.Method == http.MethodGet {
					// HEAD is GET without the body (RFC 9110 §9.3.2): same
					// rights, same headers; net/http drops the body.
					g.Handle(http.MethodHead, rt.Path, s.handle(h))
				}
			}
		}
		for _, op := range spec.Operations {
			h := s.handle(s.guard(spec.Type, "", s.operation(op)))
			for _, rt := range conformance.OperationRoutes(spec.Type, op) {
				g.Handle(rt.Method, rt.Path, h)
			}
		}
		for _, in := range conformance.NotImplemented() {
			// Guarded like the served interactions, so that a PATCH, a
			// write attempt, is audited (issue 11).
			for _, rt := range conformance.Routes(spec.Type, in) {
				g.Handle(rt.Method, rt.Path, s.handle(s.guard(spec.Type, in, notImplemented(in))))
			}
		}
	}
	for _, in := range conformance.SystemInteractions() {
		for _, rt := range conformance.SystemRoutes(in) {
			// transaction and batch share POST [base]; register once.
			if !routeExists(e, rt.Method, s.opts.BasePath+rt.Path) {
				h := s.handle(s.guard("", in, s.interaction(in)))
				g.Handle(rt.Method, rt.Path, h)
				if rt.Path == "/" && s.opts.BasePath != "" {
					// FHIR names the base without a slash (POST [base]);
					// clients send both forms.
					e.Handle(rt.Method, s.opts.BasePath, h)
				}
			}
		}
	}
	// ADX where DHIS2 serves it, beside the FHIR base (docs/adx.md): a write
	// of many reports, guarded and audited as a batch is.
	adxImport := s.handle(s.guard("", conformance.Batch, s.adxImport))
	e.POST("/api/dataValueSets", adxImport)
	e.POST("/api/:version/dataValueSets", adxImport)
	s.forwardRoutes(g)
	adxExport := s.handle(s.guard("MeasureReport", conformance.SearchType, s.adxExport))
	e.GET("/api/dataValueSets", adxExport)
	e.GET("/api/:version/dataValueSets", adxExport)
	return e
}

func routeExists(e *gin.Engine, method, path string) bool {
	for _, r := range e.Routes() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// interaction maps an interaction to its handler; the table in
// conformance decides which are registered.
func (s *Server) interaction(in conformance.Interaction) handlerFunc {
	switch in {
	case conformance.Read:
		return s.read
	case conformance.VRead:
		return s.vread
	case conformance.Update:
		return s.asyncable(s.update)
	case conformance.Delete:
		return s.delete
	case conformance.HistoryInstance:
		return s.historyInstance
	case conformance.Create:
		return s.create
	case conformance.SearchType:
		return s.search
	case conformance.HistoryType:
		return s.historyType
	case conformance.HistorySystem:
		return s.historySystem
	case conformance.Transaction, conformance.Batch:
		return s.asyncable(s.bundle)
	}
	return notImplemented(in)
}

// operation maps an operation to its handler.
func (s *Server) operation(op conformance.Operation) handlerFunc {
	switch op.Name {
	case conformance.Validate.Name:
		return s.validateOp
	case conformance.Completeness.Name:
		return s.completenessOp
	case conformance.Aggregate.Name:
		return s.aggregateOp
	}
	return func(c *gin.Context) (*answer, error) {
		return nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, "", "The operation $%s is not implemented by this server.", op.Name)
	}
}

// asyncable lets a write be submitted with Prefer: respond-async.
func (s *Server) asyncable(h handlerFunc) handlerFunc {
	return func(c *gin.Context) (*answer, error) {
		if wantsAsync(c.Request) {
			return s.asyncAccept(c)
		}
		return h(c)
	}
}

func notImplemented(in conformance.Interaction) handlerFunc {
	return func(c *gin.Context) (*answer, error) {
		return nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, "",
			"The %s interaction (%s %s) is not implemented by this server; see %s/metadata for what it serves.",
			in, c.Request.Method, c.Request.URL.Path, "[base]")
	}
}

// unrouted audits a write attempt that no route serves (a PUT to a type
// this server does not serve, a POST to an instance): every write attempt
// leaves an AuditEvent, whatever the answer (issue 11). The caller is
// authenticated for the record; no scope is checked, since no scope makes
// the path served.
func (s *Server) unrouted(h handlerFunc) handlerFunc {
	return func(c *gin.Context) (*answer, error) {
		in, write := methodInteraction(c.Request.Method)
		under := strings.HasPrefix(c.Request.URL.Path, s.opts.BasePath+"/") || c.Request.URL.Path == s.opts.BasePath
		if !write || !under {
			return h(c)
		}
		return s.guard("", in, h)(c)
	}
}

// methodInteraction is the write interaction an HTTP method attempts.
func methodInteraction(method string) (conformance.Interaction, bool) {
	switch method {
	case http.MethodPut:
		return conformance.Update, true
	case http.MethodPost:
		return conformance.Create, true
	case http.MethodDelete:
		return conformance.Delete, true
	case http.MethodPatch:
		return conformance.Patch, true
	}
	return "", false
}

func (s *Server) noRoute(c *gin.Context) (*answer, error) {
	p := c.Request.URL.Path
	rel, ok := strings.CutPrefix(p, s.opts.BasePath+"/")
	if !ok || s.opts.BasePath != "" && p == s.opts.BasePath {
		return nil, oo.Errorf(http.StatusNotFound, oo.NotFound, "",
			"Nothing is served at %s; the FHIR API is at %s/.", p, s.opts.BasePath)
	}
	typ := strings.SplitN(rel, "/", 2)[0]
	if typ != "" && typ[0] >= 'A' && typ[0] <= 'Z' && !knownType(typ) && typ != auditType {
		return nil, oo.Errorf(http.StatusNotFound, oo.NotSupported, "",
			"Resource type %q is not supported by this server; it serves %s.", typ, strings.Join(servedTypes(), ", "))
	}
	return nil, oo.Errorf(http.StatusNotFound, oo.NotFound, "",
		"No FHIR interaction is served at %s %s; see %s/metadata.", c.Request.Method, p, s.opts.BasePath)
}

func (s *Server) noMethod(c *gin.Context) (*answer, error) {
	return nil, oo.Errorf(http.StatusMethodNotAllowed, oo.NotSupported, "",
		"%s is not allowed on %s.", c.Request.Method, c.Request.URL.Path)
}

func knownType(t string) bool {
	for _, s := range conformance.Resources() {
		if s.Type == t {
			return true
		}
	}
	return false
}

func servedTypes() []string {
	var out []string
	for _, s := range conformance.Resources() {
		out = append(out, s.Type)
	}
	return out
}

func (s *Server) healthz(c *gin.Context) {
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
}

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.log.Warn().Err(err).Msg("readiness check failed")
		c.Data(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("store unreachable\n"))
		return
	}
	if msg, err := s.forwardBackingUp(ctx); err != nil || msg != "" {
		if err != nil {
			s.log.Warn().Err(err).Msg("readiness check: count the forward outbox")
			msg = "forward outbox cannot be counted"
		}
		c.Data(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte(msg+"\n"))
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
}
