package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// typeOf returns the resource type a route serves: the first path segment
// after the FHIR base in the route's pattern.
func (s *Server) typeOf(c *gin.Context) string {
	rel := strings.TrimPrefix(c.FullPath(), s.opts.BasePath+"/")
	return strings.SplitN(rel, "/", 2)[0]
}

// readBody reads the request body within the configured cap.
func readBody(c *gin.Context) ([]byte, error) {
	// A declared length sizes the buffer once (io.ReadAll doubles and copies
	// its way up: a tenth of a Bundle's decode cost). The body is capped by
	// MaxBytesReader (middleware); a lying header can only make this first
	// allocation as large as maxPresize.
	var buf bytes.Buffer
	if n := c.Request.ContentLength; n > 0 && n <= maxPresize {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(c.Request.Body)
	b := buf.Bytes()
	var mbe *http.MaxBytesError
	var answered *oo.Error
	switch {
	case errors.As(err, &answered):
		return nil, answered // the body's reader said why: too slow (connguard.go), the byte budget spent (budgetedBody)
	case errors.As(err, &mbe):
		return nil, oo.Errorf(http.StatusRequestEntityTooLarge, oo.TooLong, "",
			"The request body is larger than this server accepts (%d bytes); split the submission, e.g. into several Bundles.", mbe.Limit)
	case err != nil:
		return nil, oo.Wrap(http.StatusBadRequest, err, oo.Issuef(oo.SeverityFatal, oo.Structure, "", "The request body could not be read completely."))
	case len(b) == 0:
		return nil, oo.Errorf(http.StatusBadRequest, oo.Required, "", "The request has no body; expected a FHIR resource.")
	}
	return b, nil
}

// maxPresize bounds the buffer a Content-Length header alone can make
// readBody allocate before any byte arrives.
const maxPresize = 8 << 20

// decodeBody reads and parses the request body in the format its
// Content-Type names.
func (s *Server) decodeBody(c *gin.Context) (proto.Message, error) {
	b, err := readBody(c)
	if err != nil {
		return nil, err
	}
	f, err := requestFormat(c.GetHeader("Content-Type"), b)
	if err != nil {
		return nil, err
	}
	return s.decode(f, b)
}

func (s *Server) decode(f format, b []byte) (proto.Message, error) {
	codec := s.opts.JSON
	if f == formatXML {
		if s.opts.XML == nil {
			return nil, oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "", "This server does not accept FHIR XML; send application/fhir+json.")
		}
		codec = s.opts.XML
	}
	return codec.Decode(b)
}

// update serves PUT [base]/Type/id.
func (s *Server) update(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	res, err := s.decodeBody(c)
	if err != nil {
		return nil, err
	}
	return s.apply(c, pipeline.Intent{Op: pipeline.Update, Type: typ, ID: id, Resource: res, IfMatch: c.GetHeader("If-Match")})
}

// create serves POST [base]/Type.
func (s *Server) create(c *gin.Context) (*answer, error) {
	in := pipeline.Intent{Op: pipeline.Create, Type: s.typeOf(c), IfNoneExist: c.GetHeader("If-None-Exist")}
	if in.IfNoneExist == "" {
		var err error
		if in.Resource, err = s.decodeBody(c); err != nil {
			return nil, err
		}
	}
	return s.apply(c, in)
}

// delete serves DELETE [base]/Type/id.
func (s *Server) delete(c *gin.Context) (*answer, error) {
	_, _, err := s.pipe.Apply(c.Request.Context(), pipeline.Intent{Op: pipeline.Delete, Type: s.typeOf(c), ID: c.Param("id"), IfMatch: c.GetHeader("If-Match")})
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusNoContent}, nil
}

// apply hands a create or update to the write pipeline and answers with
// what it wrote.
func (s *Server) apply(c *gin.Context, in pipeline.Intent) (*answer, error) {
	pl, r, err := s.pipe.Apply(c.Request.Context(), in)
	if err != nil {
		return nil, err
	}
	return s.written(c, pl, r), nil
}

// written builds the answer to a successful create or update, honouring
// Prefer: return=minimal|representation|OperationOutcome (FHIR R4
// http.html#ops). A create that corrected the stored holder of its report
// key answers as the update it was (docs/rest.md, "A create that corrects a
// stored report"): 200, Location and Content-Location naming the holder's
// new version, and the correction stated in the OperationOutcome.
func (s *Server) written(c *gin.Context, pl *pipeline.Planned, r store.Result) *answer {
	status := http.StatusOK
	if r.Created {
		status = http.StatusCreated
	}
	a := &answer{status: status, header: s.versionHeaders(r.Resource)}
	a.header.Set("Location", s.versionURL(r.Resource))
	correction, corrected := correctionIssue(pl, r)
	if corrected {
		// RFC 9110 §8.7: the answer is about the holder, not the URL posted to.
		a.header.Set("Content-Location", s.versionURL(r.Resource))
	}
	switch preferReturn(c.Request) {
	case "minimal":
	case "OperationOutcome":
		issues := pl.Warnings()
		if corrected {
			issues = append([]oo.Issue{correction}, issues...)
		}
		if len(issues) == 0 {
			verb := "updated"
			if r.Unchanged {
				verb = "unchanged"
			} else if r.Created {
				verb = "created"
			}
			issues = []oo.Issue{oo.Issuef(oo.SeverityInformation, oo.Informational, "", "%s/%s %s at version %d.", r.Resource.Type, r.Resource.ID, verb, r.Resource.VersionID)}
		}
		a.body, _ = s.opts.JSON.Encode(oo.Resource(issues), false)
	default:
		// A written body is as Render made it, packed for storage; the
		// plan still has it plain.
		body, ok := pl.Written(r)
		var err error
		if !ok {
			body, err = store.Unpack(r.Resource.Body)
		}
		if err != nil {
			// Written, so not a failure; but the representation is lost.
			s.log.Error().Err(err).Str("resource", r.Resource.Type+"/"+r.Resource.ID).Msg("written body does not unpack")
			body, _ = s.opts.JSON.Encode(oo.Resource([]oo.Issue{oo.Issuef(oo.SeverityWarning, oo.Exception, "",
				"%s/%s was stored as version %d, but its stored form could not be returned; read it.", r.Resource.Type, r.Resource.ID, r.Resource.VersionID)}), false)
		}
		a.body = body
	}
	return a
}

// correctionIssue states what a create that corrected a stored report did,
// and reports whether it did: the pipeline turned it into an update of the
// holder of its business key, and the write made a new version of it (if
// the holder was deleted meanwhile, the write created it anew: a plain
// create).
func correctionIssue(pl *pipeline.Planned, r store.Result) (oo.Issue, bool) {
	if pl == nil || pl.Corrects == "" || r.Created {
		return oo.Issue{}, false
	}
	return oo.Issuef(oo.SeverityInformation, oo.Informational, "",
		"%s/%s updated at version %d: a report for the same measure, subject and period (%s) was already stored as %s/%s, so this create corrected it instead of creating another (docs/validation.md).",
		r.Resource.Type, r.Resource.ID, r.Resource.VersionID, strings.ReplaceAll(pl.ReportKey(), " ", ", "), r.Resource.Type, pl.Corrects), true
}

func (s *Server) versionHeaders(r store.Resource) http.Header {
	h := http.Header{}
	h.Set("ETag", fmt.Sprintf(`W/"%d"`, r.VersionID))
	h.Set("Last-Modified", r.LastUpdated.UTC().Format(http.TimeFormat))
	return h
}

func (s *Server) versionURL(r store.Resource) string {
	return fmt.Sprintf("%s/%s/%s/_history/%d", s.opts.BaseURL, r.Type, r.ID, r.VersionID)
}
