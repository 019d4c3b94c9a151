package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
)

// BodyRate is the slowest a request body may arrive (issue 14, item 4): at
// least Min bytes per second, averaged over each Window. A total deadline
// would refuse an honest 32 MiB Bundle over a slow rural link; a rate
// refuses only a client that stalls, such as one dribbling a byte a second
// to hold a connection.
type BodyRate struct {
	// Min is in bytes per second; DefaultMinBodyRate when zero, no minimum
	// when negative.
	Min int64
	// Window is how long the rate is averaged over: every Window must bring
	// Min×Window bytes. DefaultBodyRateWindow when zero.
	Window time.Duration
}

// need is the bytes each window must bring.
func (r BodyRate) need() int64 { return int64(float64(r.Min) * r.Window.Seconds()) }

// Defaults of the connection limits that the server enforces itself.
const (
	// DefaultMinBodyRate is 1 KiB/s (8 kbit/s), well below a GPRS link; a
	// 32 MiB Bundle may take 9 hours at it.
	DefaultMinBodyRate = 1 << 10
	// DefaultBodyRateWindow rides out a mobile link's stalls of tens of
	// seconds.
	DefaultBodyRateWindow = 30 * time.Second
	// DefaultMaxHeaderBytes is the request line and headers madx accepts:
	// 431 OperationOutcome beyond it. A national token whose madx_subjects
	// list 10,000 facilities is about 320 KB of Authorization header.
	DefaultMaxHeaderBytes = 512 << 10
)

// drainGrace is how long the rest of an unread body is read and dropped
// after an answer that did not need it (an early 401, a 413), before the
// connection closes: enough for a client still sending to see the answer
// instead of a TCP reset, too short to hold the connection.
const drainGrace = 500 * time.Millisecond

// connGuard protects connections before any handler: it refuses request
// headers above MaxHeaderBytes with a 431 OperationOutcome, caps the body at
// MaxBody, enforces the BodyRate while the body is read, and sees that an
// answer given before the body was read closes the connection at once
// instead of letting net/http read up to 256 KB of the body first, before
// and after the answer.
func (s *Server) connGuard(c *gin.Context) {
	r := c.Request
	rc := http.NewResponseController(c.Writer)
	b := &watchedBody{src: r.Body, declared: r.ContentLength, rc: rc, rate: s.opts.BodyRate,
		none: r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0}
	r.Body = http.MaxBytesReader(c.Writer, b, s.opts.MaxBody)
	if r.ProtoMajor == 1 {
		// HTTP/2 needs none of this: an unread body there is one stream
		// reset, and Connection: close would end every stream.
		c.Writer = &closingWriter{ResponseWriter: c.Writer, body: b}
	}
	defer b.finish()
	if n := headerSize(r); n > s.opts.MaxHeaderBytes {
		s.fail(c, oo.Errorf(http.StatusRequestHeaderFieldsTooLarge, oo.TooLong, "",
			"The request line and headers are %d bytes, more than this server accepts (%d bytes).", n, s.opts.MaxHeaderBytes))
		return
	}
	c.Next()
}

// headerSize is about the bytes of the request line and headers as sent.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// checkContentLength refuses a declared body above MaxBody before a byte
// of it is read, so net/http never sends 100 Continue for it.
func (s *Server) checkContentLength(c *gin.Context) error {
	if n := c.Request.ContentLength; n > s.opts.MaxBody {
		return oo.Errorf(http.StatusRequestEntityTooLarge, oo.TooLong, "",
			"The request body is declared as %d bytes (Content-Length), more than this server accepts (%d bytes); split the submission, e.g. into several Bundles.", n, s.opts.MaxBody)
	}
	return nil
}

// watchedBody is the request body as it comes off the connection: it knows
// whether it was read to the end, and moves the connection's read deadline
// on as each window's bytes arrive.
type watchedBody struct {
	src      io.ReadCloser
	declared int64 // Content-Length; -1 when unknown
	rc       *http.ResponseController
	rate     BodyRate
	none     bool // the request has no body

	n, inWindow int64
	armed       bool // a read deadline of ours is set
	done        bool // read to the end
	err         error
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if !b.armed && !b.done && b.rate.Min > 0 {
		// The first window starts at the first read: net/http sends
		// 100 Continue then, and the client starts sending.
		b.extend()
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	b.inWindow += int64(n)
	switch {
	case err == io.EOF || (b.declared >= 0 && b.n >= b.declared):
		b.done = true
		if b.armed {
			// Once the body is in, net/http reads the connection in the
			// background to notice a client that goes away; our deadline
			// must not end that read (it would cancel the request).
			_ = b.rc.SetReadDeadline(time.Time{})
			b.armed = false
		}
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded) && b.armed:
		b.err = oo.Wrap(http.StatusRequestTimeout, err, oo.Issuef(oo.SeverityFatal, oo.Timeout, "",
			"The request body arrived more slowly than this server accepts (at least %d bytes every %v); send it over a faster link or in smaller submissions.",
			b.rate.need(), b.rate.Window))
		return n, b.err
	case b.armed && b.inWindow >= b.rate.need():
		b.extend()
	}
	return n, err
}

// extend starts a new window. Where the connection takes no deadline (a
// request served in process), the rate is not enforced.
func (b *watchedBody) extend() {
	if err := b.rc.SetReadDeadline(time.Now().Add(b.rate.Window)); err != nil {
		b.rate.Min = 0
		return
	}
	b.armed, b.inWindow = true, 0
}

func (b *watchedBody) Close() error { return b.src.Close() }

// unread tells whether bytes of the body may still be on the wire.
func (b *watchedBody) unread() bool { return !b.none && !b.done }

// finish runs when the handler is done: a body left unread is drained for
// drainGrace at most, then the connection closes.
func (b *watchedBody) finish() {
	if b.unread() {
		_ = b.rc.SetReadDeadline(time.Now().Add(drainGrace))
	}
}

// closingWriter adds Connection: close to an HTTP/1 answer sent while the
// body is not read to the end. net/http would otherwise read (and wait
// for) up to 256 KB of the body before it sends the answer, and keep the
// connection for the next request.
type closingWriter struct {
	gin.ResponseWriter
	body *watchedBody
}

func (w *closingWriter) closeIfUnread() {
	if !w.Written() && w.body.unread() {
		w.Header().Set("Connection", "close")
	}
}

func (w *closingWriter) WriteHeaderNow() { w.closeIfUnread(); w.ResponseWriter.WriteHeaderNow() }

func (w *closingWriter) Write(p []byte) (int, error) {
	w.closeIfUnread()
	return w.ResponseWriter.Write(p)
}

func (w *closingWriter) WriteString(s string) (int, error) {
	w.closeIfUnread()
	return w.ResponseWriter.WriteString(s)
}

func (w *closingWriter) Flush() { w.closeIfUnread(); w.ResponseWriter.Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
