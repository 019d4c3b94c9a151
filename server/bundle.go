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
	"github.com/madx-project/madx/server/pipeline"
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
			"POST to the FHIR base takes a Bundle (transaction, batch or collection); the body is a %s. POST it to [base]/%s instead.", pipeline.ResourceType(res), pipeline.ResourceType(res))
	}
	if n := len(b.GetEntry()); n > s.opts.MaxBundleEntries {
		return nil, oo.Errorf(http.StatusRequestEntityTooLarge, oo.TooCostly, "Bundle.entry",
			"The Bundle has %d entries; this server accepts at most %d per Bundle. Split it into several Bundles.", n, s.opts.MaxBundleEntries)
	}
	ctx, err := s.pipe.WithSnapshot(c.Request.Context())
	if err != nil {
		return nil, err
	}
	auditBundle(ctx, pipeline.EnumCode(b.GetType()), len(b.GetEntry()))
	switch t := b.GetType().GetValue(); t {
	case cpb.BundleTypeCode_TRANSACTION:
		return s.transaction(ctx, b)
	case cpb.BundleTypeCode_BATCH:
		return s.batch(ctx, b)
	case cpb.BundleTypeCode_COLLECTION:
		return s.collection(ctx, b)
	default:
		return nil, oo.Errorf(http.StatusUnprocessableEntity, oo.NotSupported, "Bundle.type",
			"Bundle.type is %q; POST [base] processes transaction, batch and collection Bundles.", pipeline.EnumCode(b.GetType()))
	}
}

// entryPlan is one Bundle entry: a read, or a write the pipeline planned.
type entryPlan struct {
	index  int
	method string
	typ    string
	id     string
	write  *pipeline.Planned // nil for a read
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

// entryIntent reads one entry as a read (GET Type/id) or a write intent.
// For collections (no request), an entry whose resource has an id updates
// that id, otherwise it creates. Everything about the write itself is
// decided by the pipeline.
func (s *Server) entryIntent(ctx context.Context, i int, e *bcrpb.Bundle_Entry, collection bool) (*entryPlan, *pipeline.Intent, error) {
	res := unwrapEntry(e)
	plan := &entryPlan{index: i}
	in := &pipeline.Intent{Resource: res}
	if collection {
		if res == nil {
			return nil, nil, oo.Errorf(http.StatusUnprocessableEntity, oo.Required, fmt.Sprintf("Bundle.entry[%d].resource", i), "A collection entry must carry a resource.")
		}
		plan.method, plan.typ, plan.id = http.MethodPost, pipeline.ResourceType(res), pipeline.ResourceID(res)
		if plan.id != "" {
			plan.method = http.MethodPut
		}
	} else {
		req := e.GetRequest()
		if req == nil {
			return nil, nil, oo.Errorf(http.StatusBadRequest, oo.Required, fmt.Sprintf("Bundle.entry[%d].request", i),
				"Bundle.entry[%d].request is missing; every transaction or batch entry needs request.method and request.url.", i)
		}
		plan.method = strings.ToUpper(pipeline.EnumCode(req.GetMethod()))
		var err error
		if plan.typ, plan.id, err = s.entryURL(i, req.GetUrl().GetValue()); err != nil {
			return nil, nil, err
		}
		in.Request = fmt.Sprintf("Bundle.entry[%d].request", i)
		in.IfMatch, in.IfNoneExist = req.GetIfMatch().GetValue(), req.GetIfNoneExist().GetValue()
	}
	in.Type, in.ID = plan.typ, plan.id
	switch plan.method {
	case http.MethodGet:
		if !knownType(plan.typ) {
			return nil, nil, oo.Errorf(http.StatusNotFound, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.url", i),
				"Resource type %q is not supported by this server; it serves %s.", plan.typ, strings.Join(servedTypes(), ", "))
		}
		if plan.id == "" {
			return nil, nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.url", i), "Only reads (GET Type/id) are supported inside Bundles.")
		}
		if err := authorizeEntryRead(ctx, plan.typ); err != nil {
			return nil, nil, err
		}
		return plan, nil, nil
	case http.MethodDelete:
		in.Op, in.Resource = pipeline.Delete, nil
	case http.MethodPut:
		in.Op = pipeline.Update
	case http.MethodPost:
		in.Op = pipeline.Create
	default:
		return nil, nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, fmt.Sprintf("Bundle.entry[%d].request.method", i),
			"request.method %q is not supported in Bundles; use PUT, POST, DELETE or GET.", plan.method)
	}
	return plan, in, nil
}

// unwrapEntry returns an entry's resource, or nil.
func unwrapEntry(e *bcrpb.Bundle_Entry) proto.Message {
	if e.GetResource() == nil {
		return nil
	}
	return pipeline.Unwrap(e.GetResource())
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
		if err := pipeline.CheckID(parts[1]); err != nil {
			return "", "", entryError(i, "", err)
		}
		return parts[0], parts[1], nil
	}
	return "", "", oo.Errorf(http.StatusBadRequest, oo.Value, fmt.Sprintf("Bundle.entry[%d].request.url", i), "request.url %q is not Type or Type/id.", raw)
}
