package server

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	parpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/parameters_go_proto"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/server/pipeline"
	"google.golang.org/protobuf/proto"
)

// validateOp serves POST [base]/Type/$validate and
// POST [base]/Type/[id]/$validate (FHIR R4 resource-operation-validate):
// the write pipeline runs every decision the create, update or delete
// would make, including the caller's rights and If-Match, and stops before
// the commit. The answer is 200 with an OperationOutcome whether or not the
// resource would be accepted; a 4xx or 5xx means the validation itself
// could not be done (an unreadable body, a missing scope to call it).
func (s *Server) validateOp(c *gin.Context) (*answer, error) {
	typ, id := s.typeOf(c), c.Param("id")
	if id != "" {
		if err := pipeline.CheckID(id); err != nil {
			return nil, err
		}
	}
	mode := c.Query("mode")
	var res proto.Message
	if c.Request.ContentLength != 0 || mode != "delete" {
		var err error
		if res, err = s.decodeBody(c); err != nil {
			return nil, err
		}
	}
	if params, ok := res.(*parpb.Parameters); ok && typ != "Parameters" {
		var err error
		if res, mode, err = validateParameters(params, mode); err != nil {
			return nil, err
		}
	}
	in := pipeline.Intent{Type: typ, ID: id, Resource: res, IfMatch: c.GetHeader("If-Match")}
	switch {
	case mode == "" && id == "", mode == "create":
		in.Op = pipeline.Create
	case mode == "" || mode == "update":
		in.Op = pipeline.Update
	case mode == "delete":
		in.Op, in.Resource = pipeline.Delete, nil
	default:
		return nil, oo.Errorf(http.StatusBadRequest, oo.Value, "",
			"mode is %q; this server validates as create, update or delete (the default: create at [base]/%s/$validate, update at [base]/%s/[id]/$validate).", mode, typ, typ)
	}
	if in.Op == pipeline.Update && id == "" {
		return nil, oo.Errorf(http.StatusBadRequest, oo.Required, "",
			"mode %s needs the id: call [base]/%s/[id]/$validate.", mode, typ)
	}
	ctx, err := s.pipe.WithSnapshot(c.Request.Context())
	if err != nil {
		return nil, err
	}
	pl, err := s.pipe.Validate(ctx, in)
	var issues []oo.Issue
	switch {
	case err != nil:
		e := storeError(err)
		if e.Status >= 500 {
			return nil, err
		}
		issues = e.Issues
	case len(pl.Warnings()) > 0:
		issues = pl.Warnings()
	default:
		issues = []oo.Issue{oo.Issuef(oo.SeverityInformation, oo.Informational, "",
			"%s: the %s would be accepted. Nothing was stored.", validatedWhat(in), in.Op)}
	}
	body, err := s.opts.JSON.Encode(oo.Resource(issues), false)
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: body}, nil
}

// validateParameters reads the Parameters form of $validate: resource,
// and mode (a query parameter of the same name is overridden).
func validateParameters(params *parpb.Parameters, mode string) (proto.Message, string, error) {
	var res proto.Message
	for i, p := range params.GetParameter() {
		switch name := p.GetName().GetValue(); name {
		case "resource":
			cr := &bcrpb.ContainedResource{}
			if p.GetResource() == nil || p.GetResource().UnmarshalTo(cr) != nil {
				return nil, "", oo.Errorf(http.StatusBadRequest, oo.Required, fmt.Sprintf("Parameters.parameter[%d].resource", i),
					"The parameter resource carries no resource.")
			}
			res = pipeline.Unwrap(cr)
		case "mode":
			v := p.GetValue()
			mode = v.GetCode().GetValue()
			if mode == "" {
				mode = v.GetStringValue().GetValue()
			}
		case "profile":
			// The Measure's profile is the one madx validates against.
		default:
			return nil, "", oo.Errorf(http.StatusBadRequest, oo.NotSupported, fmt.Sprintf("Parameters.parameter[%d]", i),
				"$validate takes the parameters resource, mode and profile; %q is not one of them.", name)
		}
	}
	if res == nil && mode != "delete" {
		return nil, "", oo.Errorf(http.StatusBadRequest, oo.Required, "Parameters.parameter",
			"The Parameters carry no parameter named resource: expected the resource to validate.")
	}
	return res, mode, nil
}

func validatedWhat(in pipeline.Intent) string {
	if in.ID != "" {
		return in.Type + "/" + in.ID
	}
	return "The " + in.Type
}
