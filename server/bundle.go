package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// bundle serves POST [base]: transaction, batch and (mADX) collection
// Bundles.
func (s *Server) bundle(c *gin.Context) (*answer, error) {
	res, err := s.decodeBody(c)
	if err != nil {
		return nil, err
	}
	b, ok := res.(*bcrpb.Bundle)
	if !ok {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, "",
			"POST to the FHIR base takes a Bundle (transaction, batch or collection); the body is a %s. POST it to [base]/%s instead.", resourceType(res), resourceType(res))
	}
	if n := len(b.GetEntry()); n > s.opts.MaxBundleEntries {
		return nil, oo.Errorf(http.StatusRequestEntityTooLarge, oo.TooCostly, "Bundle.entry",
			"The Bundle has %d entries; this server accepts at most %d per Bundle. Split it into several Bundles.", n, s.opts.MaxBundleEntries)
	}
	ctx, err := s.withSnapshot(c.Request.Context())
	if err != nil {
		return nil, err
	}
	auditBundle(ctx, enumCode(b.GetType()), len(b.GetEntry()))
	switch t := b.GetType().GetValue(); t {
	case cpb.BundleTypeCode_TRANSACTION:
		return s.transaction(ctx, b)
	case cpb.BundleTypeCode_BATCH:
		return s.batch(ctx, b)
	case cpb.BundleTypeCode_COLLECTION:
		return s.collection(ctx, b)
	default:
		return nil, oo.Errorf(http.StatusUnprocessableEntity, oo.NotSupported, "Bundle.type",
			"Bundle.type is %q; POST [base] processes transaction, batch and collection Bundles.", enumCode(b.GetType()))
	}
}

// entryPlan is one Bundle entry, understood and (for writes) validated.
type entryPlan struct {
	index  int
	method string
	typ    string
	id     string
	change store.Change // for PUT, POST and DELETE
	p      *prepared
}

// entryPath is the FHIRPath of entry i's resource, the prefix of its issues
// (QRPH-58: expressions inside a Bundle start with Bundle.entry[i].resource).
func entryPath(i int) string { return fmt.Sprintf("Bundle.entry[%d].resource.", i) }

// entryError re-roots an entry's error under Bundle.entry[i].
func entryError(i int, typ string, err error) *oo.Error {
	e := storeError(err)
	issues := oo.Prefix(e.Issues, typ, entryPath(i))
	for j := range issues {
		if len(issues[j].Expression) == 0 {
			issues[j].Expression = []string{fmt.Sprintf("Bundle.entry[%d]", i)}
		}
		issues[j].Diagnostics = fmt.Sprintf("Bundle.entry[%d]: %s", i, issues[j].Diagnostics)
	}
	return oo.Wrap(e.Status, errors.Unwrap(e), issues...)
}

// planEntry understands one entry. For collections (no request), an entry
// whose resource has an id updates that id, otherwise it creates.
func (s *Server) planEntry(ctx context.Context, i int, e *bcrpb.Bundle_Entry, collection bool) (*entryPlan, error) {
	res := unwrapEntry(e)
	plan := &entryPlan{index: i}
	if collection {
		if res == nil {
			return nil, oo.Errorf(http.StatusUnprocessableEntity, oo.Required, fmt.Sprintf("Bundle.entry[%d].resource", i), "A collection entry must carry a resource.")
		}
		plan.method, plan.typ, plan.id = http.MethodPost, resourceType(res), resourceID(res)
		if plan.id != "" {
			plan.method = http.MethodPut
		}
		// The same served-type rule as request.url in a batch or
		// transaction: a collection is no way to store Patients (individual
		// data in an aggregate store) or to overwrite AuditEvents.
		if !knownType(plan.typ) {
			return nil, oo.Errorf(http.StatusUnprocessableEntity, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].resource", i),
				"The entry's resource is a %s, which this server does not store; a collection Bundle carries %s.", plan.typ, strings.Join(servedTypes(), ", "))
		}
	} else {
		req := e.GetRequest()
		if req == nil {
			return nil, oo.Errorf(http.StatusBadRequest, oo.Required, fmt.Sprintf("Bundle.entry[%d].request", i),
				"Bundle.entry[%d].request is missing; every transaction or batch entry needs request.method and request.url.", i)
		}
		plan.method = strings.ToUpper(enumCode(req.GetMethod()))
		var err error
		if plan.typ, plan.id, err = s.entryURL(i, req.GetUrl().GetValue()); err != nil {
			return nil, err
		}
		if !knownType(plan.typ) {
			return nil, oo.Errorf(http.StatusNotFound, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.url", i),
				"Resource type %q is not supported by this server; it serves %s.", plan.typ, strings.Join(servedTypes(), ", "))
		}
		if err := refuseConditionalCreate(req.GetIfNoneExist().GetValue(), fmt.Sprintf("Bundle.entry[%d].request.ifNoneExist", i)); err != nil {
			return nil, err
		}
		if req.GetIfMatch().GetValue() != "" {
			var err error
			if plan.change.IfMatch, err = parseVersionTag(req.GetIfMatch().GetValue()); err != nil {
				return nil, oo.Errorf(http.StatusBadRequest, oo.Value, fmt.Sprintf("Bundle.entry[%d].request.ifMatch", i), "ifMatch %q is not a version tag like W/\"3\".", req.GetIfMatch().GetValue())
			}
		}
	}
	// Each entry needs its own scope: a Bundle is no way around them.
	if err := authorizeEntry(ctx, plan.typ, plan.method); err != nil {
		return nil, err
	}
	switch plan.method {
	case http.MethodGet:
		if plan.id == "" {
			return nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.url", i), "Only reads (GET Type/id) are supported inside Bundles.")
		}
		return plan, nil
	case http.MethodDelete:
		if plan.id == "" {
			return nil, oo.Errorf(http.StatusBadRequest, oo.Required, fmt.Sprintf("Bundle.entry[%d].request.url", i), "DELETE needs Type/id in request.url.")
		}
		plan.change = store.Change{Type: plan.typ, ID: plan.id, Delete: true, IfMatch: plan.change.IfMatch}
		return plan, nil
	case http.MethodPut, http.MethodPost:
	default:
		return nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.method", i),
			"request.method %q is not supported in Bundles; use PUT, POST, DELETE or GET.", plan.method)
	}
	if res == nil {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Required, fmt.Sprintf("Bundle.entry[%d].resource", i), "A %s entry must carry a resource.", plan.method)
	}
	if got := resourceType(res); got != plan.typ {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, fmt.Sprintf("Bundle.entry[%d].resource", i),
			"The entry's resource is a %s but request.url names %s.", got, plan.typ)
	}
	ifMatch := plan.change.IfMatch
	if plan.method == http.MethodPut {
		if plan.id == "" {
			return nil, oo.Errorf(http.StatusBadRequest, oo.Required, fmt.Sprintf("Bundle.entry[%d].request.url", i), "PUT needs Type/id in request.url.")
		}
		if bid := resourceID(res); bid != plan.id {
			return nil, oo.Errorf(http.StatusBadRequest, oo.Invalid, fmt.Sprintf("Bundle.entry[%d].resource.id", i),
				"The resource id is %q but request.url names %q; they must be equal.", bid, plan.id)
		}
	} else {
		plan.id = s.opts.NewID()
		setID(res, plan.id)
	}
	p, err := s.prepare(ctx, res)
	if err != nil {
		return nil, err
	}
	plan.p = p
	plan.change.IfMatch = ifMatch
	return plan, nil
}

// finishEntry applies the resubmission rule to a planned write, given the
// holders of the Bundle's report keys, and renders the change to store.
func (s *Server) finishEntry(plan *entryPlan, holders map[string]string) error {
	if plan.p == nil {
		return nil
	}
	existing, err := applyReportKey(plan.p, holders, plan.method == http.MethodPost)
	if err != nil {
		return err
	}
	plan.id = plan.p.id
	ifMatch := plan.change.IfMatch
	if plan.change, err = s.change(plan.p); err != nil {
		return err
	}
	plan.change.IfMatch = ifMatch
	plan.change.CreateOnly = plan.method == http.MethodPost && !existing
	// As for a single PUT (and madx load): an update that changes nothing
	// makes no new version.
	plan.change.SkipUnchanged = plan.method == http.MethodPut
	return nil
}

// planOne plans a single entry, its report key looked up on its own (batch
// entries are independent and processed one by one).
func (s *Server) planOne(ctx context.Context, i int, e *bcrpb.Bundle_Entry) (*entryPlan, error) {
	plan, err := s.planEntry(ctx, i, e, false)
	if err != nil {
		return nil, err
	}
	holders, err := s.reportKeyHolders(ctx, []*entryPlan{plan})
	if err != nil {
		return nil, err
	}
	if err := s.finishEntry(plan, holders); err != nil {
		return nil, err
	}
	return plan, nil
}

// reportKeyHolders looks up the report keys of plans in one store query.
func (s *Server) reportKeyHolders(ctx context.Context, plans []*entryPlan) (map[string]string, error) {
	var keys []string
	for _, p := range plans {
		if k := p.reportKey(); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return s.opts.Store.ReportKeyHolders(ctx, keys)
}

// unwrapEntry returns an entry's resource, or nil.
func unwrapEntry(e *bcrpb.Bundle_Entry) proto.Message {
	if e.GetResource() == nil {
		return nil
	}
	return unwrap(e.GetResource())
}

// entryURL splits request.url ("Type", "Type/id", or the same under the
// server's base URL) into type and id.
func (s *Server) entryURL(i int, raw string) (typ, id string, err error) {
	u := strings.TrimPrefix(raw, s.opts.BaseURL+"/")
	if strings.ContainsAny(u, "?#") || strings.Contains(u, "://") {
		return "", "", oo.Errorf(http.StatusNotImplemented, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.url", i),
			"request.url %q is not supported; use Type or Type/id (conditional and search URLs are not processed in Bundles).", raw)
	}
	parts := strings.Split(strings.Trim(u, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return parts[0], "", nil
	case len(parts) == 2:
		if err := checkID(parts[1]); err != nil {
			return "", "", entryError(i, "", err)
		}
		return parts[0], parts[1], nil
	}
	return "", "", oo.Errorf(http.StatusBadRequest, oo.Value, fmt.Sprintf("Bundle.entry[%d].request.url", i), "request.url %q is not Type or Type/id.", raw)
}
