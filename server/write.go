package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// idPattern is FHIR R4's id datatype (datatypes.html#id).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// typeOf returns the resource type a route serves: the first path segment
// after the FHIR base in the route's pattern.
func (s *Server) typeOf(c *gin.Context) string {
	rel := strings.TrimPrefix(c.FullPath(), s.opts.BasePath+"/")
	return strings.SplitN(rel, "/", 2)[0]
}

func checkID(id string) error {
	if strings.HasPrefix(id, "_") || strings.HasPrefix(id, "$") {
		// [base]/Type/_history, /_search, /$operation: FHIR keywords, not
		// ids; the ones madx serves have their own routes.
		return oo.Errorf(http.StatusNotImplemented, oo.NotSupported, "",
			"%q is a FHIR keyword or operation this server does not implement on this resource type; see [base]/metadata.", id)
	}
	if !idPattern.MatchString(id) {
		return oo.Errorf(http.StatusBadRequest, oo.Value, "",
			"%q is not a valid FHIR id: expected 1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'.", id)
	}
	return nil
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
	switch {
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

// checkType answers 400 when the body's resourceType is not the URL's.
func checkType(res proto.Message, want string) error {
	if got := resourceType(res); got != want {
		return oo.Errorf(http.StatusBadRequest, oo.Invalid, "",
			"The body is a %s but the URL names %s; send a %s to this URL.", got, want, want)
	}
	return nil
}

// parseIfMatch reads the If-Match header.
func parseIfMatch(c *gin.Context) (int64, error) {
	n, err := parseVersionTag(c.GetHeader("If-Match"))
	if err != nil {
		return 0, oo.Errorf(http.StatusBadRequest, oo.Value, "", `If-Match %q is not a version tag; expected W/"<versionId>" as sent in ETag.`, c.GetHeader("If-Match"))
	}
	return n, nil
}

// parseVersionTag is the one reader of version tags, for the If-Match
// header and Bundle.entry.request.ifMatch alike: W/"3", "3" or 3 (HAPI
// accepts all three); 0 when empty. Anything else, such as W/"3abc", is
// an error.
func parseVersionTag(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a version tag", h)
	}
	return n, nil
}

func (s *Server) update(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := checkID(id); err != nil {
		return nil, err
	}
	res, err := s.decodeBody(c)
	if err != nil {
		return nil, err
	}
	if err := checkType(res, typ); err != nil {
		return nil, err
	}
	switch bid := resourceID(res); {
	case bid == "":
		return nil, oo.Errorf(http.StatusBadRequest, oo.Required, typ+".id",
			"%s.id is missing; an update must carry the id of the URL (%q) in the body.", typ, id)
	case bid != id:
		return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, typ+".id",
			"%s.id is %q but the URL names %q; they must be equal (FHIR R4 http.html#update).", typ, bid, id)
	}
	ifMatch, err := parseIfMatch(c)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(c.Request.Context(), res)
	if err != nil {
		return nil, err
	}
	if _, err := s.claimReportKey(c.Request.Context(), p, false); err != nil {
		return nil, err
	}
	ch, err := s.change(p)
	if err != nil {
		return nil, err
	}
	ch.IfMatch = ifMatch
	// Like HAPI, an update that changes nothing makes no new version (only
	// resources with a ContentHash can be compared: see prepare).
	ch.SkipUnchanged = true
	r, err := s.writeOne(c.Request.Context(), ch)
	if err != nil {
		return nil, err
	}
	return s.written(c, r, p.warnings), nil
}

func (s *Server) create(c *gin.Context) (*answer, error) {
	typ := s.typeOf(c)
	if err := refuseConditionalCreate(c.GetHeader("If-None-Exist"), ""); err != nil {
		return nil, err
	}
	res, err := s.decodeBody(c)
	if err != nil {
		return nil, err
	}
	if err := checkType(res, typ); err != nil {
		return nil, err
	}
	// FHIR R4 http.html#create: the server assigns the id and ignores one
	// sent in the body.
	setID(res, s.opts.NewID())
	p, err := s.prepare(c.Request.Context(), res)
	if err != nil {
		return nil, err
	}
	r, err := s.createReport(c.Request.Context(), p)
	if err != nil {
		return nil, err
	}
	return s.written(c, r, p.warnings), nil
}

func (s *Server) delete(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := checkID(id); err != nil {
		return nil, err
	}
	ifMatch, err := parseIfMatch(c)
	if err != nil {
		return nil, err
	}
	_, err = s.writeOne(c.Request.Context(), store.Change{Type: typ, ID: id, Delete: true, IfMatch: ifMatch})
	if errors.Is(err, store.ErrNotFound) {
		return nil, oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "", "%s/%s does not exist; nothing was deleted.", typ, id))
	}
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusNoContent}, nil
}

// refuseConditionalCreate answers 501 to a conditional create (If-None-Exist,
// or entry.request.ifNoneExist at expr): madx does not implement it, and
// ignoring it made the duplicate the client asked to avoid. A MeasureReport
// needs none: its business key already turns a resent create into an
// update of the stored report (docs/validation.md).
func refuseConditionalCreate(query, expr string) error {
	if strings.TrimSpace(query) == "" {
		return nil
	}
	return oo.Errorf(http.StatusNotImplemented, oo.NotSupported, expr,
		"Conditional create (If-None-Exist: %s) is not supported by this server; nothing was stored. PUT the resource to its id, or POST it without the condition (a resent MeasureReport updates the stored one by its measure, subject and period).", query)
}

// createReport stores a created resource; a report whose business key is
// already held updates the holder instead (a facility resending its report
// must not create a second one). A concurrent create of the same key loses
// the unique index race and is retried once as an update.
func (s *Server) createReport(ctx context.Context, p *prepared) (store.Result, error) {
	for attempt := 0; ; attempt++ {
		existing, err := s.claimReportKey(ctx, p, true)
		if err != nil {
			return store.Result{}, err
		}
		ch, err := s.change(p)
		if err != nil {
			return store.Result{}, err
		}
		ch.CreateOnly = !existing
		r, err := s.writeOne(ctx, ch)
		if err != nil && attempt == 0 && errors.Is(err, store.ErrDuplicateKey) && p.index.ReportKey != "" {
			continue
		}
		return r, err
	}
}

// writeOne writes a single change and maps store conflicts to the statuses
// FHIR gives them.
func (s *Server) writeOne(ctx context.Context, ch store.Change) (store.Result, error) {
	rs, _, err := s.commit(ctx, []store.Change{ch})
	if err != nil {
		return store.Result{}, changeError(ch, err)
	}
	return rs[0], nil
}

// changeError explains a store failure of one change.
func changeError(ch store.Change, err error) error {
	ref := ch.Type + "/" + ch.ID
	switch {
	case errors.Is(err, store.ErrVersionConflict) && ch.IfMatch != 0:
		return oo.Wrap(http.StatusPreconditionFailed, err, oo.Issuef(oo.SeverityFatal, oo.Conflict, "",
			"If-Match names version %d of %s, which is not its current version; read it again and retry.", ch.IfMatch, ref))
	case errors.Is(err, store.ErrVersionConflict):
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Conflict, "",
			"%s was changed by a concurrent request; retry.", ref))
	case errors.Is(err, store.ErrDuplicateKey) && ch.CreateOnly:
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Duplicate, "", "%s already exists.", ref))
	case errors.Is(err, store.ErrDuplicateKey):
		return oo.Wrap(http.StatusConflict, err, oo.Issuef(oo.SeverityFatal, oo.Duplicate, "",
			"%s conflicts with another stored report for the same measure, subject and period.", ref))
	}
	return err
}

// written builds the answer to a successful create or update, honouring
// Prefer: return=minimal|representation|OperationOutcome (FHIR R4
// http.html#ops).
func (s *Server) written(c *gin.Context, r store.Result, warnings []oo.Issue) *answer {
	status := http.StatusOK
	if r.Created {
		status = http.StatusCreated
	}
	a := &answer{status: status, header: s.versionHeaders(r.Resource)}
	a.header.Set("Location", s.versionURL(r.Resource))
	switch preferReturn(c.Request) {
	case "minimal":
	case "OperationOutcome":
		issues := warnings
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
		// A written body is as Render made it: packed for storage.
		body, err := store.Unpack(r.Resource.Body)
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

func (s *Server) versionHeaders(r store.Resource) http.Header {
	h := http.Header{}
	h.Set("ETag", fmt.Sprintf(`W/"%d"`, r.VersionID))
	h.Set("Last-Modified", r.LastUpdated.UTC().Format(http.TimeFormat))
	return h
}

func (s *Server) versionURL(r store.Resource) string {
	return fmt.Sprintf("%s/%s/%s/_history/%d", s.opts.BaseURL, r.Type, r.ID, r.VersionID)
}
