package main

import (
	"context"
	"net/http"

	"github.com/madx-project/madx/conformance/fhirxml"
	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/rs/zerolog"
)

func openMongo(ctx context.Context, uri, database string) (store.Store, error) {
	return mongo.Open(ctx, mongo.Options{URI: uri, Database: database})
}

// newHandler wires the FHIR server over a store with madx's codecs.
func newHandler(st store.Store, log zerolog.Logger, baseURL, basePath string, maxBody int64, maxBundleEntries int) (http.Handler, error) {
	jsonCodec, err := server.NewJSONFormatCodec()
	if err != nil {
		return nil, err
	}
	return server.New(server.Options{
		Store: st, JSON: jsonCodec, XML: server.CodecOf(fhirxml.Unmarshal, fhirxml.Marshal), Logger: log,
		BaseURL: baseURL, BasePath: basePath,
		MaxBody: maxBody, MaxBundleEntries: maxBundleEntries,
	})
}
