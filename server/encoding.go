package server

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
)

// inflateBody undoes a request's Content-Encoding (RFC 9110 §8.4) so the
// handlers read plain FHIR. It runs after authentication, so an anonymous
// client cannot make the server inflate anything. The --max-body cap
// applies to the inflated bytes: a small gzip bomb gets the same 413 as a
// large plain body.
func (s *Server) inflateBody(c *gin.Context) error {
	ce := strings.ToLower(strings.TrimSpace(c.GetHeader("Content-Encoding")))
	if ce == "" || ce == "identity" || c.Request.ContentLength == 0 {
		c.Request.Header.Del("Content-Encoding")
		return nil
	}
	if ce != "gzip" && ce != "x-gzip" { // x-gzip: RFC 9110 §8.4.1.3
		return oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "",
			"Content-Encoding %q is not supported; send the body uncompressed or with Content-Encoding: gzip.", c.GetHeader("Content-Encoding"))
	}
	zr, err := gzip.NewReader(c.Request.Body)
	if err != nil {
		return bodyReadError(err, "The request body is not a valid gzip stream although Content-Encoding says gzip: %v.")
	}
	defer zr.Close()
	limit := s.opts.MaxBody
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(zr, limit+1))
	if err != nil {
		return bodyReadError(err, "The gzip request body is corrupt: %v.")
	}
	if n > limit {
		return oo.Errorf(http.StatusRequestEntityTooLarge, oo.TooLong, "",
			"The request body inflates to more than this server accepts (%d bytes once gzip is undone); split the submission, e.g. into several Bundles.", limit)
	}
	if !heldOf(c).grow(n, false) {
		c.Header("Retry-After", budgetRetryAfter)
		return heldOf(c).b.spent()
	}
	c.Request.Body = io.NopCloser(&buf)
	c.Request.ContentLength = n
	c.Request.Header.Del("Content-Encoding")
	return nil
}

// bodyReadError explains a failure to read or inflate the body: the
// compressed bytes beyond the cap are a 413 as for a plain body; a broken
// gzip stream is a 400 that names the gzip problem (gzip's own words,
// which name no server internals); any other read failure (the client
// went away) is the 400 a plain body gets.
func bodyReadError(err error, format string) error {
	var mbe *http.MaxBytesError
	var corrupt flate.CorruptInputError
	var answered *oo.Error
	var why string
	switch {
	case errors.As(err, &answered):
		return answered // the body's reader said why: too slow (connguard.go), the byte budget spent (budgetedBody)
	case errors.As(err, &mbe):
		return oo.Errorf(http.StatusRequestEntityTooLarge, oo.TooLong, "",
			"The request body is larger than this server accepts (%d bytes); split the submission, e.g. into several Bundles.", mbe.Limit)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		why = "the stream ends early"
	case errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt):
		why = err.Error()
	default:
		return oo.Wrap(http.StatusBadRequest, err, oo.Issuef(oo.SeverityFatal, oo.Structure, "", "The request body could not be read completely."))
	}
	return oo.Wrap(http.StatusBadRequest, err, oo.Issuef(oo.SeverityFatal, oo.Structure, "", format, why))
}

// minGzip is the smallest body worth compressing: below about a packet,
// gzip's 18 bytes of framing and the CPU buy nothing.
const minGzip = 1024

// gzipPool recycles gzip writers: each holds about 800 KB of tables.
type gzipPool struct{ p sync.Pool }

func (g *gzipPool) compress(b []byte) []byte {
	zw, _ := g.p.Get().(*gzip.Writer)
	var out bytes.Buffer
	out.Grow(len(b)/4 + 64)
	if zw == nil {
		// BestSpeed, as nginx's default gzip_comp_level 1: FHIR JSON is
		// repetitive enough that higher levels gain little for their CPU.
		zw, _ = gzip.NewWriterLevel(&out, gzip.BestSpeed)
	} else {
		zw.Reset(&out)
	}
	// Writes to a bytes.Buffer cannot fail.
	_, _ = zw.Write(b)
	_ = zw.Close()
	g.p.Put(zw)
	return out.Bytes()
}

// send writes a body, gzip-compressed when the client accepts gzip and the
// body is large enough to gain. Every FHIR answer says Vary:
// Accept-Encoding, so a cache never serves the compressed form to a client
// that did not ask for it.
func (s *Server) send(c *gin.Context, status int, contentType string, body []byte) {
	c.Writer.Header().Add("Vary", "Accept-Encoding")
	if len(body) >= minGzip && acceptsGzip(c.Request.Header.Values("Accept-Encoding")) {
		body = s.gzip.compress(body)
		c.Writer.Header().Set("Content-Encoding", "gzip")
	}
	// The answer counts in the byte budget while it is written (the work
	// is done: it is charged even beyond the budget, and holds off the next
	// requests until a slow reader has it).
	heldOf(c).grow(int64(len(body)), true)
	c.Data(status, contentType, body)
}

// acceptsGzip reads Accept-Encoding (RFC 9110 §12.5.3): gzip (or x-gzip,
// or *) with a non-zero quality, unless gzip itself is refused with q=0.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "x-gzip":
				return q > 0
			case "*":
				star = q > 0
			}
		}
	}
	return star
}
