package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	oo "github.com/madx-project/madx/operationoutcome"
)

// completenessOp serves GET/POST [base]/Measure/[id]/$completeness
// (docs/reporting.md). Not built yet.
func (s *Server) completenessOp(c *gin.Context) (*answer, error) {
	return nil, oo.Errorf(http.StatusNotImplemented, oo.NotSupported, "", "The operation $completeness is not implemented yet.")
}
