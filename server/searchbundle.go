package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

// searchset is a Bundle of type searchset, built as JSON around the stored
// bodies like the other Bundles (bundlejson.go). Total is a pointer: a
// total of 0 must be written, no total at all with _total=none.
type searchset struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         *bundleMeta   `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []searchEntry `json:"entry,omitempty"`
}

type searchEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource"`
	Search   entrySearch     `json:"search"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

func (s *Server) searchBundle(req *searchRequest, page store.Page) (*answer, error) {
	b := &searchset{ResourceType: "Bundle", ID: s.opts.NewID(), Type: "searchset",
		Meta: &bundleMeta{LastUpdated: s.opts.Now().UTC().Format(instantLayout)}}
	if page.Total >= 0 {
		b.Total = &page.Total
	}
	if req.count {
		b.Link = []bundleLink{{Relation: "self", URL: s.searchLink(req, "")}}
	} else {
		b.Link = s.searchLinks(req, page)
		for _, r := range page.Resources {
			body := r.Body
			if len(req.elements) > 0 {
				var err error
				if body, err = subset(body, req.elements); err != nil {
					return nil, fmt.Errorf("search %s: _elements of %s: %w", req.typ, r.ID, err)
				}
			}
			b.Entry = append(b.Entry, searchEntry{FullURL: s.fullURL(r), Resource: body, Search: entrySearch{Mode: "match"}})
		}
	}
	if issues := req.ignoredOutcome(); len(issues) > 0 {
		out, err := s.opts.JSON.Encode(oo.Resource(issues), false)
		if err != nil {
			return nil, fmt.Errorf("search %s: encode outcome: %w", req.typ, err)
		}
		b.Entry = append(b.Entry, searchEntry{Resource: out, Search: entrySearch{Mode: "outcome"}})
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode searchset: %w", err)
	}
	return &answer{status: http.StatusOK, body: body}, nil
}

// mandatory elements stay in an _elements subset (search.html#elements),
// with meta for the SUBSETTED tag.
var mandatory = []string{"resourceType", "id", "meta"}

// subset keeps the named top-level elements of a stored body (and their
// primitive extensions, "_name") and tags it SUBSETTED, keeping the order
// of the original.
func subset(body []byte, elements []string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteByte('{')
	hasMeta := false
	first := true
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		name := key
		if len(name) > 1 && name[0] == '_' {
			name = name[1:]
		}
		if !slices.Contains(mandatory, name) && !slices.Contains(elements, name) {
			continue
		}
		if key == "meta" {
			hasMeta = true
			if raw, err = tagSubsetted(raw); err != nil {
				return nil, err
			}
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(raw)
	}
	if !hasMeta {
		m, _ := tagSubsetted([]byte(`{}`))
		if !first {
			out.WriteByte(',')
		}
		out.WriteString(`"meta":`)
		out.Write(m)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// subsettedTag is the v3 ObservationValue code FHIR requires on a subset.
var subsettedTag = map[string]string{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

func tagSubsetted(meta json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, err
	}
	var tags []json.RawMessage
	if t, ok := m["tag"]; ok {
		if err := json.Unmarshal(t, &tags); err != nil {
			return nil, err
		}
	}
	tag, _ := json.Marshal(subsettedTag)
	tags = append(tags, tag)
	m["tag"], _ = json.Marshal(tags)
	return json.Marshal(m)
}
