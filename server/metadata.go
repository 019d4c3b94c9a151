package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/madx-project/madx/conformance"
)

// Version is madx's version, reported in the CapabilityStatement.
var Version = "0.1.0-dev"

func (s *Server) metadata(c *gin.Context) (*answer, error) {
	formats := []string{conformance.MediaFHIRJSON, "json"}
	if s.opts.XML != nil {
		formats = append(formats, conformance.MediaFHIRXML, "xml")
	}
	body, err := conformance.CapabilityStatement(conformance.CapabilityOptions{
		BaseURL: s.opts.BaseURL, Version: Version, Date: s.started, Formats: formats,
		Security: s.securityDescription(),
	})
	if err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, body: body}, nil
}
