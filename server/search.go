package server

import (
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

// Paging limits (issue #6): 50 entries a page unless _count says, at most
// 1,000 so that one page stays one bounded read.
const (
	defaultCount = 50
	maxCount     = 1000
)

// resultParams are the search result parameters madx understands;
// _format and _pretty belong to content negotiation.
var resultParams = []string{"_count", "_sort", "_total", "_summary", "_elements", "_cursor", "_format", "_pretty"}

// sortParams maps _sort values to the store's sort fields.
var sortParams = map[string]store.Field{"_id": store.FieldID, "_lastUpdated": store.FieldLastUpdated, "period": store.FieldPeriodStart, "date": store.FieldDateStart}

// searchRequest is a parsed search: the store query and what shapes the
// answer.
type searchRequest struct {
	typ      string
	query    store.Query
	kept     url.Values // the parameters applied, for the links
	ignored  []string   // unknown parameters, reported in an outcome entry
	sortName string
	backward bool // the cursor points to the previous page
	count    bool // _summary=count
	elements []string
}

// search serves GET [base]/Type and POST [base]/Type/_search (FHIR R4
// search.html): AND across parameters, OR across comma-separated values,
// keyset paging through an opaque _cursor.
func (s *Server) search(c *gin.Context) (*answer, error) {
	params, err := searchValues(c.Request)
	if err != nil {
		return nil, err
	}
	req, err := s.parseSearch(c, s.typeOf(c), params)
	if err != nil {
		return nil, err
	}
	q := req.query
	if err := s.pipe.LimitSearch(c.Request.Context(), &q); err != nil {
		return nil, err
	}
	if req.count {
		q.Count, q.Total = 0, true
	}
	if req.backward {
		q.Sort.Desc = !q.Sort.Desc
	}
	page, err := s.opts.Store.Search(c.Request.Context(), q)
	if err != nil {
		return nil, err
	}
	if req.backward {
		slices.Reverse(page.Resources)
	}
	return s.searchBundle(req, page)
}

// maxSearchTerms caps the parameters and comma-separated values of one
// search: the work is linear in them, but a client must not make a request
// cost what a thousand do (issue 14). A facility list this long belongs in
// the token's rights, which have no such cap.
const maxSearchTerms = 10000

// countValues counts a search's parameters and their comma-separated
// alternatives.
func countValues(params url.Values) int {
	n := 0
	for _, vs := range params {
		for _, v := range vs {
			n += 1 + strings.Count(v, ",")
		}
	}
	return n
}

// queryValues reads the query string strictly: a filter that cannot be
// read (a bad %-escape, a raw ';') is a 400, never dropped, since a dropped
// subject= would widen a search (issue 14). net/http's URL.Query() skips
// such pairs silently.
func queryValues(r *http.Request) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Structure, "",
			"The query string cannot be read (%v); escape '%%', ';' and other reserved characters as %%XX.", err)
	}
	return v, nil
}

// searchValues reads the parameters of a search: the query string, plus a
// form body on POST (search.html#search-post).
func searchValues(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return queryValues(r)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.ContentLength != 0 && mt != "application/x-www-form-urlencoded" {
		return nil, oo.Errorf(http.StatusUnsupportedMediaType, oo.NotSupported, "",
			"POST [base]/[type]/_search takes an application/x-www-form-urlencoded body, not %q.", r.Header.Get("Content-Type"))
	}
	if err := r.ParseForm(); err != nil {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Structure, "", "The search form body cannot be read: %v.", err)
	}
	return r.Form, nil
}

func (s *Server) parseSearch(c *gin.Context, typ string, params url.Values) (*searchRequest, error) {
	req := &searchRequest{typ: typ, kept: url.Values{}, query: store.Query{Type: typ, Count: defaultCount, Total: true}}
	if spec, _ := resourceSpec(typ); spec.DefaultSort != "" {
		if err := req.resultParam("_sort", spec.DefaultSort, nil); err != nil {
			return nil, err
		}
	}
	known := searchParams(typ)
	if n := countValues(params); n > maxSearchTerms {
		return nil, oo.Errorf(http.StatusBadRequest, oo.TooCostly, "",
			"The search has %d parameters and values; this server takes at most %d per search (docs/search.md). Split it into several searches.", n, maxSearchTerms)
	}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	var cursor string
	for _, full := range names {
		name, modifier, _ := strings.Cut(full, ":")
		values := params[full]
		if contains(resultParams, name) {
			v := values[len(values)-1]
			if err := req.resultParam(name, v, &cursor); err != nil {
				return nil, err
			}
			if name != "_cursor" && name != "_format" && name != "_pretty" {
				req.kept.Set(name, v)
			}
			continue
		}
		p, ok := known[name]
		if !ok {
			req.ignored = append(req.ignored, full)
			continue
		}
		for _, v := range values {
			cl, err := s.compileParam(c.Request.Context(), typ, p, modifier, v)
			if err != nil {
				return nil, err
			}
			req.query.Where = append(req.query.Where, cl)
			req.kept.Add(full, v)
		}
	}
	if len(req.ignored) > 0 && strictHandling(c.Request) {
		return nil, oo.Errorf(http.StatusBadRequest, oo.NotSupported, "",
			"Unknown search parameters for %s: %s (Prefer: handling=strict); see [base]/metadata for those served.", typ, strings.Join(req.ignored, ", "))
	}
	if cursor != "" {
		if err := req.decodeCursor(cursor); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func (req *searchRequest) resultParam(name, v string, cursor *string) error {
	switch name {
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badParam(name, "%q is not a non-negative integer.", v)
		}
		req.query.Count = min(n, maxCount)
	case "_sort":
		desc := strings.HasPrefix(v, "-")
		f, ok := sortField(req.typ, strings.TrimPrefix(v, "-"))
		if !ok || strings.Contains(v, ",") {
			return badParam(name, "%q is not supported; sort by one of _id, _lastUpdated, period, date, with - for descending.", v)
		}
		req.query.Sort, req.sortName = store.Sort{Field: f, Desc: desc}, v
	case "_total":
		switch v {
		case "none":
			req.query.Total = false
		case "estimate", "accurate":
		default:
			return badParam(name, "%q is not one of none, estimate, accurate.", v)
		}
	case "_summary":
		switch v {
		case "count":
			req.count = true
		case "false":
		default:
			return badParam(name, "%q is not supported; use count or false.", v)
		}
	case "_elements":
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				req.elements = append(req.elements, e)
			}
		}
	case "_cursor":
		*cursor = v
	}
	return nil
}

// The cursor is opaque to clients: base64url of "direction|sort|micros|id",
// the keyset position (sort value, id) of the first or last entry of the
// page it came from. The type and the sort are part of the link around it,
// and the sort is repeated inside so a cursor pasted under another _sort is
// refused rather than misread.
func encodeCursor(backward bool, sortName string, k store.Key) string {
	dir := "n"
	if backward {
		dir = "p"
	}
	t := ""
	if !k.Time.IsZero() {
		t = strconv.FormatInt(k.Time.UnixMicro(), 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(dir + "|" + sortName + "|" + t + "|" + k.ID))
}

func (req *searchRequest) decodeCursor(v string) error {
	bad := badParam("_cursor", "the value is not a cursor this server gave for this search; follow the Bundle links.")
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return bad
	}
	parts := strings.SplitN(string(b), "|", 4)
	if len(parts) != 4 || (parts[0] != "n" && parts[0] != "p") || parts[1] != req.sortName {
		return bad
	}
	k := store.Key{ID: parts[3]}
	if parts[2] != "" {
		us, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return bad
		}
		k.Time = time.UnixMicro(us).UTC()
	}
	req.query.After, req.backward = &k, parts[0] == "p"
	return nil
}

// link is the URL of this search with a cursor.
func (s *Server) searchLink(req *searchRequest, cursor string) string {
	v := url.Values{}
	for k, vs := range req.kept {
		v[k] = vs
	}
	if cursor != "" {
		v.Set("_cursor", cursor)
	}
	u := s.opts.BaseURL + "/" + req.typ
	if enc := v.Encode(); enc != "" {
		u += "?" + enc
	}
	return u
}

// links are the self, next and previous links of a page.
func (s *Server) searchLinks(req *searchRequest, page store.Page) []bundleLink {
	self := ""
	if req.query.After != nil {
		self = encodeCursor(req.backward, req.sortName, *req.query.After)
	}
	links := []bundleLink{{Relation: "self", URL: s.searchLink(req, self)}}
	if len(page.Resources) == 0 {
		return links
	}
	first := req.query.Sort.KeyOf(page.Resources[0])
	last := req.query.Sort.KeyOf(page.Resources[len(page.Resources)-1])
	// Going forward, a next page exists when the store says so, a previous
	// one when this page came from a cursor; going backward, the reverse.
	hasNext, hasPrev := page.More, req.query.After != nil
	if req.backward {
		hasNext, hasPrev = true, page.More
	}
	if hasNext {
		links = append(links, bundleLink{Relation: "next", URL: s.searchLink(req, encodeCursor(false, req.sortName, last))})
	}
	if hasPrev {
		links = append(links, bundleLink{Relation: "previous", URL: s.searchLink(req, encodeCursor(true, req.sortName, first))})
	}
	return links
}

func (req *searchRequest) ignoredOutcome() []oo.Issue {
	var issues []oo.Issue
	for _, p := range req.ignored {
		issues = append(issues, oo.Issuef(oo.SeverityWarning, oo.NotSupported, "",
			"The search parameter %s is not known for %s and was ignored; send Prefer: handling=strict to have it rejected.", p, req.typ))
	}
	return issues
}
