package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/madx-project/madx/store"
)

// outBundle is a Bundle the server writes. It is built as JSON around the
// stored resource bodies (json.RawMessage), so answering never decodes and
// re-encodes what is stored; XML answers convert the result once.
type outBundle struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Meta         *bundleMeta  `json:"meta,omitempty"`
	Type         string       `json:"type"`
	Total        int          `json:"total,omitempty"`
	Link         []bundleLink `json:"link,omitempty"`
	Entry        []outEntry   `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type outEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

const instantLayout = "2006-01-02T15:04:05.000000Z07:00"

func (s *Server) newBundle(typ string) *outBundle {
	return &outBundle{ResourceType: "Bundle", ID: s.opts.NewID(), Type: typ,
		Meta: &bundleMeta{LastUpdated: s.opts.Now().UTC().Format(instantLayout)}}
}

func (s *Server) fullURL(r store.Resource) string {
	return s.opts.BaseURL + "/" + r.Type + "/" + r.ID
}

func statusLine(code int) string {
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

// historyEntry is one version in a history Bundle (FHIR R4 http.html#history:
// deletions carry a request but no resource).
func (s *Server) historyEntry(v store.Resource) outEntry {
	e := outEntry{FullURL: s.fullURL(v),
		Request:  &entryRequest{Method: http.MethodPut, URL: v.Type + "/" + v.ID},
		Response: &entryResponse{Status: statusLine(http.StatusOK), Etag: fmt.Sprintf(`W/"%d"`, v.VersionID), LastModified: v.LastUpdated.UTC().Format(instantLayout)}}
	switch {
	case v.Deleted:
		e.Request.Method = http.MethodDelete
		e.Response.Status = statusLine(http.StatusNoContent)
	case v.VersionID == 1:
		e.Request.Method = http.MethodPost
		e.Request.URL = v.Type
		e.Response.Status = statusLine(http.StatusCreated)
		e.Resource = v.Body
	default:
		e.Resource = v.Body
	}
	return e
}

func (s *Server) bundleAnswer(b *outBundle) (*answer, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s bundle: %w", b.Type, err)
	}
	return &answer{status: http.StatusOK, body: body}, nil
}
