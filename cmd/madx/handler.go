package main

import (
	"context"
	"time"

	"github.com/madx-project/madx/measures"
	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/rs/zerolog"
)

func openMongo(ctx context.Context, uri, database string) (store.Store, error) {
	return mongo.Open(ctx, mongo.Options{URI: uri, Database: database})
}

// handlerOptions are the server settings the subcommands choose.
type handlerOptions struct {
	baseURL, basePath string
	maxBody           int64
	maxBundleEntries  int
	maxHeaderBytes    int
	bodyRate          server.BodyRate
	asyncRetention    time.Duration
	validation        measures.Options
	security          server.Security
	forwarding        server.Forwarding
}

// newHandler wires the FHIR server over a store with madx's codecs.
func newHandler(st store.Store, log zerolog.Logger, o handlerOptions) (*server.Server, error) {
	return server.New(server.Options{
		Store: st, Logger: log,
		BaseURL: o.baseURL, BasePath: o.basePath,
		MaxBody: o.maxBody, MaxBundleEntries: o.maxBundleEntries,
		MaxHeaderBytes: o.maxHeaderBytes, BodyRate: o.bodyRate,
		AsyncRetention: o.asyncRetention, Validation: o.validation,
		Security: o.security, Forwarding: o.forwarding,
	})
}
