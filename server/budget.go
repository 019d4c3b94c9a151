package server

import (
	"io"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
)

// DefaultMaxBytesInFlight is Security.MaxBytesInFlight when zero (or
// Options.MaxBody when that is larger): four bodies of the default
// --max-body. Decoding, validating and rendering a body costs about 8 to
// 10 times its size (docs/benchmarks.md), so the default holds a server's
// request memory near 1.3 GiB.
const DefaultMaxBytesInFlight = 128 << 20

// budgetRetryAfter is the Retry-After of a 503 for a spent budget, in
// seconds: about the time a large Bundle takes to be served.
const budgetRetryAfter = "2"

// budget is the server-wide count of bytes in flight (issue 14): request
// bodies from admission until their answer is written, and the answers
// themselves while they are written.
type budget struct {
	max  int64 // negative: no budget
	mu   sync.Mutex
	used int64
}

// newBudget is a budget of max bytes; zero is the default, or the largest
// body when that is larger (an in-process target that takes huge bodies).
func newBudget(max, maxBody int64) *budget {
	if max == 0 {
		max = DefaultMaxBytesInFlight
		if maxBody > max {
			max = maxBody
		}
	}
	return &budget{max: max}
}

// take adds n bytes to the count; unless force, only when they fit.
func (b *budget) take(n int64, force bool) bool {
	if b.max < 0 || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !force && b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *budget) give(n int64) {
	if b.max < 0 || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// spent is the answer when a request's bytes do not fit.
func (b *budget) spent() error {
	return oo.Errorf(http.StatusServiceUnavailable, oo.Transient, "",
		"The server is busy: the requests it is serving hold %d bytes, the most it serves at once; retry after the time Retry-After gives.", b.max)
}

// held is what one request holds until its answer has been written: its
// client's concurrency slot and its share of the byte budget (b is nil
// until admitBody admits the request: requests that never pass it, such as
// asynchronous replays, are not charged).
type held struct {
	slot  func()
	b     *budget
	bytes int64
}

const ctxHeld = "madx.held"

// heldOf is the request's held, set by holdUntilWritten.
func heldOf(c *gin.Context) *held {
	if h, ok := c.Get(ctxHeld); ok {
		return h.(*held)
	}
	// A handler run without the middleware (never in the router): what it
	// takes is released by nobody, so it takes nothing lasting.
	h := &held{}
	c.Set(ctxHeld, h)
	return h
}

// grow adds n bytes to the request's share; unless force, only within the
// budget.
func (h *held) grow(n int64, force bool) bool {
	if h.b == nil {
		return true
	}
	if !h.b.take(n, force) {
		return false
	}
	h.bytes += n
	return true
}

// holdUntilWritten releases a request's slot and bytes once the handler
// chain has returned, that is once the answer is written: net/http's Write
// returns when the bytes are in the socket, so a client that does not read
// its answer keeps them held until the write timeout closes it (issue 14:
// releasing when the handler returned let 24 such clients hold 6 GB).
func (s *Server) holdUntilWritten(c *gin.Context) {
	h := &held{}
	c.Set(ctxHeld, h)
	defer func() {
		if h.slot != nil {
			h.slot()
		}
		if h.b != nil {
			h.b.give(h.bytes)
		}
	}()
	c.Next()
}

// admitBody reserves the request body's bytes in the budget: its declared
// Content-Length (capped by --max-body, which refuses more), or, for a
// body without one, the bytes as they are read; a gzip body is charged
// again for what it inflates to (inflateBody). 503 with Retry-After when they do not fit.
func (s *Server) admitBody(c *gin.Context) error {
	h := heldOf(c)
	h.b = s.budget
	if n := min(c.Request.ContentLength, s.opts.MaxBody); n > 0 && !h.grow(n, false) {
		c.Header("Retry-After", budgetRetryAfter)
		return s.budget.spent()
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = &budgetedBody{ReadCloser: c.Request.Body, c: c, h: h, srv: s}
	}
	return nil
}

// budgetedBody charges the bytes read beyond what was reserved.
type budgetedBody struct {
	io.ReadCloser
	c    *gin.Context
	h    *held
	srv  *Server
	read int64
}

func (b *budgetedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if over := b.read - b.h.bytes; over > 0 && !b.h.grow(over, false) {
		b.c.Header("Retry-After", budgetRetryAfter)
		return n, b.srv.budget.spent()
	}
	return n, err
}
