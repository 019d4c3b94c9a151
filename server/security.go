package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/conformance"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/auth"
	"github.com/madx-project/madx/server/pipeline"
)

// TokenVerifier checks a bearer token; *auth.Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, bearer string) (auth.Principal, error)
}

// Security configures who may call the server (docs/security.md). The zero
// value switches authentication off: every caller is anonymous with every
// right, which the command allows only on loopback or with
// --allow-anonymous.
type Security struct {
	// Tokens verifies Authorization: Bearer tokens; nil refuses them.
	Tokens TokenVerifier
	// Certificates maps verified client certificates to submitters, for
	// requests without a token.
	Certificates *auth.CertMap
	// MaxConcurrentPerClient caps the requests one client (principal, or
	// address when anonymous) has in flight: 429 beyond it. 32 when zero;
	// negative for no cap.
	MaxConcurrentPerClient int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client (clientAddress); from any other
	// peer those headers are ignored. Empty: the peer is the client.
	TrustedProxies []netip.Prefix
	// MaxBytesInFlight is the server-wide budget of bytes in flight:
	// request bodies from admission until their answer is written, and the
	// answers while they are written; a body that does not fit gets 503
	// with Retry-After. DefaultMaxBytesInFlight when zero; negative
	// for no budget. It must be at least Options.MaxBody.
	MaxBytesInFlight int64
	// AuditRetention is how long AuditEvents are kept; forever when zero.
	AuditRetention time.Duration
	// Description is the CapabilityStatement's rest.security.description.
	Description string
}

// DefaultMaxConcurrentPerClient is Security.MaxConcurrentPerClient when zero.
const DefaultMaxConcurrentPerClient = 32

// enabled reports whether callers must authenticate.
func (sec Security) enabled() bool { return sec.Tokens != nil || sec.Certificates.Len() > 0 }

// guard authenticates the caller, caps its concurrency, checks the scope
// the interaction needs and audits write attempts, whatever their outcome;
// then it runs h with the principal in the request's context.
func (s *Server) guard(typ string, in conformance.Interaction, h handlerFunc) handlerFunc {
	write := isWrite(in)
	return func(c *gin.Context) (*answer, error) {
		var rec *auditRecord
		if write {
			rec = s.newAuditRecord(c, typ, in)
			c.Request = c.Request.WithContext(withAudit(c.Request.Context(), rec))
		}
		a, err := s.guarded(c, typ, in, rec, h)
		if rec != nil && !(err == nil && a.status == http.StatusAccepted && wantsAsync(c.Request)) {
			// An accepted asynchronous submission is audited when it runs:
			// that is when it is written or rejected.
			s.audit(c.Request.Context(), rec, a, err)
		}
		return a, err
	}
}

func (s *Server) guarded(c *gin.Context, typ string, in conformance.Interaction, rec *auditRecord, h handlerFunc) (*answer, error) {
	p, err := s.authenticate(c)
	if rec != nil {
		rec.setPrincipal(p, err == nil)
	}
	if err != nil {
		return nil, err
	}
	_, replay := jobOf(c.Request.Context())
	if !replay {
		// The slot is held until the answer is written (holdUntilWritten):
		// a client that does not read its answer still has it in flight.
		release, err := s.limiter.acquire(s.clientKey(c, p))
		if err != nil {
			c.Header("Retry-After", "1")
			return nil, err
		}
		heldOf(c).slot = release
	}
	if typ != "" {
		if perm, ok := interactionPerm(in); ok {
			if err := s.authorizeType(c, p, typ, perm); err != nil {
				return nil, err
			}
		}
	}
	// Before the budget, which would charge it, and before any read, which
	// would send 100 Continue (connguard.go).
	if err := s.checkContentLength(c); err != nil {
		return nil, err
	}
	if !replay && p.Kind != "internal" {
		// Replays were admitted when they were accepted; madx's own loader
		// sends its own files.
		if err := s.admitBody(c); err != nil {
			return nil, err
		}
	}
	c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
	if err := s.inflateBody(c); err != nil {
		return nil, err
	}
	return h(c)
}

// isWrite tells the interactions an audit record is kept for.
func isWrite(in conformance.Interaction) bool {
	switch in {
	case conformance.Update, conformance.Patch, conformance.Create, conformance.Delete, conformance.Transaction, conformance.Batch:
		return true
	}
	return false
}

// interactionPerm is the SMART permission an interaction needs on its type.
func interactionPerm(in conformance.Interaction) (auth.Perm, bool) {
	switch in {
	case conformance.Read, conformance.VRead, conformance.HistoryInstance:
		return auth.Read, true
	case conformance.SearchType, conformance.HistoryType:
		return auth.Search, true
	case conformance.Update:
		return auth.Update, true
	case conformance.Create:
		return auth.Create, true
	case conformance.Delete:
		return auth.Delete, true
	}
	return 0, false
}

// authenticate finds the caller: the principal already in the context (an
// asynchronous job replayed with its submitter's rights, or madx's own
// loader: both set in process, never from the wire), else a bearer token,
// else a mapped client certificate.
func (s *Server) authenticate(c *gin.Context) (auth.Principal, error) {
	if p, ok := auth.FromContext(c.Request.Context()); ok {
		return p, nil
	}
	sec := s.opts.Security
	if !sec.enabled() {
		return auth.Anonymous(), nil
	}
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || sec.Tokens == nil {
			return auth.Principal{}, oo.Errorf(http.StatusUnauthorized, oo.Login, "",
				"The Authorization header must carry a bearer token (Authorization: Bearer <JWT>)%s.", map[bool]string{true: "", false: "; this server accepts client certificates only"}[sec.Tokens != nil])
		}
		p, err := sec.Tokens.Verify(c.Request.Context(), strings.TrimSpace(tok))
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="madx", error="invalid_token"`)
		}
		return p, err
	}
	if cert := verifiedClientCert(c.Request); cert != nil {
		if p, ok := sec.Certificates.Principal(cert); ok {
			return p, nil
		}
		if sec.Tokens == nil {
			return auth.Principal{}, oo.Errorf(http.StatusForbidden, oo.Forbidden, "",
				"The client certificate %q is not mapped to a submitter on this server.", cert.Subject.String())
		}
	}
	if sec.Tokens != nil {
		return sec.Tokens.Verify(c.Request.Context(), "")
	}
	return auth.Principal{}, oo.Errorf(http.StatusUnauthorized, oo.Login, "", "This server requires a client certificate issued to a known submitter.")
}

// verifiedClientCert is the leaf of the chain the TLS layer verified; an
// unverified certificate (verify-if-given without a chain) counts for nothing.
func verifiedClientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// authorizeType answers 403 when p's scopes do not grant perm on typ.
func (s *Server) authorizeType(c *gin.Context, p auth.Principal, typ string, perm auth.Perm) error {
	if p.Allows(typ, perm) {
		return nil
	}
	// RFC 6750 §3: scope is a space-separated list of scopes, any of
	// which would do.
	v1, v2 := pipeline.ScopeNames(typ, perm)
	c.Header("WWW-Authenticate", fmt.Sprintf(`Bearer realm="madx", error="insufficient_scope", scope="%s %s"`, v1, v2))
	return pipeline.ForbiddenScope(typ, perm)
}

// authorizeEntryRead checks the scope of a read inside a Bundle (the
// pipeline checks the scopes of writes); its issue is re-rooted under
// Bundle.entry[i] by the caller.
func authorizeEntryRead(ctx context.Context, typ string) error {
	if p, ok := auth.FromContext(ctx); ok && p.Allows(typ, auth.Read) {
		return nil
	}
	return pipeline.ForbiddenScope(typ, auth.Read)
}

// securityDescription is the CapabilityStatement's rest.security text.
func (s *Server) securityDescription() string {
	sec := s.opts.Security
	if sec.Description != "" {
		return sec.Description
	}
	if !sec.enabled() {
		return "Authentication is off: this server accepts anonymous requests (loopback or --allow-anonymous)."
	}
	return "Bearer JWTs (SMART backend services: system/<Type>.read|write or v2 c/r/u/d/s scopes; madx_subjects lists the facilities a client may report for) and/or mutual-TLS client certificates. Every write attempt is recorded as an AuditEvent."
}

// clientKey identifies a client for the concurrency cap: its principal
// when it authenticated, so that the clients behind one proxy or NAT each
// have their own; its address (clientAddress: behind a trusted proxy, the
// address the proxy names) otherwise.
func (s *Server) clientKey(c *gin.Context, p auth.Principal) string {
	if p.Kind == "jwt" || p.Kind == "certificate" {
		return p.Name()
	}
	return "addr:" + c.GetString(ctxClientAddr)
}

// limiter caps concurrent requests per client.
type limiter struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newLimiter(max int) *limiter {
	if max == 0 {
		max = DefaultMaxConcurrentPerClient
	}
	return &limiter{max: max, n: map[string]int{}}
}

func (l *limiter) acquire(key string) (func(), error) {
	if l.max < 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return nil, oo.Errorf(http.StatusTooManyRequests, oo.Throttled, "",
			"This client already has %d requests in progress, the most this server serves at once per client; retry when one has finished.", l.max)
	}
	l.n[key]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.n[key]--; l.n[key] <= 0 {
			delete(l.n, key)
		}
	}, nil
}

// Internal returns a handler that serves requests as madx itself, with
// every right: for the in-process loader of `madx serve --load`, which
// must work when callers need tokens.
func (s *Server) Internal(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), auth.Internal(name))))
	})
}
