package server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/internal/fhirtime"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
)

// historyType serves GET [base]/Type/_history.
func (s *Server) historyType(c *gin.Context) (*answer, error) {
	return s.historyFeed(c, s.typeOf(c))
}

// historySystem serves GET [base]/_history: every change of every type the
// caller may read, newest first, the feed an HMIS sync pulls with _since.
func (s *Server) historySystem(c *gin.Context) (*answer, error) {
	return s.historyFeed(c, "")
}

var historyParams = []string{"_since", "_at", "_count", "_cursor", "_format", "_pretty"}

// historyFeed pages through versions with a keyset cursor (time, type, id,
// version), so a client paging while reports arrive sees no version twice
// and misses none that existed when it started (FHIR R4 http.html#history).
func (s *Server) historyFeed(c *gin.Context, typ string) (*answer, error) {
	params, err := queryValues(c.Request)
	if err != nil {
		return nil, err
	}
	q := store.HistoryQuery{Type: typ, Count: defaultCount}
	if err := s.pipe.LimitFeed(c.Request.Context(), &q, feedTypes()); err != nil {
		return nil, err
	}
	kept := map[string]string{}
	var ignored []string
	for name, vs := range params {
		v := vs[len(vs)-1]
		switch name {
		case "_since":
			lo, _, err := fhirtime.SearchRange(v)
			if err != nil {
				return nil, badParam(name, "%v.", err)
			}
			q.Since = lo
		case "_at":
			lo, hi, err := fhirtime.SearchRange(v)
			if err != nil {
				return nil, badParam(name, "%v.", err)
			}
			q.AtLo, q.AtHi = lo, hi
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, badParam(name, "%q is not a non-negative integer.", v)
			}
			q.Count = min(n, maxCount)
		case "_cursor":
			k, err := decodeVersionCursor(v)
			if err != nil {
				return nil, err
			}
			q.After = &k
			continue
		case "_format", "_pretty":
			continue
		default:
			ignored = append(ignored, name)
			continue
		}
		kept[name] = v
	}
	if len(ignored) > 0 && strictHandling(c.Request) {
		slices.Sort(ignored)
		return nil, oo.Errorf(http.StatusBadRequest, oo.NotSupported, "",
			"Unknown history parameters: %s (Prefer: handling=strict); history takes %s.", strings.Join(ignored, ", "), strings.Join(historyParams[:4], ", "))
	}
	page, err := s.opts.Store.HistoryPage(c.Request.Context(), q)
	if err != nil {
		return nil, err
	}
	path := s.opts.BaseURL + "/_history"
	if typ != "" {
		path = s.opts.BaseURL + "/" + typ + "/_history"
	}
	link := func(cursor string) string {
		v := make(map[string][]string, len(kept)+1)
		for k, x := range kept {
			v[k] = []string{x}
		}
		if cursor != "" {
			v["_cursor"] = []string{cursor}
		}
		if enc := url.Values(v).Encode(); enc != "" {
			return path + "?" + enc
		}
		return path
	}
	b := s.newBundle("history")
	self := ""
	if q.After != nil {
		self = encodeVersionCursor(*q.After)
	}
	b.Link = []bundleLink{{Relation: "self", URL: link(self)}}
	if page.More && len(page.Resources) > 0 {
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: link(encodeVersionCursor(store.VersionKeyOf(page.Resources[len(page.Resources)-1])))})
	}
	for _, v := range page.Resources {
		b.Entry = append(b.Entry, s.historyEntry(v))
	}
	return s.bundleAnswer(b)
}

// A history cursor is base64url of "micros|type|id|version": the position
// of the last version of the page it came from.
func encodeVersionCursor(k store.VersionKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(k.Time.UnixMicro(), 10) + "|" + k.Type + "|" + k.ID + "|" + strconv.FormatInt(k.VersionID, 10)))
}

func decodeVersionCursor(v string) (store.VersionKey, error) {
	bad := badParam("_cursor", "the value is not a cursor this server gave for this history; follow the Bundle links.")
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return store.VersionKey{}, bad
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 4 {
		return store.VersionKey{}, bad
	}
	us, err1 := strconv.ParseInt(parts[0], 10, 64)
	vid, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return store.VersionKey{}, bad
	}
	return store.VersionKey{Time: time.UnixMicro(us).UTC(), Type: parts[1], ID: parts[2], VersionID: vid}, nil
}
