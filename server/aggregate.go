package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
)

// aggregateOp serves GET/POST [base]/Measure/[id]/$aggregate
// (docs/aggregation.md). Not built yet.
func (s *Server) aggregateOp(c *gin.Context) (*answer, error) {
	return nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, "", "The operation $aggregate is not implemented yet.")
}
