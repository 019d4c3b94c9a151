package server

import (
	"context"
	"net/http"

	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// prepared is a decoded resource that passed the business rules and is
// ready to be written.
type prepared struct {
	res      proto.Message
	typ, id  string
	index    store.Index
	warnings []oo.Issue
}

// prepare runs the business rules of the resource's type and extracts its
// index. Rule violations give a 422 OperationOutcome with every issue.
func (s *Server) prepare(ctx context.Context, res proto.Message) (*prepared, error) {
	p := &prepared{res: res, typ: resourceType(res), id: resourceID(res), index: extractIndex(res)}
	auditPrepared(ctx, p)
	issues, err := s.validate(ctx, p)
	if err != nil {
		return nil, err
	}
	if oo.HasProblems(issues) {
		return nil, oo.New(http.StatusUnprocessableEntity, issues...)
	}
	p.warnings = issues
	if p.typ != "MeasureReport" {
		// Definitions are small and rarely written: hash them so a reload of
		// the same content is not a new version.
		p.index.ContentHash = contentHash(res, func(m proto.Message) ([]byte, error) { return s.opts.JSON.Encode(m, false) })
	}
	return p, nil
}

// change turns a prepared resource into a store change. It encodes the
// body now (see render.go), so it must come after every decision that
// changes the resource (such as the id a resubmitted report takes).
func (s *Server) change(p *prepared) (store.Change, error) {
	render, err := s.preRender(p.res)
	if err != nil {
		return store.Change{}, err
	}
	return store.Change{Type: p.typ, ID: p.id, Index: p.index, Render: render}, nil
}
