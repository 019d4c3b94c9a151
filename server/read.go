package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

func (s *Server) read(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	r, err := s.opts.Store.Read(c.Request.Context(), typ, id)
	if errors.Is(err, store.ErrDeleted) {
		// Rights first: a 410 would tell that the report existed.
		if aerr := s.pipe.AuthorizeStored(c.Request.Context(), r); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, readError(typ, id, r, err)
	}
	if err := s.pipe.AuthorizeStored(c.Request.Context(), r); err != nil {
		return nil, err
	}
	return s.conditionalRead(c, r), nil
}

// conditionalRead answers a read, or 304 Not Modified when the client's
// copy is current (FHIR R4 http.html#cread): If-None-Match with the ETag
// (W/"3", "3" or 3), else If-Modified-Since no earlier than the version's
// lastUpdated (to the second, as HTTP dates are). Rights are checked first:
// a 304 tells as much as a 200.
func (s *Server) conditionalRead(c *gin.Context, r store.Resource) *answer {
	h := s.versionHeaders(r)
	if inm := c.GetHeader("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			if v, err := pipeline.ParseVersionTag(tag); err == nil && v == r.VersionID {
				return &answer{status: http.StatusNotModified, header: h}
			}
		}
		return &answer{status: http.StatusOK, body: r.Body, header: h}
	}
	if ims := c.GetHeader("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !r.LastUpdated.Truncate(time.Second).After(t) {
			return &answer{status: http.StatusNotModified, header: h}
		}
	}
	return &answer{status: http.StatusOK, body: r.Body, header: h}
}

func (s *Server) vread(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	vid, err := strconv.ParseInt(c.Param("vid"), 10, 64)
	if err != nil || vid < 1 {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "", "Version %q is not a versionId; expected a positive integer.", c.Param("vid"))
	}
	r, err := s.opts.Store.ReadVersion(c.Request.Context(), typ, id, vid)
	if errors.Is(err, store.ErrDeleted) {
		if aerr := s.pipe.AuthorizeStored(c.Request.Context(), r); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, readError(typ, id+"/_history/"+c.Param("vid"), r, err)
	}
	if err := s.pipe.AuthorizeStored(c.Request.Context(), r); err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: r.Body, header: s.versionHeaders(r)}, nil
}

// readError gives read and vread their FHIR statuses: 404 for unknown, 410
// with the deletion's ETag for deleted (FHIR R4 http.html#read).
func readError(typ, ref string, r store.Resource, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "", "%s/%s is not known to this server.", typ, ref))
	case errors.Is(err, store.ErrDeleted):
		return oo.Wrap(http.StatusGone, err, oo.Issuef(oo.SeverityFatal, oo.Deleted, "",
			"%s/%s was deleted (version %d at %s); its history is still readable at %s/%s/_history.",
			typ, ref, r.VersionID, r.LastUpdated.Format("2006-01-02T15:04:05Z07:00"), typ, r.ID))
	}
	return err
}

func (s *Server) historyInstance(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := pipeline.CheckID(id); err != nil {
		return nil, err
	}
	versions, err := s.opts.Store.History(c.Request.Context(), typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "", "%s/%s is not known to this server.", typ, id))
	}
	if err != nil {
		return nil, err
	}
	if err := s.pipe.AuthorizeStored(c.Request.Context(), versions...); err != nil {
		return nil, err
	}
	// Paged like the type and system feeds: _count versions, newest first;
	// next continues below the last version shown (_cursor is that
	// versionId). total counts every version.
	q, err := queryValues(c.Request)
	if err != nil {
		return nil, err
	}
	count, below := defaultCount, int64(0)
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badParam("_count", "%q is not a non-negative integer.", v)
		}
		count = min(n, maxCount)
	}
	if v := q.Get("_cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, badParam("_cursor", "the value is not a cursor this server gave for this history; follow the Bundle links.")
		}
		below = n
	}
	path := s.opts.BaseURL + "/" + typ + "/" + id + "/_history"
	link := func(cursor int64) string {
		u := fmt.Sprintf("%s?_count=%d", path, count)
		if cursor > 0 {
			u += fmt.Sprintf("&_cursor=%d", cursor)
		}
		return u
	}
	b := s.newBundle("history")
	b.Total = len(versions)
	b.Link = []bundleLink{{Relation: "self", URL: link(below)}}
	var last int64
	more := false
	for _, v := range versions {
		if below > 0 && v.VersionID >= below {
			continue
		}
		if len(b.Entry) == count {
			more = true
			break
		}
		b.Entry = append(b.Entry, s.historyEntry(v))
		last = v.VersionID
	}
	if more && last > 0 {
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: link(last)})
	}
	return s.bundleAnswer(b)
}
