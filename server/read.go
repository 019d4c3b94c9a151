package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

func (s *Server) read(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := checkID(id); err != nil {
		return nil, err
	}
	r, err := s.opts.Store.Read(c.Request.Context(), typ, id)
	if err != nil {
		return nil, readError(typ, id, r, err)
	}
	if err := s.authorizeStored(c.Request.Context(), r); err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: r.Body, header: s.versionHeaders(r)}, nil
}

func (s *Server) vread(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if err := checkID(id); err != nil {
		return nil, err
	}
	vid, err := strconv.ParseInt(c.Param("vid"), 10, 64)
	if err != nil || vid < 1 {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "", "Version %q is not a versionId; expected a positive integer.", c.Param("vid"))
	}
	r, err := s.opts.Store.ReadVersion(c.Request.Context(), typ, id, vid)
	if err != nil {
		return nil, readError(typ, id+"/_history/"+c.Param("vid"), r, err)
	}
	if err := s.authorizeStored(c.Request.Context(), r); err != nil {
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
	if err := checkID(id); err != nil {
		return nil, err
	}
	versions, err := s.opts.Store.History(c.Request.Context(), typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oo.Wrap(http.StatusNotFound, err, oo.Issuef(oo.SeverityFatal, oo.NotFound, "", "%s/%s is not known to this server.", typ, id))
	}
	if err != nil {
		return nil, err
	}
	if err := s.authorizeStored(c.Request.Context(), versions...); err != nil {
		return nil, err
	}
	b := s.newBundle("history")
	b.Total = len(versions)
	b.Link = []bundleLink{{Relation: "self", URL: s.opts.BaseURL + "/" + typ + "/" + id + "/_history"}}
	for _, v := range versions {
		b.Entry = append(b.Entry, s.historyEntry(v))
	}
	return s.bundleAnswer(b)
}
