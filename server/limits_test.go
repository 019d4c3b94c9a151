package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
)

// inproc sends requests to a server's handler directly, so that a test
// chooses the peer address (RemoteAddr) and can hold a request or its
// answer where it wants.
type inproc struct {
	tb testing.TB
	h  http.Handler
}

func newInproc(tb testing.TB, opt func(*server.Options)) (*inproc, *client) {
	c := newClient(tb, openSQLite(tb), opt)
	return &inproc{tb: tb, h: c.s}, c
}

// req builds a request from peer with header pairs.
func req(method, path, peer string, body io.Reader, headers ...string) *http.Request {
	r := httptest.NewRequest(method, "http://madx.test/fhir"+path, body)
	r.RemoteAddr = peer + ":40000"
	if body != nil {
		r.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func (p *inproc) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	return w
}

// hold starts r with a body that sends prefix (at least one byte) and then
// nothing until the returned func is called, which ends the body with an
// error and returns the status of the answer. When hold returns, the
// server has read the prefix: the request has passed the guard and holds
// its slot and its bytes.
func (p *inproc) hold(r *http.Request, prefix []byte) (done func() int) {
	p.tb.Helper()
	pr, pw := io.Pipe()
	r.Body = pr
	r.Header.Set("Content-Type", "application/fhir+json")
	var w *httptest.ResponseRecorder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w = p.serve(r)
	}()
	// The second write returns once the server reads again, that is once
	// it has charged what the first one sent.
	for _, b := range [][]byte{prefix, []byte(" ")} {
		if _, err := pw.Write(b); err != nil {
			p.tb.Fatalf("the held request ended before reading its body: %v", err)
		}
	}
	return func() int {
		pw.CloseWithError(io.ErrUnexpectedEOF)
		wg.Wait()
		return w.Code
	}
}

// want sends r and checks its status.
func (p *inproc) want(status int, r *http.Request) *httptest.ResponseRecorder {
	p.tb.Helper()
	w := p.serve(r)
	if w.Code != status {
		p.tb.Errorf("%s %s from %s answered %d, want %d: %s", r.Method, r.URL, r.RemoteAddr, w.Code, status, w.Body)
	}
	return w
}

// TestLimiterKeysAuthenticatedClientsByPrincipal: two clients behind one
// address (a proxy, a NAT) each have their own concurrency budget when
// they authenticate.
func TestLimiterKeysAuthenticatedClientsByPrincipal(t *testing.T) {
	k := newTokenKit(t)
	p, _ := newInproc(t, func(o *server.Options) {
		o.Security = k.security()
		o.Security.MaxConcurrentPerClient = 1
	})
	a := k.token(k.claims("facility-a", "system/*.*", "*"))
	b := k.token(k.claims("facility-b", "system/*.*", "*"))
	read := func(tok string) func() *http.Request {
		return func() *http.Request {
			return req("GET", "/MeasureReport/none", "192.0.2.10", nil, "Authorization", "Bearer "+tok)
		}
	}
	done := p.hold(req("PUT", "/MeasureReport/r1", "192.0.2.10", nil, "Authorization", "Bearer "+a), []byte("{"))
	p.want(http.StatusTooManyRequests, read(a)())
	p.want(http.StatusNotFound, read(b)()) // B, from A's address, while A is at its cap
	done()
	p.want(http.StatusNotFound, read(a)())
}

// TestTrustedProxies: behind a trusted proxy the client is the right-most
// forwarded address that is not a proxy, in the per-client limit and in
// the audit trail; from any other peer the headers are ignored.
func TestTrustedProxies(t *testing.T) {
	const proxy = "10.1.2.3"
	p, _ := newInproc(t, func(o *server.Options) {
		o.Security.MaxConcurrentPerClient = 1
		o.Security.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	read := func(peer string, headers ...string) func() *http.Request {
		return func() *http.Request { return req("GET", "/MeasureReport/none", peer, nil, headers...) }
	}
	done := p.hold(req("PUT", "/MeasureReport/r1", proxy, nil, "X-Forwarded-For", "198.51.100.1"), []byte("{"))
	tests := []struct {
		name    string
		peer    string
		headers []string
		want    int
	}{
		{"the held client again", proxy, []string{"X-Forwarded-For", "198.51.100.1"}, http.StatusTooManyRequests},
		{"another client behind the proxy", proxy, []string{"X-Forwarded-For", "198.51.100.2"}, http.StatusNotFound},
		{"the same client through two proxies", "10.9.9.9", []string{"X-Forwarded-For", "198.51.100.1, 10.1.2.3"}, http.StatusTooManyRequests},
		{"a spoofed hop left of the client", proxy, []string{"X-Forwarded-For", "203.0.113.7, 198.51.100.1"}, http.StatusTooManyRequests},
		{"two header lines", proxy, []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "198.51.100.1"}, http.StatusTooManyRequests},
		{"Forwarded", proxy, []string{"Forwarded", `for="198.51.100.1:4711";proto=https`}, http.StatusTooManyRequests},
		{"Forwarded, another client", proxy, []string{"Forwarded", "for=198.51.100.1, for=198.51.100.3"}, http.StatusNotFound},
		{"the proxy itself", proxy, nil, http.StatusNotFound},
		{"an untrusted peer naming the client", "198.51.100.9", []string{"X-Forwarded-For", "198.51.100.1"}, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := p.serve(read(tc.peer, tc.headers...)()); w.Code != tc.want {
				t.Errorf("got %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
	done()

	w := p.serve(req("DELETE", "/MeasureReport/r2", proxy, nil, "X-Forwarded-For", "203.0.113.7, 198.51.100.4"))
	if w.Code >= 500 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	w = p.serve(req("GET", "/AuditEvent?entity=MeasureReport/r2", "127.0.0.1", nil))
	var bundle struct {
		Entry []struct {
			Resource struct {
				Agent []struct {
					Network struct{ Address string }
				}
			}
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &bundle); err != nil || len(bundle.Entry) != 1 || len(bundle.Entry[0].Resource.Agent) == 0 {
		t.Fatalf("audit search: %v %s", err, w.Body)
	}
	if got := bundle.Entry[0].Resource.Agent[0].Network.Address; got != "198.51.100.4" {
		t.Errorf("audit agent.network.address = %q, want the client the proxy names, 198.51.100.4", got)
	}
}

// blockedWriter is a client that does not read its answer: Write blocks
// until release is closed.
type blockedWriter struct {
	*httptest.ResponseRecorder
	writing chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *blockedWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.release
	return w.ResponseRecorder.Write(b)
}

// TestSlotHeldUntilAnswerWritten: a client that does not read its answer
// still has the request in flight, in its concurrency slot and in the
// byte budget.
func TestSlotHeldUntilAnswerWritten(t *testing.T) {
	p, _ := newInproc(t, func(o *server.Options) { o.Security.MaxConcurrentPerClient = 1 })
	w := &blockedWriter{ResponseRecorder: httptest.NewRecorder(), writing: make(chan struct{}), release: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		p.h.ServeHTTP(w, req("GET", "/MeasureReport/none", "192.0.2.20", nil))
	}()
	select {
	case <-w.writing:
	case <-time.After(5 * time.Second):
		t.Fatal("the answer was never written")
	}
	if got := p.serve(req("GET", "/MeasureReport/none", "192.0.2.20", nil)); got.Code != http.StatusTooManyRequests {
		t.Errorf("while its first answer is unread, the client's second request got %d, want 429: %s", got.Code, got.Body)
	}
	close(w.release)
	<-served
	if got := p.serve(req("GET", "/MeasureReport/none", "192.0.2.20", nil)); got.Code != http.StatusNotFound {
		t.Errorf("once its answer is written, the client's next request got %d, want 404", got.Code)
	}
}

// TestBytesInFlightBudget: when the requests being served hold the
// server's byte budget, one more large body gets 503 with Retry-After and
// an OperationOutcome, while a small request is still served.
func TestBytesInFlightBudget(t *testing.T) {
	const budget = 1 << 20
	for _, tc := range []struct {
		name    string
		length  int64 // Content-Length of the held body; -1: chunked
		prefix  int   // bytes of it sent before it stalls (at least one)
		blocked int64 // Content-Length of the body refused meanwhile
	}{
		{"declared length", 900 << 10, 1, 200 << 10},
		{"chunked body, charged as read", -1, 900 << 10, 200 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c := newInproc(t, func(o *server.Options) {
				o.MaxBody = budget
				o.Security.MaxBytesInFlight = budget
			})
			c.loadDefinitions()
			big := req("PUT", "/MeasureReport/big", "192.0.2.30", nil)
			big.ContentLength = tc.length
			done := p.hold(big, bytes.Repeat([]byte(" "), tc.prefix))
			large := func() *http.Request {
				r := req("POST", "/", "192.0.2.31", strings.NewReader(strings.Repeat(" ", int(tc.blocked))))
				r.ContentLength = tc.blocked
				return r
			}
			w := p.want(http.StatusServiceUnavailable, large())
			if w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if !strings.Contains(w.Body.String(), `"resourceType":"OperationOutcome"`) || !strings.Contains(w.Body.String(), "busy") {
				t.Errorf("503 body is not the OperationOutcome of a spent budget: %s", w.Body)
			}
			small := req("PUT", "/MeasureReport/small", "192.0.2.32", bytes.NewReader(report(t, "small", "Location/HealthPost1", 3)))
			if w := p.serve(small); w.Code != http.StatusCreated {
				t.Errorf("a small write while the budget is nearly spent got %d, want 201: %s", w.Code, w.Body)
			}
			if code := done(); code != http.StatusBadRequest {
				t.Errorf("the held request ended with %d, want 400 (its body broke off)", code)
			}
			if w := p.serve(large()); w.Code == http.StatusServiceUnavailable {
				t.Errorf("once the held request is answered its bytes are free, but a large body still got 503: %s", w.Body)
			}
		})
	}
}

// TestOperationOutcomeCappedOverHTTP: a Bundle with more issues than an
// OperationOutcome lists answers the first ones and one that counts the rest.
func TestOperationOutcomeCappedOverHTTP(t *testing.T) {
	c := newClient(t, openSQLite(t))
	c.loadDefinitions()
	var reports [][]byte
	for i := range 1100 {
		reports = append(reports, report(t, fmt.Sprintf("bad-%d", i), "Location/Nowhere", 3))
	}
	r := c.do("POST", "/", collectionOf(reports...))
	oo := wantOutcome(t, r, r.status)
	issues, _ := oo["issue"].([]any)
	if len(issues) != 1001 {
		t.Fatalf("%d issues, want 1,000 and one more (status %d)", len(issues), r.status)
	}
	last, _ := issues[1000].(map[string]any)
	if d, _ := last["diagnostics"].(string); !strings.Contains(d, "more issues are not listed") {
		t.Errorf("last issue: %v", last)
	}
}

// TestBytesInFlightBudgetChargesInflatedBodies: a small gzip body that
// inflates beyond what is left of the budget gets the 503 a plain body of
// that size would.
func TestBytesInFlightBudgetChargesInflatedBodies(t *testing.T) {
	const budget = 1 << 20
	p, _ := newInproc(t, func(o *server.Options) {
		o.MaxBody = budget
		o.Security.MaxBytesInFlight = budget
	})
	held := req("PUT", "/MeasureReport/held", "192.0.2.40", nil)
	held.ContentLength = 200 << 10
	done := p.hold(held, []byte("{"))
	var zbody bytes.Buffer
	zw := gzip.NewWriter(&zbody)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), 900<<10))
	_ = zw.Close()
	bomb := func() *http.Request {
		r := req("POST", "/", "192.0.2.41", bytes.NewReader(zbody.Bytes()), "Content-Encoding", "gzip")
		r.ContentLength = int64(zbody.Len())
		return r
	}
	if w := p.want(http.StatusServiceUnavailable, bomb()); w.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	done()
	if w := p.serve(bomb()); w.Code == http.StatusServiceUnavailable {
		t.Errorf("with the budget free, the gzip body still got 503: %s", w.Body)
	}
}
